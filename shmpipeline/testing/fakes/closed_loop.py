"""Closing the loop: atmosphere, deformable mirror and camera composed.

:class:`ClosedLoopOptics` glues three separate fakes: camera frame ``n``
sees the residual phase ``screen.phase(n) - mirror.surface(command)``,
``command`` being the last command the pipeline sent (the command stream
after frame ``n - 1``). A :class:`~shmpipeline.testing.fakes.ShackHartmann`
built with ``atmosphere`` and ``mirror`` parameters does the same internally
(and gives the same frames, bit for bit); this class is for code that builds
and inspects the three parts itself.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import fake_error

__all__ = ["ClosedLoopOptics"]


class ClosedLoopOptics:
    """``screen`` (``phase(n)`` or ``frame(n)``), ``mirror``
    (``surface(command)``) and ``camera`` (``expose(phase, n)``), all on the
    camera's pupil grid ``camera.shape``."""

    kind = "closed_loop"

    def __init__(self, screen: Any, mirror: Any, camera: Any) -> None:
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

    def residual(self, n: int, command: Any = None) -> np.ndarray:
        """The phase (float64, radians) the camera sees at frame ``n``: the
        screen minus the mirror's surface under ``command`` (none: flat)."""
        phase_of = getattr(self.screen, "phase", None) or self.screen.frame
        phase = np.asarray(phase_of(n), dtype=np.float64)
        if command is not None:
            phase = phase - self.mirror.surface(command)
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
