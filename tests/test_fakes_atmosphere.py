"""The atmosphere against theory: the 5/3 law with subharmonics, Noll's
tip/tilt, the infinite screen's statistics and memory, Fourier sub-pixel
motion, layers and wavelength.

Each statistical test has two halves: the model's expected value (from the
power its modes carry) against the theoretical law, and the ensemble of
drawn screens against that expectation within three standard errors, so a
deterministic bound on the model and a sound check of the draws."""

from __future__ import annotations

import numpy as np
import pytest

from shmpipeline.testing.fakes import PhaseScreen, infinite_screen, turbulence

R0, DX, N = 0.15, 0.05, 256


def kolmogorov(r_samples, r0=R0):
    return 6.88 * (np.asarray(r_samples) * DX / r0) ** (5 / 3)


def _model_modes(levels=3):
    fy, fx, w = turbulence.fft_weights(N, R0, None, DX)
    sy, sx, sw = turbulence.subharmonic_cells(N, R0, None, DX, levels)
    return (
        np.concatenate([fy.ravel(), sy]),
        np.concatenate([fx.ravel(), sx]),
        np.concatenate([w.ravel(), sw]),
    )


def _bessel(n, x):
    """J_n(x) = (1/π) ∫_0^π cos(nτ - x sin τ) dτ (midpoint rule)."""
    tau = (np.arange(256) + 0.5) * np.pi / 256
    x = np.asarray(x, dtype=np.float64)
    return np.mean(np.cos(n * tau - x[..., None] * np.sin(tau)), axis=-1)


@pytest.mark.parametrize("r", [2, 4, 8, 16, 32, 64, 128])
def test_expected_structure_function_follows_the_five_thirds_law(r):
    """With subharmonics (the default) D(r)/6.88 (r/r0)^(5/3) of a 256
    screen is within [0.85, 1.10] for 2 <= r <= N/4 and >= 0.75 at N/2;
    without them it is not."""
    fy, fx, w = _model_modes(3)
    ratio = turbulence.expected_structure_function(fy, fx, w, r * DX) / kolmogorov(r)
    if r <= N // 4:
        assert 0.85 <= ratio <= 1.10, ratio
    else:
        assert ratio >= 0.75, ratio
    bare = turbulence.fft_weights(N, R0, None, DX)
    bare_ratio = turbulence.expected_structure_function(*bare, r * DX) / kolmogorov(r)
    if r >= 16:
        assert bare_ratio < 0.85


def test_drawn_screens_have_the_expected_structure_function():
    """The drawn 256 screens (FFT part plus subharmonics) measure the model's
    D(r) within three standard errors, rows and columns."""
    fy, fx, w = _model_modes(3)
    samples = {r: [] for r in (2, 8, 32, 64)}
    for seed in range(24):
        s = PhaseScreen(
            size=8, screen_size=N, r0=R0, L0=None, pixel_scale=DX, seed=seed
        ).screen
        for r, values in samples.items():
            d_row = np.mean((s[:, r:] - s[:, :-r]) ** 2)
            d_col = np.mean((s[r:] - s[:-r]) ** 2)
            values.append(0.5 * (d_row + d_col))
    for r, values in samples.items():
        values = np.asarray(values)
        expected = turbulence.expected_structure_function(fy, fx, w, r * DX)
        error = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - expected) < 3 * error, (r, values.mean(), expected)


