"""Calibration helpers: the interaction matrix measured through the fakes
with the pipeline's centroid convention, and the reconstructor closing a
loop."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_support import QUIET, centroids

from shmpipeline.errors import ScenarioError
from shmpipeline.testing import fakes
from shmpipeline.testing.fakes import (
    ClosedLoopOptics,
    DeformableMirror,
    PhaseScreen,
    ShackHartmann,
)
from shmpipeline.testing.fakes.calibration import tile_centroids


def test_tile_centroids_follow_the_pipeline_convention():
    image = np.random.default_rng(3).random((32, 32))
    image[:8, 8:16] = 0.0  # an empty tile gives [0, 0]
    with np.errstate(invalid="ignore"):
        expected = centroids(image, 4, 8)
    expected[0, 1] = 0.0
    np.testing.assert_allclose(tile_centroids(image, 8), expected.ravel(), atol=1e-12)


def test_interaction_matrix_is_the_linear_response():
    camera = ShackHartmann(**QUIET, lenslets=4, pixels=8)
    im = fakes.interaction_matrix(camera, amplitude=0.05)
    assert im.shape == (32, 16)
    command = np.random.default_rng(1).normal(scale=0.1, size=16)
    slopes = tile_centroids(camera.image(-camera.mirror.surface(command)), 8)
    np.testing.assert_allclose(slopes, im @ command, atol=0.02 * np.abs(slopes).max())
    # the geometric spot's optical gain is ~1: the matrix is the model's
    # own slope response (shift = pixels_per_radian * gradient)
    model = np.stack(
        [
            camera.spot_shifts(-camera.mirror.surface(np.eye(16)[j])).ravel()
            for j in range(16)
        ],
        axis=1,
    )
    np.testing.assert_allclose(im, model, atol=0.05 * np.abs(model).max())


def test_reconstructor_is_minus_the_pseudo_inverse():
    im = np.random.default_rng(2).normal(size=(32, 16))
    np.testing.assert_allclose(
        fakes.reconstructor(im, rcond=1e-6), -np.linalg.pinv(im), atol=1e-12
    )
    tik = fakes.reconstructor(im, method="tikhonov", alpha=1e-4)
    np.testing.assert_allclose(tik, -np.linalg.pinv(im), atol=1e-5)
    with pytest.raises(ScenarioError, match="method must be 'pinv' or 'tikhonov'"):
        fakes.reconstructor(im, method="svd")
    with pytest.raises(ScenarioError, match="amplitude must be > 0"):
        fakes.interaction_matrix(ShackHartmann(**QUIET), amplitude=0)


def _closed_loop(camera_frame, R, gain, frames=60):
    command = np.zeros(R.shape[0])
    rms = []
    for n in range(frames):
        slopes = tile_centroids(camera_frame(n, command), 8)
        rms.append(float(np.sqrt(np.mean(slopes**2))))
        command = command + gain * (R @ slopes)
    return np.asarray(rms)


@pytest.mark.parametrize("method", ["pinv", "tikhonov"])
def test_a_loop_closed_with_the_calibrated_reconstructor_converges(method):
    """Static Kolmogorov-like aberration on a 4x4 system: with R from the
    helpers the slopes fall to the fitting error and stay there."""
    camera = ShackHartmann(
        lenslets=4,
        pixels=8,
        photon_noise=False,
        seed=2,
        atmosphere={"r0": 0.4, "wind": [0, 0]},
    )
    R = fakes.reconstructor(camera, method=method)
    rms = _closed_loop(camera.frame, R, gain=0.5)
    assert rms[-10:].mean() < 0.5 * rms[0]
    assert np.ptp(rms[-10:]) < 0.05 * rms[0]  # converged, not oscillating


def test_a_correctable_aberration_is_removed_entirely():
    mirror = DeformableMirror(size=32, n_act=4)
    target = np.random.default_rng(5).normal(scale=0.5, size=16)

    class Screen:
        shape = (32, 32)

        def phase(self, n):
            return mirror.surface(target)

    camera = ShackHartmann(**QUIET, lenslets=4, pixels=8)
    optics = ClosedLoopOptics(Screen(), mirror, camera)
    R = fakes.reconstructor(optics, rcond=1e-3)
    rms = _closed_loop(optics.camera_frame, R, gain=0.5, frames=40)
    assert rms[-1] < 1e-3 * rms[0]
    # and a frozen-flow atmosphere is tracked: slopes well below open loop
    screen = PhaseScreen(size=32, r0=0.4, wind=(0, 0.3), seed=1)
    optics = ClosedLoopOptics(screen, mirror, camera)
    closed = _closed_loop(optics.camera_frame, R, gain=0.5, frames=60)
    open_loop = _closed_loop(optics.camera_frame, R, gain=0.0, frames=60)
    assert closed[20:].mean() < 0.6 * open_loop[20:].mean()


def test_tile_centroids_equal_the_pipeline_kernel():
    """The calibration's slopes are the centroid kernel's output, flattened."""
    from _kernel_support import create, kconf, run, spec, specs

    image = ShackHartmann(lenslets=4, pixels=8, atmosphere={"r0": 0.3}, seed=4).frame(2)
    config = kconf("cpu.shack_hartmann_centroid", tile_size=8)
    kernel = create(
        config,
        specs(spec("in", (32, 32), "float32"), spec("out", (4, 4, 2), "float64")),
    )
    expected = run(kernel, image).ravel()
    np.testing.assert_allclose(tile_centroids(image, 8), expected, atol=1e-12)
