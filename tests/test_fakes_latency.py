"""Loop latency: the mirror follows the commands ``latency_frames`` late,
and the integrator's stability limit falls as theory says."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_support import QUIET

from shmpipeline.errors import ScenarioError
from shmpipeline.testing import fakes
from shmpipeline.testing.fakes import ClosedLoopOptics, DeformableMirror, ShackHartmann
from shmpipeline.testing.fakes.calibration import tile_centroids
from shmpipeline.testing.fakes.command_delay import CommandDelay


def _surface(c):
    return np.asarray(c, dtype=np.float64)


def test_integer_latency_applies_older_commands():
    line = CommandDelay(2)
    seen = [line.mirror_shape(n, [float(n)], _surface) for n in range(6)]
    assert seen[0] is None and seen[1] is None
    assert [float(s[0]) for s in seen[2:]] == [0.0, 1.0, 2.0, 3.0]


def test_fractional_latency_mixes_two_commands():
    line = CommandDelay(1.25)
    seen = [line.mirror_shape(n, [float(10 * n)], _surface) for n in range(5)]
    # frame n: 0.75 c(n-1) + 0.25 c(n-2)
    assert seen[0] is None
    assert float(seen[1][0]) == pytest.approx(0.0)
    assert float(seen[3][0]) == pytest.approx(0.75 * 20 + 0.25 * 10)
    assert float(seen[4][0]) == pytest.approx(0.75 * 30 + 0.25 * 20)


def test_zero_latency_is_the_last_command():
    line = CommandDelay(0)
    assert line.mirror_shape(3, None, _surface) is None
    assert float(line.mirror_shape(3, [4.0], _surface)[0]) == 4.0


def test_a_dropped_frame_keeps_the_last_known_command():
    line = CommandDelay(1)
    line.mirror_shape(0, [0.0], _surface)
    line.mirror_shape(1, [1.0], _surface)
    # frame 2 never asked (dropped); frame 3 sees the command of frame 2,
    # known only as the latest before it
    assert float(line.mirror_shape(3, [3.0], _surface)[0]) == 1.0


def _loop_growth(latency, gain, frames=80):
    """Final over initial slope rms of an integrator on a perfectly
    correctable static aberration."""
    mirror = DeformableMirror(size=32, n_act=4)
    target = np.random.default_rng(5).normal(scale=0.2, size=16)

    class Screen:
        shape = (32, 32)

        def phase(self, n):
            return mirror.surface(target)

    camera = ShackHartmann(**QUIET, lenslets=4, pixels=8)
    optics = ClosedLoopOptics(Screen(), mirror, camera, latency_frames=latency)
    R = fakes.reconstructor(optics, rcond=1e-3)
    command = np.zeros(16)
    rms = []
    for n in range(frames):
        slopes = tile_centroids(optics.camera_frame(n, command), 8)
        rms.append(np.sqrt(np.mean(slopes**2)))
        command = command + gain * (R @ slopes)
    return rms[-1] / rms[0]


@pytest.mark.parametrize(
    ("latency", "stable_gain", "unstable_gain"),
    [(0, 1.8, 2.2), (1, 0.9, 1.1), (1.5, 0.75, 0.9), (2, 0.55, 0.7)],
)
def test_stability_limit_moves_to_lower_gain_with_latency(
    latency, stable_gain, unstable_gain
):
    """Total delay d = 1 + L frames: stable below 2 sin(π / (2 (2d - 1))),
    i.e. 2, 1 and 0.62 for L = 0, 1, 2; 0.83 for L = 1.5 (the root of
    z^3 - z^2 + g (z + 1) / 2 on the unit circle)."""
    assert _loop_growth(latency, stable_gain) < 0.1
    assert _loop_growth(latency, unstable_gain) > 1.0


def test_the_camera_fake_takes_latency_frames():
    params = {**QUIET, "lenslets": 4, "pixels": 8, "latency_frames": 1}
    cam = fakes.build_fake("shack_hartmann", params)
    plain = fakes.build_fake("shack_hartmann", {**params, "latency_frames": 0})
    c0, c1 = np.full(16, 0.3), np.full(16, -0.2)
    cam.frame(0, command=None)
    a = cam.frame(1, command=c0)  # still flat: c0 arrives one frame later
    b = cam.frame(2, command=c1)
    np.testing.assert_array_equal(a, plain.frame(1))
    np.testing.assert_array_equal(b, plain.frame(2, command=c0))
    with pytest.raises(ScenarioError, match="'latency_frames': must be >= 0"):
        fakes.build_fake("shack_hartmann", {"latency_frames": -1})
    with pytest.raises(ScenarioError, match="latency_frames must be a number"):
        ClosedLoopOptics(*_three(), latency_frames="2")


def _three():
    camera = ShackHartmann(**QUIET, lenslets=4, pixels=8)
    return camera.mirror, camera.mirror, camera
