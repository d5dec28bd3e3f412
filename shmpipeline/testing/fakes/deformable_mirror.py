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

Parameters: ``n_act`` (8), ``size`` (32), ``coupling`` (0.15, in (0, 1)),
``stroke`` (radians per unit command, 1.0), ``dtype`` (float32).
As a fake source, ``frame(n, command)`` is the surface (zeros with no
command).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, fake_error


class DeformableMirror:
    """Gaussian-influence deformable mirror (see the module docstring)."""

    kind = "deformable_mirror"

    def __init__(self, params: Mapping[str, Any] | None = None, *, seed: int = 0):
        p = Params(self.kind, params)
        self.n_act = p.integer("n_act", 8, minimum=1)
        self.size = p.integer("size", 32, minimum=1)
        self.coupling = p.number("coupling", 0.15, positive=True)
        if self.coupling >= 1.0:
            raise fake_error(self.kind, "parameter 'coupling': must be < 1")
        self.stroke = p.number("stroke", 1.0)
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
        c = np.asarray(command, dtype=np.float64)
        if c.size != self.n_act * self.n_act:
            raise fake_error(
                self.kind,
                f"command has {c.size} values {tuple(c.shape)}, the mirror has "
                f"{self.n_act}x{self.n_act} = {self.n_act**2} actuators (n_act)",
            )
        return c.reshape(self.n_act, self.n_act)

    def surface(self, command: Any) -> np.ndarray:
        """The surface (float64, radians) of ``command``."""
        g = self.influence_1d
        return self.stroke * (g.T @ self._grid(command) @ g)

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        del n
        if command is None:
            return np.zeros(self.shape, self.dtype)
        return self.surface(command).astype(self.dtype)

    def delay(self, n: int) -> float:
        return 0.0
