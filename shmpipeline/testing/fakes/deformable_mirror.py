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

Layouts and misregistration. ``layout: fried`` puts the ``n_act`` x
``n_act`` actuators on the corners of ``n_act - 1`` cells (pitch ``size /
(n_act - 1)``, actuator ``j`` at ``j p - 0.5``: the corners of the
subapertures of a sensor with ``n_act - 1`` lenslets, Fried 1977, JOSA 67,
370); ``positions: [[y, x], ...]`` (samples) is a custom layout (then
``pitch`` in samples sets the influence width, default the grid's). A
misregistration moves every actuator about the surface centre ``c``:
``x' = c + M R(θ) (x - c) + shift`` (``magnification`` M, ``rotation`` θ
degrees, ``shift`` [y, x] samples), the influence width scaled by M too.
A rotation or a custom layout evaluates ``Σ_j c_j h(|x - x_j|)`` on the
grid directly; the others keep the separable product ``G_y^T C G_x``.

Actuator faults and nonlinearity, in this order: ``coupled_actuators``
(pairs ``[i, j]`` driven by one amplifier: both follow the mean of their
commands), ``stuck_actuators`` (``{index: value}``: the command is ignored,
the value held), ``dead_actuators`` (indices that do not move), DAC
quantisation (``dac_bits`` over ``±dac_range``: ``q = round(c / Δ) Δ``,
``Δ = 2 dac_range / (2^bits - 1)``, clipped to the range), ``hysteresis``
``w`` (a play operator of width ``w`` command units: the actuator moves
only once the command leaves ``[a - w/2, a + w/2]`` around its position
``a``, so a sweep up and down traces a loop of width ``w``; stateful, one
step per :meth:`DeformableMirror.surface` call), then the stroke limit.
Indices are flat (row-major) actuator numbers.

