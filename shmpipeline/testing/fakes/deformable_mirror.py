"""A deformable mirror: actuator commands -> surface (phase, radians).

``n_act`` x ``n_act`` actuators on a regular grid over a ``size`` x ``size``
surface: pitch ``p = size / n_act`` samples, actuator ``j`` at coordinate
``(j + 0.5) p - 0.5`` (cell centres; integer when ``p`` is odd). Each has
a Gaussian influence function

    h(d) = coupling ** ((d / p)²)

so it is 1 at its own actuator and ``coupling`` at a neighbour's. The
surface is linear in the command: ``surface = stroke * Σ_j c_j h_j``
(separable, computed as ``Gy.T @ C @ Gx``). Commands are flat
(``n_act²`` values, row-major) or ``(n_act, n_act)``.

With ``stroke_limit`` (radians), each actuator's displacement
``stroke * c_j`` saturates at ``±stroke_limit``: commands are clipped to
``±stroke_limit / |stroke|`` first (:meth:`DeformableMirror.applied`), so
the mirror is linear only while no actuator saturates.

Parameters: ``n_act`` (8), ``size`` (32), ``coupling`` (0.15, in (0, 1)),
``stroke`` (radians per unit command, 1.0), ``stroke_limit`` (radians,
null: unlimited), ``dtype`` (float32), as a mapping or keywords
(``DeformableMirror(n_act=5, size=25, coupling=0.2)``).
As a fake source, ``frame(n, command)`` is the surface (zeros with no
command). The surface of a command is :meth:`DeformableMirror.surface`
(``shape`` is the surface's array shape, as for every fake).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, fake_error, merged


class DeformableMirror:
    """Gaussian-influence deformable mirror (see the module docstring)."""

    kind = "deformable_mirror"

    def __init__(
        self, params: Mapping[str, Any] | None = None, *, seed: int = 0, **kwargs: Any
    ) -> None:
        p = Params(self.kind, merged(self.kind, params, kwargs))
        self.n_act = p.integer("n_act", 8, minimum=1)
        self.size = p.integer("size", 32, minimum=1)
        self.coupling = p.number("coupling", 0.15, positive=True)
        if self.coupling >= 1.0:
            raise fake_error(self.kind, "parameter 'coupling': must be < 1")
        self.stroke = p.number("stroke", 1.0)
        self.stroke_limit = p.number(
            "stroke_limit", None, positive=True, allow_none=True
        )
        self.dtype = p.dtype("dtype", "float32")
        p.done()
        self.seed = int(seed)
        self.shape = (self.size, self.size)
        self.pitch = self.size / self.n_act
        self.positions = (np.arange(self.n_act) + 0.5) * self.pitch - 0.5
        d = (np.arange(self.size)[None, :] - self.positions[:, None]) / self.pitch
        #: (n_act, size): 1-D influence of each actuator row/column.
        self.influence_1d = np.exp(np.log(self.coupling) * d * d)

    def _grid(self, command: Any) -> np.ndarray:
        try:
            c = np.asarray(command, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise fake_error(
                self.kind, f"command must be numbers, got {command!r}"
            ) from exc
        if c.size != self.n_act * self.n_act:
            raise fake_error(
                self.kind,
                f"command has {c.size} values {tuple(c.shape)}, the mirror has "
                f"{self.n_act}x{self.n_act} = {self.n_act**2} actuators (n_act)",
            )
        return c.reshape(self.n_act, self.n_act)

    def applied(self, command: Any) -> np.ndarray:
        """The ``(n_act, n_act)`` command the actuators follow (float64):
        ``command`` clipped to the stroke limit, if any."""
        c = self._grid(command)
        if self.stroke_limit is None or self.stroke == 0.0:
            return c
        bound = self.stroke_limit / abs(self.stroke)
        return np.clip(c, -bound, bound)

    def saturated(self, command: Any) -> int:
        """How many actuators of ``command`` hit the stroke limit."""
        return int(np.count_nonzero(self.applied(command) != self._grid(command)))

    def surface(self, command: Any) -> np.ndarray:
        """The surface (float64, radians) of ``command``."""
        g = self.influence_1d
        return self.stroke * (g.T @ self.applied(command) @ g)

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        """The surface (in ``dtype``) under ``command``; flat without one."""
        del n
        if command is None:
            return np.zeros(self.shape, self.dtype)
        return self.surface(command).astype(self.dtype)

    def delay(self, n: int) -> float:
        """No latency of its own (see :mod:`~shmpipeline.testing.fakes.faults`)."""
        return 0.0