def test_tip_tilt_variance_of_half_the_screen_matches_noll():
    """Zernike tilt of a pupil of half the screen (D = 6.4 m): the model's
    variance is within 20% of Noll's 0.448 (D/r0)^(5/3) per axis, and the
    drawn screens agree with the model within three standard errors."""
    fy, fx, w = _model_modes(3)
    radius = 64 * DX
    low = np.hypot(fy, fx) < 3.0  # the filter ~ (f R)^-3 makes the rest negligible
    fy, fx, w = fy[low], fx[low], w[low]
    f = np.hypot(fy, fx)
    x = 2 * np.pi * f * radius
    with np.errstate(divide="ignore", invalid="ignore"):
        filt = np.where(x > 0, 4 * _bessel(2, x) / x, 0.0)
    cos2 = np.where(f > 0, (fx / np.where(f > 0, f, 1)) ** 2, 0.0)
    model = float(np.sum(w * filt**2 * cos2))  # Z2 (tilt along x)
    noll = 0.448 * (2 * radius / R0) ** (5 / 3)
    assert model == pytest.approx(noll, rel=0.20)
    yy, xx = np.mgrid[0:128, 0:128]
    c = 63.5
    inside = np.hypot(yy - c, xx - c) <= 64
    basis = np.stack(
        [np.ones(inside.sum()), 2 * (xx - c)[inside] / 64, 2 * (yy - c)[inside] / 64],
        axis=1,
    )
    tilts = []
    for seed in range(24):
        s = PhaseScreen(
            size=8, screen_size=N, r0=R0, L0=None, pixel_scale=DX, seed=seed
        ).screen
        for i, j in ((0, 0), (128, 128)):
            a = np.linalg.lstsq(basis, s[i : i + 128, j : j + 128][inside], rcond=None)
            tilts.extend(a[0][1:] ** 2)
    tilts = np.asarray(tilts)
    error = tilts.std(ddof=1) / np.sqrt(tilts.size / 2)  # pupils share a screen
    assert abs(tilts.mean() - model) < 3 * error


def test_infinite_screen_structure_function_along_and_across_the_wind():
    """The extruded strip's expected D(r) from its mode covariances is within
    [0.85, 1.10] of the 5/3 law along the wind (r <= 128) and across it
    (2 <= r <= 32, a 128-wide grid), and drawn rows agree with it."""
    width = 128
    nu, lo, hi = infinite_screen.cross_modes(width)
    cov = infinite_screen.mode_covariances(width, lo, hi, R0, None, DX)
    for r in (2, 4, 16, 32, 64, 128):
        along = float(np.sum(2 * (cov[:, 0] - cov[:, r])))
        assert 0.85 <= along / kolmogorov(r) <= 1.10, (r, along / kolmogorov(r))
    for r in (2, 4, 16, 32):
        across = float(np.sum(2 * cov[:, 0] * (1 - np.cos(2 * np.pi * nu * r / width))))
        assert 0.85 <= across / kolmogorov(r) <= 1.10, (r, across / kolmogorov(r))
    strip = infinite_screen.InfiniteScreen(width, R0, None, DX, seed=3)
    rows = strip.rows(0, 2048, np.arange(width, dtype=float))
    for r in (1, 4):
        measured = np.mean((rows[r:] - rows[:-r]) ** 2)
        along = float(np.sum(2 * (cov[:, 0] - cov[:, r])))
        assert measured == pytest.approx(along, rel=0.15)


def test_frozen_flow_never_repeats_and_forgets():
    """32 px at 1 px/frame: the old periodic screen repeats every 128 frames;
    the infinite one does not, and frames 4096 apart are uncorrelated
    (ensemble |corr| < 0.2) while neighbours are strongly correlated."""
    periodic = PhaseScreen(size=32, wind=(0, 1), infinite=False, subharmonics=0)
    np.testing.assert_array_equal(periodic.frame(5), periodic.frame(5 + 128))

    def corr(pairs):
        num = den_a = den_b = 0.0
        for a, b in pairs:
            a, b = a - a.mean(), b - b.mean()
            num += float(np.sum(a * b))
            den_a += float(np.sum(a * a))
            den_b += float(np.sum(b * b))
        return num / np.sqrt(den_a * den_b)

    far, near = [], []
    for seed in range(3):
        ps = PhaseScreen(size=32, wind=(0, 1), r0=R0, pixel_scale=DX, seed=seed)
        for n in range(0, 4096, 256):
            far.append((ps.phase(n), ps.phase(n + 4096)))
            near.append((ps.phase(n), ps.phase(n + 2)))
        assert not np.array_equal(ps.frame(5), ps.frame(5 + 128))
    assert abs(corr(far)) < 0.2
    assert corr(near) > 0.8


