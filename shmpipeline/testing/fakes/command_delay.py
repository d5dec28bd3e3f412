"""Loop latency: the mirror follows the commands some frames late.

The harness hands camera frame ``n`` the last command sent, ``c_n`` (the
command stream after frame ``n - 1``): with no extra latency the loop has
the one frame of delay of a sensor that reads out, computes and applies
within a frame. ``latency_frames = L`` (``L = k + f``, ``k`` whole frames,
``0 <= f < 1``) adds ``L`` frames: frame ``n`` sees the mirror shape

    S_n = (1 - f) S(c_(n-k)) + f S(c_(n-k-1))

(a command that arrives a fraction ``f`` of the exposure late: the mirror
holds the older shape for that part of the exposure; the camera integrates
both). Commands from before the first frame are none (a flat mirror). The
total delay is then ``d = 1 + L`` frames and an integrator ``c += g R s``
is stable for ``g < 2 sin(π / (2 (2d - 1)))`` on a perfectly calibrated
loop: 2, 1 and 0.62 for ``L = 0, 1, 2`` (e.g. Madec 1999, "Control
techniques", in Roddier, Adaptive Optics in Astronomy; the ``z``-domain
characteristic ``z^d (z - 1) + g = 0``). A fractional ``L`` gives the
characteristic ``z^(k+1) (z - 1) + g ((1 - f) z + f) = 0``: limits 2 for
``L = 0.5``, 0.83 for 1.5, 0.54 for 2.5.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: Commands remembered beyond the latency (frames asked slightly out of order).
SLACK = 8


class CommandDelay:
    """A delay line of commands indexed by frame (see the module docstring)."""

    def __init__(self, latency_frames: float = 0.0) -> None:
        self.latency_frames = float(latency_frames)
        self.whole = math.floor(self.latency_frames)
        self.fraction = self.latency_frames - self.whole
        self._commands: dict[int, Any] = {}

    def record(self, n: int, command: Any) -> None:
        """``command`` is the last one sent before camera frame ``n``."""
        if self.latency_frames == 0.0:
            return
        self._commands[int(n)] = None if command is None else np.array(command)
        horizon = int(n) - self.whole - 1 - SLACK
        for old in [k for k in self._commands if k < horizon]:
            del self._commands[old]

    def _latest(self, m: int) -> Any:
        """The command recorded at frame ``m``, or at the latest frame
        before it (a dropped frame records nothing); None before any."""
        known = [k for k in self._commands if k <= m]
        return self._commands[max(known)] if known else None

    def mirror_shape(
        self, n: int, command: Any, surface: Callable[[Any], np.ndarray]
    ) -> np.ndarray | None:
        """The shape the camera sees at frame ``n`` (``command`` is the last
        one sent), or None for a flat mirror."""
        if self.latency_frames == 0.0:
            return None if command is None else surface(command)
        self.record(n, command)
        newer = self._latest(int(n) - self.whole)
        if self.fraction == 0.0:
            return None if newer is None else surface(newer)
        older = self._latest(int(n) - self.whole - 1)
        parts = [
            (1.0 - self.fraction, newer),
            (self.fraction, older),
        ]
        shape = None
        for weight, c in parts:
            if c is None:
                continue
            term = weight * surface(c)
            shape = term if shape is None else shape + term
        return shape
