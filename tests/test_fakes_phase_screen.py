"""Phase-screen fake: the FFT part's statistics, periodic frozen flow,
determinism (the subharmonics, the infinite screen and layers are in
test_fakes_atmosphere.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_support import expected_structure_function, structure_function
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.testing.fakes import PhaseScreen, build_fake

R0, DX = 0.1, 0.01  # metres, metres per sample


def _screens(L0, n=128, seeds=range(20)):
    return [
        PhaseScreen(
            size=8,
            screen_size=n,
            r0=R0,
            pixel_scale=DX,
            L0=L0,
            seed=seed,
            subharmonics=0,
        ).screen
        for seed in seeds
    ]


@pytest.mark.parametrize("L0", [None, 2.0])
def test_structure_function_matches_the_spectrum(L0):
    """Ensemble D(r) of the screens equals the expectation computed from the
    von Karman spectrum (normalisation, r0 scaling, L0 all checked)."""
    screens = _screens(L0)
    for r in (1, 2, 4, 8):
        measured = np.mean([structure_function(s, r) for s in screens])
        expected = expected_structure_function(128, R0, L0, DX, r)
        assert measured == pytest.approx(expected, rel=0.06), r


def test_kolmogorov_structure_function_follows_the_five_thirds_law():
    """Without subharmonics: D(r) ~ 6.88 (r/r0)^(5/3) at small separations,
    within the documented deficit of a periodic FFT screen (~25% low), and
    its log-slope is close to 5/3 between 1 and 4 samples."""
    screens = _screens(None, n=256, seeds=range(6))
    d = {r: np.mean([structure_function(s, r) for s in screens]) for r in (1, 2, 4)}
    for r, value in d.items():
        ratio = value / (6.88 * (r * DX / R0) ** (5 / 3))
        assert 0.65 < ratio < 1.0, (r, ratio)
    slope = np.log(d[4] / d[1]) / np.log(4.0)
    assert slope == pytest.approx(5 / 3, abs=0.15)


def test_structure_function_scales_as_r0_to_the_minus_five_thirds():
    a = PhaseScreen(size=8, screen_size=128, r0=0.1, pixel_scale=DX, L0=None, seed=1)
    b = PhaseScreen(size=8, screen_size=128, r0=0.2, pixel_scale=DX, L0=None, seed=1)
    # (subharmonics included: every mode scales the same way)
    # same random draw: the screens differ by the factor (r0a/r0b)^(5/6)
    np.testing.assert_allclose(b.screen, a.screen * 2 ** (-5 / 6), rtol=1e-9)


def test_von_karman_has_less_low_order_power_than_kolmogorov():
    kol = _screens(None, n=128)
    vk = _screens(1.0, n=128)
    # tip/tilt (a fitted plane) over a 64-sample window: much smaller with L0
    rows, cols = np.mgrid[0:64, 0:64].astype(float)
    basis = np.stack([np.ones(64 * 64), rows.ravel(), cols.ravel()], axis=1)

    def tilt_variance(screens):
        fits = [
            np.linalg.lstsq(basis, s[:64, :64].ravel(), rcond=None)[0] for s in screens
        ]
        return float(np.mean(np.square(fits)[:, 1:]))

    assert tilt_variance(vk) < 0.5 * tilt_variance(kol)
    # lowest spatial frequencies: same draw, every coefficient weaker
    for k, v in zip(kol, vk, strict=True):
        fk, fv = np.abs(np.fft.fft2(k)), np.abs(np.fft.fft2(v))
        low = [(0, 1), (1, 0), (1, 1), (0, 2)]
        assert all(fv[i] < fk[i] for i in low)
    # ... while small scales are nearly the same
    d_kol = np.mean([structure_function(s, 1) for s in kol])
    d_vk = np.mean([structure_function(s, 1) for s in vk])
    assert 0.8 < d_vk / d_kol < 1.0


def test_zero_mean():
    screen = PhaseScreen(size=16, seed=3, subharmonics=0)
    assert float(np.mean(screen.screen)) == pytest.approx(0.0, abs=1e-12)
    # the mean of a window over an ensemble of screens: zero within its
    # standard error
    means = np.array([PhaseScreen(size=16, seed=s).frame(0).mean() for s in range(60)])
    assert abs(float(means.mean())) < 3 * float(means.std()) / np.sqrt(means.size)


@settings(max_examples=30, deadline=None)
@given(
    st.integers(-3, 3),
    st.integers(-3, 3),
    st.integers(0, 200),
    st.integers(0, 2**32 - 1),
)
def test_frozen_flow_integer_wind_shifts_the_frame(vy, vx, n, seed):
    """Periodic screen: frame(n + 1) is frame(n) moved by the wind, exactly,
    wrap-around of the periodic screen included."""
    ps = PhaseScreen(
        size=16,
        screen_size=64,
        wind=(vy, vx),
        seed=seed,
        infinite=False,
        subharmonics=0,
    )
    now, later = ps.frame(n), ps.frame(n + 1)
    screen = ps.screen.astype(np.float32)
    rows = (np.arange(16) + vy * (n + 1)) % 64
    cols = (np.arange(16) + vx * (n + 1)) % 64
    np.testing.assert_array_equal(later, screen[np.ix_(rows, cols)])
    # overlap of the two windows: the same samples, moved by the wind
    h, w = 16 - abs(vy), 16 - abs(vx)
    y0, x0 = max(vy, 0), max(vx, 0)
    y1, x1 = max(-vy, 0), max(-vx, 0)
    np.testing.assert_array_equal(
        later[y1 : y1 + h, x1 : x1 + w], now[y0 : y0 + h, x0 : x0 + w]
    )


def test_frozen_flow_as_in_scenarios():
    ps = build_fake("phase_screen", {"size": 32, "wind": [1, 2]}, seed=3)
    f0, f3 = ps.frame(0), ps.frame(3)
    np.testing.assert_allclose(f3[:-3, :-6], f0[3:, 6:], rtol=1e-6, atol=1e-5)
    assert not np.array_equal(f0, f3)


def test_fractional_wind_on_the_periodic_screen_is_a_fourier_shift():
    """Periodic screen, fractional wind: the band-limited (Fourier)
    interpolation of the screen at the offset, computed independently here
    with a phase ramp; integer offsets stay exact samples."""
    half = PhaseScreen(size=16, wind=[0, 0.5], seed=2, infinite=False, subharmonics=0)
    whole = PhaseScreen(size=16, wind=[0, 1], seed=2, infinite=False, subharmonics=0)
    np.testing.assert_array_equal(half.phase(2), whole.phase(1))
    diagonal = PhaseScreen(
        size=8, wind=(0.25, 0.75), seed=2, infinite=False, subharmonics=0
    )
    s = diagonal.screen
    m = s.shape[0]
    k = np.fft.fftfreq(m)
    ramp = np.exp(2j * np.pi * (k[:, None] * 0.25 + k[None, :] * 0.75))
    moved = np.real(np.fft.ifft2(np.fft.fft2(s) * ramp))
    np.testing.assert_allclose(diagonal.phase(1), moved[:8, :8], atol=1e-9)


def test_screen_is_seeded_and_pure_in_n():
    a = build_fake("phase_screen", {"size": 16}, seed=4)
    b = build_fake("phase_screen", {"size": 16}, seed=4)
    c = build_fake("phase_screen", {"size": 16}, seed=5)
    later = a.frame(9)
    for n in (3, 0, 12):  # other frames asked first change nothing
        b.frame(n)
    np.testing.assert_array_equal(later, b.frame(9))
    assert not np.array_equal(later, c.frame(9))


def test_keywords_equal_a_mapping():
    a = PhaseScreen({"size": 16, "r0": 0.2, "L0": None, "wind": [0.5, 1]}, seed=7)
    b = PhaseScreen(size=16, r0=0.2, L0=None, wind=(0.5, 1), seed=7)
    np.testing.assert_array_equal(a.frame(4), b.frame(4))
    assert a.shape == (16, 16) and a.frame(0).dtype == np.float32
    assert PhaseScreen(size=4, dtype="float64").frame(0).dtype == np.float64
