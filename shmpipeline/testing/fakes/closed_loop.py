"""Closing the loop: atmosphere, deformable mirror and camera composed.

:class:`ClosedLoopOptics` glues three separate fakes: camera frame ``n``
sees the residual phase ``screen.phase(n) - mirror.surface(command)``,
``command`` being the last command the pipeline sent (the command stream
after frame ``n - 1``). A :class:`~shmpipeline.testing.fakes.ShackHartmann`
built with ``atmosphere`` and ``mirror`` parameters does the same internally
(and gives the same frames, bit for bit); this class is for code that builds
and inspects the three parts itself.

``latency_frames`` (0; integer or fractional) delays the mirror by that
many frames beyond the one of the harness
(:mod:`~shmpipeline.testing.fakes.command_delay`), so a controller's
stability margin matches a bench with 1.5-2 frames of loop delay.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import fake_error
from shmpipeline.testing.fakes.command_delay import CommandDelay

__all__ = ["ClosedLoopOptics"]


class ClosedLoopOptics:
    """``screen`` (``phase(n)`` or ``frame(n)``), ``mirror``
    (``surface(command)``) and ``camera`` (``expose(phase, n)``), all on the
    camera's pupil grid ``camera.shape``."""

    kind = "closed_loop"

    def __init__(
        self, screen: Any, mirror: Any, camera: Any, *, latency_frames: float = 0.0
    ) -> None:
        if (
            isinstance(latency_frames, bool)
            or not isinstance(latency_frames, (int, float))
            or not latency_frames >= 0
            or latency_frames == float("inf")
        ):
            raise fake_error(
                self.kind,
                f"latency_frames must be a number >= 0, got {latency_frames!r}",
            )
        for name, part in (("screen", screen), ("mirror", mirror)):
            shape = tuple(getattr(part, "shape", ()))
            if shape != tuple(camera.shape):
                raise fake_error(
                    self.kind,
                    f"the {name} samples the pupil on {shape}, the camera on "
                    f"{tuple(camera.shape)}: they must share one grid",
                )
        self.screen = screen
        self.mirror = mirror
        self.camera = camera
        self.shape = tuple(camera.shape)
        self.dtype = camera.dtype
        self.delay_line = CommandDelay(latency_frames)

    def residual(self, n: int, command: Any = None) -> np.ndarray:
        """The phase (float64, radians) the camera sees at frame ``n``: the
        screen minus the mirror's surface under ``command`` (none: flat),
        or under the commands ``latency_frames`` earlier."""
        phase_of = getattr(self.screen, "phase", None) or self.screen.frame
        phase = np.asarray(phase_of(n), dtype=np.float64)
        shape = self.delay_line.mirror_shape(n, command, self.mirror.surface)
        if shape is not None:
            phase = phase - shape
        return phase

    def camera_frame(self, n: int, last_command: Any = None) -> np.ndarray:
        """Camera frame ``n`` under the last command sent to the mirror."""
        return self.camera.expose(self.residual(n, last_command), n)

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        """:meth:`camera_frame`, under the name every fake source uses (so
        :class:`~shmpipeline.testing.fakes.FaultyFake` can wrap it)."""
        return self.camera_frame(n, command)

    def delay(self, n: int) -> float:
        """The camera's latency before frame ``n``."""
        return float(getattr(self.camera, "delay", lambda _n: 0.0)(n) or 0.0)