def test_no_repetition_over_a_hundred_thousand_frames():
    ps = PhaseScreen(size=32, wind=(0, 1), screen_size=64, seed=4)
    first = ps.phase(0)
    late = [ps.phase(n) for n in (128, 4096, 50_000, 99_999)]
    for frame in late:
        a, b = first - first.mean(), frame - frame.mean()
        assert abs(np.sum(a * b)) / np.sqrt(np.sum(a * a) * np.sum(b * b)) < 0.99
    # asked again, out of order, the same values (pure function of n)
    again = PhaseScreen(size=32, wind=(0, 1), screen_size=64, seed=4)
    np.testing.assert_array_equal(again.phase(99_999), late[-1])
    np.testing.assert_array_equal(again.phase(128), late[0])


@pytest.mark.parametrize("wind", [(0, 1), (0, -2), (1, 0), (-1, 0), (1, 2), (-2, -1)])
def test_infinite_frozen_flow_moves_integer_winds_exactly(wind):
    ps = PhaseScreen(size=16, wind=wind, seed=2)
    vy, vx = wind
    now, later = ps.phase(7), ps.phase(8)
    h, w = 16 - abs(vy), 16 - abs(vx)
    y0, x0 = max(vy, 0), max(vx, 0)
    y1, x1 = max(-vy, 0), max(-vx, 0)
    np.testing.assert_allclose(
        later[y1 : y1 + h, x1 : x1 + w], now[y0 : y0 + h, x0 : x0 + w], atol=1e-9
    )


def test_sub_pixel_motion_keeps_the_small_scale_power():
    """D(1 sample) of frames at half-pixel offsets equals that at whole
    offsets (within 4%): a Fourier shift, not bilinear interpolation, which
    loses ~25% of it at the half pixel."""
    whole, half = [], []
    for seed in range(6):
        ps = PhaseScreen(size=32, wind=(0, 0.5), L0=None, seed=seed)
        for n in range(0, 200, 2):
            a, b = ps.phase(n), ps.phase(n + 1)
            whole.append(np.mean((a[:, 1:] - a[:, :-1]) ** 2))
            half.append(np.mean((b[:, 1:] - b[:, :-1]) ** 2))
    assert np.mean(half) / np.mean(whole) == pytest.approx(1.0, abs=0.04)
    # the shifted frame is the whole-pixel frame moved by half a sample: its
    # neighbours' mean is close but not equal
    ps = PhaseScreen(size=32, wind=(0, 0.5), seed=1)
    a, b, c = ps.phase(10), ps.phase(11), ps.phase(12)
    np.testing.assert_allclose(a[:, 1:], c[:, :-1], atol=1e-9)
    assert np.std(b - 0.5 * (a + c)) < 0.2 * np.std(c - a)


def test_layers_split_the_turbulence_by_their_cn2_fraction():
    """Two layers of fractions 0.6 and 0.4 have r0_i = r0 f_i^(-3/5); their
    phase variances add up to the single-layer D(r) (ensemble, 3 SE)."""
    ps = PhaseScreen(
        size=32,
        r0=R0,
        layers=[
            {"fraction": 3, "wind": 1.0, "direction": 0, "altitude": 0},
            {"fraction": 2, "wind": [0.5, 0.2], "altitude": 8000},
        ],
    )
    r0s = [layer.spec.r0 for layer in ps.layers]
    assert r0s == pytest.approx([R0 * 0.6 ** (-0.6), R0 * 0.4 ** (-0.6)])
    assert sum(r ** (-5 / 3) for r in r0s) == pytest.approx(R0 ** (-5 / 3))
    # one layer of fraction 1 is the default atmosphere, bit for bit
    single = PhaseScreen(size=16, seed=3, wind=(0, 1))
    layered = PhaseScreen(size=16, seed=3, layers=[{"fraction": 1.0, "wind": [0, 1]}])
    np.testing.assert_array_equal(single.frame(9), layered.frame(9))
    # the sum of independent layers has the structure function of r0
    d_multi, d_single = [], []
    for seed in range(8):
        multi = PhaseScreen(
            size=32,
            r0=R0,
            L0=None,
            seed=seed,
            layers=[
                {"fraction": 0.5, "wind": [0, 1]},
                {"fraction": 0.5, "wind": [1, 0]},
            ],
        )
        one = PhaseScreen(size=32, r0=R0, L0=None, seed=100 + seed, wind=(0, 1))
        for n in range(0, 1000, 50):
            a, b = multi.phase(n), one.phase(n)
            d_multi.append(np.mean((a[:, 2:] - a[:, :-2]) ** 2))
            d_single.append(np.mean((b[:, 2:] - b[:, :-2]) ** 2))
    assert np.mean(d_multi) / np.mean(d_single) == pytest.approx(1.0, abs=0.12)


