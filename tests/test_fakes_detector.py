"""Detector model: noise statistics per setting against the formulas,
defect maps, saturation and digitisation."""

from __future__ import annotations

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.fakes import ShackHartmann, build_fake
from shmpipeline.testing.fakes.detector import Detector

SHAPE = (128, 128)  # 16384 pixels: sample variance within ~1.1% (1 sigma)


def _detector(photon_noise=True, read_noise=0.0, dtype="float64", seed=1, **params):
    return Detector(
        params,
        shape=SHAPE,
        dtype=np.dtype(dtype),
        photon_noise=photon_noise,
        read_noise=read_noise,
        seed=seed,
    )


def _stats(frames):
    stack = np.stack([np.asarray(f, dtype=np.float64) for f in frames])
    return float(stack.mean()), float(stack.var())


def test_bias_and_gain():
    """DN = bias + e/gain: mean bias + λ/gain, variance (λ + σ²)/gain²."""
    det = _detector(read_noise=3.0, bias=100.0, gain=2.0)
    photons = np.full(SHAPE, 50.0)
    mean, var = _stats(det.read(photons, n) for n in range(4))
    assert mean == pytest.approx(100 + 50 / 2, rel=2e-3)
    assert var == pytest.approx((50 + 9) / 4, rel=0.03)


def test_uint16_frames_carry_the_pedestal():
    """3 e- read noise at zero light: with a bias the integer frame keeps
    the noise (variance 9 + 1/12 DN², mean the bias); without one it is
    clipped at zero."""
    dark = np.zeros(SHAPE)
    det = _detector(photon_noise=True, read_noise=3.0, dtype="uint16", bias=100.0)
    mean, var = _stats(det.read(dark, n) for n in range(4))
    assert mean == pytest.approx(100.0, abs=0.05)
    assert var == pytest.approx(9 + 1 / 12, rel=0.03)
    clipped = _detector(read_noise=3.0, dtype="uint16")
    mean0, var0 = _stats(clipped.read(dark, n) for n in range(4))
    assert mean0 == pytest.approx(
        1.2, abs=0.05
    )  # half-normal: 3 sqrt(2/pi)/2 + rounding
    assert var0 < 4.0


def test_dark_current_adds_its_shot_noise():
    det = _detector(dark_current=20.0)
    mean, var = _stats(det.read(np.full(SHAPE, 30.0), n) for n in range(4))
    assert mean == pytest.approx(50.0, rel=2e-3)
    assert var == pytest.approx(50.0, rel=0.03)


def test_emccd_excess_noise_factor_is_root_two():
    """Gamma EM register: mean G λ, variance 2 G² λ (F² = 2)."""
    det = _detector(em_gain=100.0)
    mean, var = _stats(det.read(np.full(SHAPE, 5.0), n) for n in range(4))
    assert mean == pytest.approx(500.0, rel=0.01)
    assert var == pytest.approx(2 * 100**2 * 5.0, rel=0.04)
    # the read noise no longer matters: 10 e- read noise on 500 e- signal
    noisy = _detector(em_gain=100.0, read_noise=10.0)
    _, var_noisy = _stats(noisy.read(np.full(SHAPE, 5.0), n) for n in range(4))
    assert var_noisy == pytest.approx(2 * 100**2 * 5.0 + 100, rel=0.04)


def test_flat_field_has_its_rms_and_is_fixed():
    det = _detector(photon_noise=False, flat_rms=0.05)
    photons = np.full(SHAPE, 1000.0)
    a, b = det.read(photons, 0), det.read(photons, 7)
    np.testing.assert_array_equal(a, b)
    assert np.std(a / 1000.0) == pytest.approx(0.05, rel=0.03)
    assert np.mean(a) == pytest.approx(1000.0, rel=1e-3)


def test_dead_and_hot_pixels_are_seeded_maps():
    det = _detector(
        photon_noise=False, dead_pixels=10, hot_pixels=0.001, hot_level=500.0
    )
    assert det.dead.sum() == 10 and det.hot.sum() == 16
    assert not np.any(det.dead & det.hot)
    frame = det.read(np.full(SHAPE, 20.0), 3)
    assert np.all(frame[det.dead] == 0.0)
    assert np.all(frame[det.hot] == 520.0)
    again = _detector(photon_noise=False, dead_pixels=10, hot_pixels=0.001)
    np.testing.assert_array_equal(again.dead, det.dead)
    other = _detector(photon_noise=False, dead_pixels=10, seed=2)
    assert not np.array_equal(other.dead, det.dead)


def test_full_well_and_adc_bits_saturate():
    det = _detector(full_well=1000.0, gain=0.5, adc_bits=10, bias=10.0)
    frame = det.read(np.full(SHAPE, 5000.0), 0)
    assert float(frame.max()) == 1023.0  # 10 + 1000/0.5 = 2010 > 2^10 - 1
    det2 = _detector(full_well=1000.0, gain=2.0, adc_bits=12)
    frame2 = det2.read(np.full(SHAPE, 5000.0), 0)
    assert float(frame2.max()) == 500.0  # 1000 e- / 2 e-/DN
    assert np.all(frame2 == np.rint(frame2))


def test_default_detector_is_the_plain_camera():
    """No detector settings: the camera is photon plus read noise, as before
    the detector model existed (the shipped goldens depend on it)."""
    cam = ShackHartmann(lenslets=2, pixels=8, read_noise=2.0, atmosphere=None, seed=3)
    image = cam.image(np.zeros(cam.shape))
    rng1 = np.random.default_rng([3, 5, 1])
    rng2 = np.random.default_rng([3, 5, 2])
    expected = rng1.poisson(image).astype(np.float64) + rng2.normal(0, 2.0, image.shape)
    np.testing.assert_array_equal(cam.frame(5), expected.astype(np.float32))


def test_camera_fake_takes_a_detector_mapping():
    cam = build_fake(
        "shack_hartmann",
        {
            "lenslets": 2,
            "pixels": 8,
            "atmosphere": None,
            "dtype": "uint16",
            "read_noise": 3.0,
            "detector": {"bias": 200, "gain": 2.0},
        },
    )
    frame = cam.frame(0)
    assert frame.dtype == np.uint16 and frame.min() > 150
    mean = cam.mean_frame(np.zeros(cam.shape))
    assert mean.min() == pytest.approx(200.0)
    with pytest.raises(ScenarioError, match="detector'?: unknown parameter 'bais'"):
        build_fake("shack_hartmann", {"detector": {"bais": 1}})
    with pytest.raises(ScenarioError, match="'gain': must be > 0"):
        build_fake("shack_hartmann", {"detector": {"gain": 0}})