Parameters: ``n_act`` (8), ``size`` (32), ``coupling`` (0.15, in (0, 1)),
``stroke`` (radians per unit command, 1.0), ``stroke_limit`` (radians,
null: unlimited), ``layout`` (grid), ``positions``, ``pitch``,
``shift`` ([0, 0]), ``rotation`` (0), ``magnification`` (1),
``dead_actuators`` ([]), ``stuck_actuators`` ({}), ``coupled_actuators``
([]), ``hysteresis`` (0), ``dac_bits`` (null), ``dac_range`` (10),
``dtype`` (float32), as a mapping or keywords
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
        self.layout = p.get("layout", "grid")
        if self.layout not in ("grid", "fried"):
            raise fake_error(
                self.kind,
                f"parameter 'layout': must be 'grid' or 'fried', got {self.layout!r}",
            )
        custom = p.get("positions")
        pitch = p.number("pitch", None, positive=True, allow_none=True)
        self.shift = p.pair("shift", (0.0, 0.0))
        self.rotation = p.number("rotation", 0.0)
        self.magnification = p.number("magnification", 1.0, positive=True)
        dead = p.get("dead_actuators", [])
        stuck = p.get("stuck_actuators", {})
        coupled = p.get("coupled_actuators", [])
        self.hysteresis = p.number("hysteresis", 0.0, minimum=0.0)
        self.dac_bits = p.get("dac_bits")
        if self.dac_bits is not None:
            self.dac_bits = p.integer("dac_bits", 16, minimum=1)
        self.dac_range = p.number("dac_range", 10.0, positive=True)
        self.dtype = p.dtype("dtype", "float32")
        p.done()
        self.seed = int(seed)
        self.shape = (self.size, self.size)
        if self.layout == "fried":
            if self.n_act < 2:
                raise fake_error(
                    self.kind, "parameter 'n_act': a Fried layout needs >= 2"
                )
            self.pitch = self.size / (self.n_act - 1)
            self.positions = np.arange(self.n_act) * self.pitch - 0.5
        else:
            self.pitch = self.size / self.n_act
            self.positions = (np.arange(self.n_act) + 0.5) * self.pitch - 0.5
        if pitch is not None:
            self.pitch = pitch
        grid_y, grid_x = np.meshgrid(self.positions, self.positions, indexing="ij")
        points = np.stack([grid_y.ravel(), grid_x.ravel()], axis=1)
        if custom is not None:
            points = self._custom_positions(custom)
        self.actuators = points.shape[0]
        misregistered = (
            self.shift != (0.0, 0.0) or self.rotation or self.magnification != 1.0
        )
        # a rotation or a custom layout is not separable in rows and columns
        self._general = custom is not None or bool(self.rotation)
        d = (np.arange(self.size)[None, :] - self.positions[:, None]) / self.pitch
        #: (n_act, size): 1-D influence of each actuator row/column.
        self.influence_1d = np.exp(np.log(self.coupling) * d * d)
        self._rows_1d = self._cols_1d = self.influence_1d
        if misregistered and not self._general:
            c = (self.size - 1) / 2.0
            width = self.pitch * self.magnification
            grid = np.arange(self.size)[None, :]
            rows = c + self.magnification * (self.positions - c) + self.shift[0]
            cols = c + self.magnification * (self.positions - c) + self.shift[1]
            log_c = np.log(self.coupling)
            self._rows_1d = np.exp(log_c * ((grid - rows[:, None]) / width) ** 2)
            self._cols_1d = np.exp(log_c * ((grid - cols[:, None]) / width) ** 2)
        #: (actuators, 2): actuator [y, x] positions on the surface (samples).
        self.actuator_positions = self._misregister(points)
        self._influence = None
        if self._general:
            width = self.pitch * self.magnification
            yy, xx = np.mgrid[0 : self.size, 0 : self.size].astype(np.float64)
            ay, ax = self.actuator_positions[:, 0], self.actuator_positions[:, 1]
            d2 = (yy.ravel()[None, :] - ay[:, None]) ** 2 + (
                xx.ravel()[None, :] - ax[:, None]
            ) ** 2
            #: (actuators, size * size) influence functions.
            self._influence = np.exp(np.log(self.coupling) * d2 / (width * width))
        self._dead = self._indices("dead_actuators", dead)
        self._stuck = self._stuck_map(stuck)
        self._pairs = [
            tuple(self._indices("coupled_actuators", pair))
            for pair in self._pair_list(coupled)
        ]
        self._position: np.ndarray | None = None

    def _custom_positions(self, custom: Any) -> np.ndarray:
        try:
            points = np.asarray(custom, dtype=np.float64)
        except (TypeError, ValueError):
            points = None
        if (
            points is None
            or points.ndim != 2
            or points.shape[1] != 2
            or not len(points)
            or not np.all(np.isfinite(points))
        ):
            raise fake_error(
                self.kind,
                f"parameter 'positions': must be a list of [y, x] samples, got {custom!r}",
            )
        return points

    def _misregister(self, points: np.ndarray) -> np.ndarray:
        c = (self.size - 1) / 2.0
        angle = np.radians(self.rotation)
        rot = np.array(
            [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
        )
        moved = c + self.magnification * (points - c) @ rot.T
        return moved + np.asarray(self.shift)

    def _indices(self, name: str, values: Any) -> list[int]:
        if not isinstance(values, (list, tuple)):
            raise fake_error(
                self.kind,
                f"parameter {name!r}: must be a list of actuator indices, got {values!r}",
            )
        out = []
        for v in values:
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, np.integer))
                or not 0 <= v < self.actuators
            ):
                raise fake_error(
                    self.kind,
                    f"parameter {name!r}: {v!r} is not an actuator index in [0, {self.actuators})",
                )
            out.append(int(v))
        return out

    def _stuck_map(self, stuck: Any) -> dict[int, float]:
        if not isinstance(stuck, Mapping):
            raise fake_error(
                self.kind,
                f"parameter 'stuck_actuators': must be a mapping index: value, got {stuck!r}",
            )
        out = {}
        for key, value in stuck.items():
            (index,) = self._indices(
                "stuck_actuators", [int(key) if str(key).isdigit() else key]
            )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise fake_error(
                    self.kind,
                    f"parameter 'stuck_actuators': value of {key!r} must be a number, got {value!r}",
                )
            out[index] = float(value)
        return out

    def _pair_list(self, coupled: Any) -> list:
        if not isinstance(coupled, (list, tuple)) or not all(
            isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in coupled
        ):
            raise fake_error(
                self.kind,
                f"parameter 'coupled_actuators': must be a list of [i, j] pairs, got {coupled!r}",
            )
        return list(coupled)

    def _grid(self, command: Any) -> np.ndarray:
        try:
            c = np.asarray(command, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise fake_error(
                self.kind, f"command must be numbers, got {command!r}"
            ) from exc
        if c.size != self.actuators:
            if self.actuators == self.n_act * self.n_act:
                layout = (
                    f"{self.n_act}x{self.n_act} = {self.n_act**2} actuators (n_act)"
                )
            else:
                layout = f"{self.actuators} actuators (positions)"
            raise fake_error(
                self.kind,
                f"command has {c.size} values {tuple(c.shape)}, the mirror has {layout}",
            )
        if self.actuators == self.n_act * self.n_act:
            return c.reshape(self.n_act, self.n_act)
        return c.reshape(-1)

    def _faults(self, c: np.ndarray) -> np.ndarray:
        """Coupling, stuck, dead, DAC and hysteresis applied to a command."""
        plain = not (
            self._pairs or self._stuck or self._dead or self.dac_bits or self.hysteresis
        )
        if plain:
            return c
        shape = c.shape
        flat = c.reshape(-1).copy()
        for i, j in self._pairs:
            flat[i] = flat[j] = 0.5 * (flat[i] + flat[j])
        for i, value in self._stuck.items():
            flat[i] = value
        if self.dac_bits:
            step = 2.0 * self.dac_range / (2**self.dac_bits - 1)
            flat = np.clip(np.rint(flat / step) * step, -self.dac_range, self.dac_range)
        if self.hysteresis:
            if self._position is None:
                self._position = np.zeros_like(flat)
            half = self.hysteresis / 2.0
            self._position = np.clip(self._position, flat - half, flat + half)
            flat = self._position.copy()
        if self._dead:
            flat[self._dead] = 0.0
        return flat.reshape(shape)

    def applied(self, command: Any) -> np.ndarray:
        """The ``(n_act, n_act)`` command the actuators follow (float64):
        ``command`` clipped to the stroke limit, if any."""
        c = self._faults(self._grid(command))
        if self.stroke_limit is None or self.stroke == 0.0:
            return c
        bound = self.stroke_limit / abs(self.stroke)
        return np.clip(c, -bound, bound)

    def saturated(self, command: Any) -> int:
        """How many actuators of ``command`` hit the stroke limit."""
        c = self._grid(command)
        if self.stroke_limit is None or self.stroke == 0.0:
            return 0
        bound = self.stroke_limit / abs(self.stroke)
        return int(np.count_nonzero(np.abs(c) > bound))

    def surface(self, command: Any) -> np.ndarray:
        """The surface (float64, radians) of ``command``."""
        if self._general:
            c = self.applied(command).reshape(-1)
            return self.stroke * (c @ self._influence).reshape(self.shape)
        return self.stroke * (self._rows_1d.T @ self.applied(command) @ self._cols_1d)

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        """The surface (in ``dtype``) under ``command``; flat without one."""
        del n
        if command is None:
            return np.zeros(self.shape, self.dtype)
        return self.surface(command).astype(self.dtype)

    def delay(self, n: int) -> float:
        """No latency of its own (see :mod:`~shmpipeline.testing.fakes.faults`)."""
        return 0.0
