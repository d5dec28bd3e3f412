"""Diffraction Shack-Hartmann: spots against the discrete Fraunhofer
(Dirichlet) law computed independently, optical gain, saturation and
fold-over, light in the neighbours, pupil and valid subapertures,
exposure sub-steps, and a closed loop whose stability limit falls with
latency."""

from __future__ import annotations

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.testing import fakes
from shmpipeline.testing.fakes import ClosedLoopOptics, DeformableMirror, ShackHartmann
from shmpipeline.testing.fakes.calibration import tile_centroids

N, P = 4, 8
QUIET_DIFF = {
    "lenslets": N,
    "pixels": P,
    "model": "diffraction",
    "atmosphere": None,
    "photon_noise": False,
}


def _spot_1d(shift_px, p=P, q=2, field=16):
    """Pixel-integrated 1-D far field of a p-sample lenslet (Nyquist, field
    pixels wide, q fine samples per pixel): a Dirichlet kernel centred
    between fine samples and moved by shift_px pixels; normalised to sum 1
    over the FFT's full period."""
    m = field * q
    u = np.arange(m) - (m / 2 - 0.5) - shift_px * q
    with np.errstate(invalid="ignore", divide="ignore"):
        d = (np.sin(np.pi * p * u / m) / np.sin(np.pi * u / m)) ** 2
    d = np.where(np.isfinite(d), d, p * p)
    d /= d.sum()
    binned = d.reshape(field, q).sum(axis=1)
    return binned  # 16 = 2p pixels, centre at p - 0.5


def _image_1d(shift_px, n=N, p=P):
    """A row of n lenslets, each spot 2p wide centred on its tile."""
    canvas = np.zeros(n * p + 2 * p)
    spot = _spot_1d(shift_px)
    for j in range(n):
        start = p + j * p - p // 2
        canvas[start : start + 2 * p] += spot
    return canvas[p : p + n * p]


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0, 2.5])
def test_spots_follow_the_discrete_fraunhofer_law(shift):
    """A uniform tilt of ``shift`` pixels along x: the image is the outer
    product of the independent 1-D models (square lenslets), times flux."""
    cam = ShackHartmann(**QUIET_DIFF, flux=100.0)
    x = np.arange(N * P, dtype=float)
    phase = np.tile(shift / cam.pixels_per_radian * x, (N * P, 1))
    expected = 100.0 * np.outer(_image_1d(0.0), _image_1d(shift))
    np.testing.assert_allclose(cam.image(phase), expected, atol=1e-9)


def test_optical_gain_saturation_and_fold_over():
    cam = ShackHartmann(**QUIET_DIFF)
    x = np.arange(N * P, dtype=float)

    def centroid(shift):
        phase = np.tile(shift / cam.pixels_per_radian * x, (N * P, 1))
        return tile_centroids(cam.image(phase), P).reshape(N, N, 2)[1, 1, 1]

    small = centroid(0.05) / 0.05
    # gain at small signal from the independent model
    row = _image_1d(0.05)[P : 2 * P]
    expected = float(np.dot(row, np.arange(P) - (P - 1) / 2) / row.sum()) / 0.05
    assert small == pytest.approx(expected, rel=1e-6)
    assert 0.9 < small < 1.1
    gains = [centroid(s) / s for s in (1.0, 2.0, 3.0)]
    assert all(g < 1.0 for g in gains) and gains[2] < gains[0]  # compresses
    assert centroid(5.0) < centroid(3.0)  # folds over past p/2


