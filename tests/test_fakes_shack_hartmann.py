"""Shack-Hartmann camera fake: spot positions, noise, digitisation."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_support import QUIET, centroids
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.fakes import ShackHartmann, build_fake


def test_zero_phase_puts_spots_at_tile_centres():
    cam = build_fake("shack_hartmann", {**QUIET, "lenslets": 4, "pixels": 12})
    img = cam.frame(0)
    assert img.shape == (48, 48) and img.dtype == np.float32
    np.testing.assert_allclose(centroids(img, 4, 12), 0.0, atol=1e-5)
    # every tile holds the flux (the Gaussian is sampled, not integrated)
    tiles = img.reshape(4, 12, 4, 12).sum(axis=(1, 3))
    np.testing.assert_allclose(tiles, 1000.0, rtol=1e-3)
    # and the spot is the Gaussian of the given FWHM: half maximum 1 px off
    cam = ShackHartmann(**QUIET, lenslets=1, pixels=9, fwhm=2.0)
    row = cam.image(np.zeros((9, 9)))[4]
    assert row[3] / row[4] == pytest.approx(0.5)


@pytest.mark.parametrize("slope", [(0.0, 0.3), (-0.25, 0.0), (0.2, -0.15)])
def test_tilt_moves_every_spot_by_expected_pixels(slope):
    n, p = 4, 16
    cam = ShackHartmann({**QUIET, "lenslets": n, "pixels": p, "fwhm": 2.0})
    rows, cols = np.mgrid[0 : n * p, 0 : n * p].astype(float)
    phase = slope[0] * rows + slope[1] * cols
    expected = np.array(slope) * p / np.pi  # default pixels_per_radian
    measured = centroids(cam.image(phase), n, p)
    np.testing.assert_allclose(
        measured, np.broadcast_to(expected, (n, n, 2)), atol=1e-4
    )
    np.testing.assert_allclose(
        cam.spot_shifts(phase), np.broadcast_to(expected, (n, n, 2))
    )


@settings(max_examples=40, deadline=None)
@given(
    st.floats(-0.4, 0.4),
    st.floats(-0.4, 0.4),
    st.floats(-3.0, 3.0),
    st.floats(1.5, 3.0),
)
def test_any_tilt_moves_spots_as_the_model_says(gy, gx, piston, fwhm):
    """For tilts keeping the spot well inside its tile, the measured centroid
    shift is pixels_per_radian times the tilt (radians per pixel); piston
    moves nothing."""
    n, p = 3, 16
    cam = ShackHartmann(**QUIET, lenslets=n, pixels=p, fwhm=fwhm)
    rows, cols = np.mgrid[0 : n * p, 0 : n * p].astype(float)
    image = cam.expose(piston + gy * rows + gx * cols, 0)
    expected = np.broadcast_to(np.array([gy, gx]) * p / np.pi, (n, n, 2))
    # truncation of the Gaussian's tail at the tile edge biases a little
    np.testing.assert_allclose(centroids(image, n, p), expected, atol=0.02)


def test_defocus_moves_each_spot_by_its_local_gradient():
    """A quadratic phase: each subaperture's spot moves by the gradient at
    its own centre (different for every tile)."""
    n, p, a = 4, 16, 0.002
    cam = ShackHartmann(**QUIET, lenslets=n, pixels=p)
    rows, cols = np.mgrid[0 : n * p, 0 : n * p].astype(float)
    c = (n * p - 1) / 2
    phase = a * ((rows - c) ** 2 + (cols - c) ** 2)
    centres = np.arange(n) * p + (p - 1) / 2
    grad_y = 2 * a * (centres[:, None] - c) * np.ones((1, n))
    grad_x = 2 * a * (centres[None, :] - c) * np.ones((n, 1))
    expected = np.stack([grad_y, grad_x], axis=-1) * p / np.pi
    np.testing.assert_allclose(centroids(cam.image(phase), n, p), expected, atol=2e-3)
    assert len({round(float(v), 6) for v in expected[..., 1].ravel()}) == n


def test_pixels_per_radian_scales_the_shift():
    cam = ShackHartmann({**QUIET, "lenslets": 2, "pixels": 16, "pixels_per_radian": 5})
    cols = np.mgrid[0:32, 0:32][1].astype(float)
    measured = centroids(cam.image(0.2 * cols), 2, 16)
    np.testing.assert_allclose(measured[..., 1], 1.0, atol=1e-4)
    np.testing.assert_allclose(measured[..., 0], 0.0, atol=1e-6)


def test_noise_is_seeded_per_frame_and_has_the_right_variance():
    params = {
        "atmosphere": None,
        "lenslets": 8,
        "pixels": 8,
        "flux": 0.0,
        "background": 100.0,
        "read_noise": 3.0,
    }
    a = build_fake("shack_hartmann", params, seed=5)
    b = build_fake("shack_hartmann", params, seed=5)
    c = build_fake("shack_hartmann", params, seed=6)
    f3 = a.frame(3)
    np.testing.assert_array_equal(f3, b.frame(3))  # no history needed
    assert not np.array_equal(f3, c.frame(3))
    assert not np.array_equal(f3, a.frame(4))
    # Poisson variance = mean (100) plus read noise variance (9)
    var = float(np.var(f3.astype(float) - 100.0))
    assert var == pytest.approx(100.0 + 9.0, rel=0.1)
    assert float(f3.mean()) == pytest.approx(100.0, abs=1.0)


def test_photon_noise_alone_gives_integer_counts():
    cam = ShackHartmann(lenslets=2, pixels=8, atmosphere=None, flux=50.0, seed=1)
    img = cam.frame(0)
    np.testing.assert_array_equal(img, np.round(img))
    assert img.min() >= 0


def test_expose_adds_the_frame_noise_to_any_phase():
    cam = ShackHartmann(lenslets=2, pixels=8, atmosphere=None, read_noise=1.0, seed=2)
    np.testing.assert_array_equal(cam.expose(np.zeros((16, 16)), 5), cam.frame(5))
    tilt = np.mgrid[0:16, 0:16][1] * 0.2
    assert not np.array_equal(cam.expose(tilt, 5), cam.frame(5))
    np.testing.assert_array_equal(cam.expose(tilt, 5), cam.expose(tilt, 5))
    with pytest.raises(ScenarioError, match=r"phase of shape \(8, 8\), expected"):
        cam.expose(np.zeros((8, 8)), 0)


def test_integer_dtype_digitises_like_an_adc():
    """uint16: rounded to the nearest count and clipped to [0, 65535] (read
    noise on a dark frame never wraps around to 65535)."""
    dark = ShackHartmann(
        lenslets=2,
        pixels=8,
        atmosphere=None,
        flux=0.0,
        photon_noise=False,
        read_noise=5.0,
        dtype="uint16",
        seed=3,
    )
    img = dark.frame(0)
    assert img.dtype == np.uint16
    float_twin = ShackHartmann(
        lenslets=2,
        pixels=8,
        atmosphere=None,
        flux=0.0,
        photon_noise=False,
        read_noise=5.0,
        seed=3,
        dtype="float64",
    ).frame(0)
    np.testing.assert_array_equal(img, np.clip(np.rint(float_twin), 0, 65535))
    assert int(img.max()) < 100 and (img == 0).sum() > 50
    bright = ShackHartmann(
        **QUIET, lenslets=1, pixels=8, flux=1e7, dtype="uint16"
    ).frame(0)
    assert int(bright.max()) == 65535


def test_atmosphere_makes_frames_differ_and_stay_reproducible():
    cam = build_fake("shack_hartmann", {"lenslets": 4, "pixels": 8}, seed=1)
    again = build_fake("shack_hartmann", {"lenslets": 4, "pixels": 8}, seed=1)
    assert not np.array_equal(cam.frame(0), cam.frame(5))
    np.testing.assert_array_equal(cam.frame(7), again.frame(7))
    # the spots follow the atmosphere's gradients (weak turbulence: spots
    # well inside their tiles)
    quiet = ShackHartmann(
        lenslets=4, pixels=8, photon_noise=False, seed=1, atmosphere={"r0": 0.5}
    )
    phase = quiet.phase(7)
    np.testing.assert_allclose(
        centroids(quiet.frame(7), 4, 8), quiet.spot_shifts(phase), atol=0.15
    )