def test_wavelength_scales_the_phase():
    at_500 = PhaseScreen(size=16, seed=5)
    at_1000 = PhaseScreen(size=16, seed=5, wavelength=1e-6)
    np.testing.assert_allclose(at_1000.phase(3), 0.5 * at_500.phase(3), rtol=1e-12)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"layers": []}, "'layers': must be a non-empty list"),
        ({"layers": [3]}, "'layers[0]': must be a mapping"),
        ({"layers": [{"fration": 1}]}, "unknown parameter 'fration'"),
        ({"layers": [{"fraction": 0}]}, "'fraction': must be > 0"),
        ({"subharmonics": -1}, "'subharmonics': must be >= 0"),
        ({"infinite": "yes"}, "'infinite': must be true or false"),
    ],
)
def test_bad_atmosphere_parameters_are_named(params, text):
    from shmpipeline.errors import ScenarioError

    with pytest.raises(ScenarioError, match=None) as info:
        PhaseScreen(params)
    assert text in str(info.value)


def test_boiling_angle_decorrelates_with_its_time_constant():
    """E[cos(θ_n - θ_m)] = exp(-|n - m| / τ) over many seeded walks (3 SE),
    the angle linear between frames and a pure function of n."""
    from shmpipeline.testing.fakes.phase_screen import BoilingAngle

    tau = 20.0
    for k in (5, 20, 60):
        values = np.array(
            [
                np.cos(
                    BoilingAngle(tau, seed, 900).at(1030 + k)
                    - BoilingAngle(tau, seed, 900).at(1030)
                )
                for seed in range(1500)
            ]
        )
        error = values.std(ddof=1) / np.sqrt(values.size)
        assert abs(values.mean() - np.exp(-k / tau)) < 3 * error + 1e-3, k
    walk = BoilingAngle(tau, 3, 900)
    assert walk.at(10.25) == pytest.approx(0.75 * walk.at(10) + 0.25 * walk.at(11))
    assert walk.at(3000) == BoilingAngle(tau, 3, 900).at(3000)


def test_boiling_mixes_two_independent_screens_in_the_same_flow():
    """phase(n) = cos θ_n A(n) + sin θ_n B(n): each frame keeps the frozen
    screen's statistics, the partner screen is another draw."""
    ps = PhaseScreen(size=16, wind=(0, 0.5), boiling=10.0, seed=2)
    layer = ps.layers[0]
    for n in (0, 7, 300):
        theta = layer._angle.at(n)
        expected = np.cos(theta) * layer._frozen(n) + np.sin(
            theta
        ) * layer._partner._frozen(n)
        np.testing.assert_allclose(ps.phase(n), expected, atol=1e-12)
    frozen = PhaseScreen(size=16, wind=(0, 0.5), seed=2)
    np.testing.assert_array_equal(layer._frozen(7), frozen.phase(7))
    assert not np.allclose(layer._partner._frozen(7), frozen.phase(7))
    layered = PhaseScreen(size=16, layers=[{"wind": [0, 1], "boiling": 5.0}])
    assert layered.layers[0].spec.boiling == 5.0