def test_light_spills_into_the_neighbours():
    """At Nyquist, ~8% of a square lenslet's spot lands outside its own
    tile (the independent model's value), none of it lost inside the array."""
    cam = ShackHartmann(**{**QUIET_DIFF, "lenslets": 5})
    one = np.zeros((5 * P, 5 * P))
    img = cam.diffraction.spots(one, 1.0)[2, 2]  # the centre spot, 2p wide
    own = img[P // 2 : P // 2 + P, P // 2 : P // 2 + P].sum()
    spot = _spot_1d(0.0)
    expected_own = spot[P // 2 : P // 2 + P].sum() ** 2
    assert own == pytest.approx(expected_own, rel=1e-9)
    assert 0.05 < 1 - own < 0.25


def test_pupil_masks_and_valid_subapertures():
    params = {
        **QUIET_DIFF,
        "lenslets": 8,
        "pupil": {"diameter": 1.0, "obstruction": 0.3, "spiders": 4, "spider_width": 1},
    }
    cam = ShackHartmann(**params)
    valid = cam.pupil.valid
    assert valid.sum() < 64 and not valid[0, 0] and valid[0, 3]
    assert not valid[3, 3] and not valid[4, 4]  # the central obstruction
    img = cam.image(np.zeros(cam.shape))
    tiles = img.reshape(8, P, 8, P).sum(axis=(1, 3))
    assert tiles[valid].min() > 10 * tiles[~valid].max() or tiles[~valid].max() < 1
    geo = ShackHartmann(
        lenslets=8,
        pixels=P,
        atmosphere=None,
        photon_noise=False,
        pupil={"obstruction": 0.3},
    )
    tiles = geo.image(np.zeros(geo.shape)).reshape(8, P, 8, P).sum(axis=(1, 3))
    assert np.all(tiles[~geo.pupil.valid] == 0.0)
    np.testing.assert_allclose(
        tiles[geo.pupil.valid], 1000.0 * geo.pupil.fraction[geo.pupil.valid], rtol=1e-3
    )


def test_exposure_sub_steps_average_the_frozen_flow():
    params = {
        **QUIET_DIFF,
        "atmosphere": {"r0": 0.5, "wind": [0, 1]},
        "exposure_steps": 4,
    }
    cam = ShackHartmann(**params)
    single = ShackHartmann(**{**params, "exposure_steps": 1})
    expected = np.mean(
        [single.image(single.atmosphere.phase(3 + k / 4)) for k in range(4)], axis=0
    )
    np.testing.assert_allclose(cam.frame(3), expected.astype(np.float32), rtol=1e-5)


def test_bad_model_parameters_are_named():
    with pytest.raises(
        ScenarioError, match="'model': must be 'geometric' or 'diffraction'"
    ):
        ShackHartmann(model="ray")
    with pytest.raises(ScenarioError, match="even number of pixels"):
        ShackHartmann(model="diffraction", pixels=7)
    with pytest.raises(ScenarioError, match="pupil'?: unknown parameter 'obscuration'"):
        ShackHartmann(pupil={"obscuration": 0.2})


def _growth(latency, gain, frames=80):
    camera = ShackHartmann(**QUIET_DIFF)
    mirror = DeformableMirror(size=N * P, n_act=N)
    target = np.random.default_rng(7).normal(scale=0.1, size=N * N)

    class Screen:
        shape = (N * P, N * P)

        def phase(self, n):
            return mirror.surface(target)

    optics = ClosedLoopOptics(Screen(), mirror, camera, latency_frames=latency)
    R = fakes.reconstructor(optics, rcond=1e-3)
    command = np.zeros(N * N)
    rms = []
    for n in range(frames):
        slopes = tile_centroids(optics.camera_frame(n, command), P)
        rms.append(np.sqrt(np.mean(slopes**2)))
        command = command + gain * (R @ slopes)
    return rms[-1] / rms[0]


def test_closed_loop_on_the_diffraction_sensor_goes_unstable_at_lower_gain_with_latency():
    """latency_frames = 2 diverges at a gain where latency 0 still converges."""
    assert _growth(0, 0.5) < 0.1 and _growth(2, 0.5) < 0.1
    assert _growth(0, 1.0) < 0.1
    assert _growth(2, 1.0) > 1.0
