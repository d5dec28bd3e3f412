"""Fault injection around any fake: the device misbehaving, reproducibly.

A scenario adds ``faults:`` to a fake's parameters::

    camera: {fake: shack_hartmann, faults: {drop: [3, 7], stuck: 0.1,
             nan: 2, saturate: {count: 1, level: 4095}, jitter: 0.002,
             stop_after: 30}}

- ``drop``: frame indices (a list) or a probability per frame; a dropped
  frame is not delivered (``frame(n)`` returns ``None``);
- ``stuck``: likewise; a stuck frame repeats the last delivered frame
  exactly (the first frame cannot be stuck: nothing was delivered yet);
- ``nan``: that many pixels per delivered frame become NaN (positions
  drawn per frame; float outputs only);
- ``saturate``: ``count`` (or a bare int) pixels per frame set to
  ``level`` (default: the dtype's max for integers, 65535 for floats);
- ``jitter``: ``delay(n)`` is uniform in ``[0, jitter]`` seconds (the
  free-running replay waits that long before writing frame ``n``);
- ``stop_after``: from frame N on the device stops responding: every
  ``frame`` returns ``None`` (a source that never delivers again, which the
  replay sees as dropped frames).

Every decision for frame ``n`` comes from
``default_rng([seed, n, tag])``, so the schedule is a pure function of the
seed and ``n``; only ``stuck`` remembers state (the last delivered frame).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, fake_error, rng_for

_DROP, _STUCK, _NAN, _SAT, _JITTER = 11, 12, 13, 14, 15


class _Schedule:
    """Frames hit by a fault: an explicit list or a probability per frame."""

    def __init__(self, kind: str, name: str, value: Any, seed: int, tag: int):
        self.frames: frozenset[int] | None = None
        self.probability = 0.0
        self.seed, self.tag = seed, tag
        if value is None:
            self.frames = frozenset()
        elif isinstance(value, (list, tuple)):
            if not all(
                isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0
                for v in value
            ):
                raise fake_error(
                    kind, f"faults.{name}: frame indices must be integers >= 0"
                )
            self.frames = frozenset(int(v) for v in value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            if not 0.0 <= float(value) <= 1.0:
                raise fake_error(
                    kind, f"faults.{name}: a probability must be in [0, 1], got {value}"
                )
            self.probability = float(value)
        else:
            raise fake_error(
                kind,
                f"faults.{name}: must be a list of frame indices or a probability, "
                f"got {value!r}",
            )

    def __call__(self, n: int) -> bool:
        if self.frames is not None:
            return n in self.frames
        if self.probability <= 0.0:
            return False
        return bool(rng_for(self.seed, n, self.tag).random() < self.probability)


class FaultyFake:
    """Wraps ``inner`` (any fake) with the faults of ``faults`` (see the
    module docstring). Offers the same ``frame``/``delay``/``shape``/``dtype``."""

    def __init__(self, inner: Any, faults: Mapping[str, Any] | None, *, seed: int = 0):
        kind = getattr(inner, "kind", type(inner).__name__)
        p = Params(f"{kind}.faults", faults)
        self.inner = inner
        self.kind = kind
        self.seed = int(seed)
        self.drop = _Schedule(kind, "drop", p.get("drop"), self.seed, _DROP)
        self.stuck = _Schedule(kind, "stuck", p.get("stuck"), self.seed, _STUCK)
        self.nan_count = p.integer("nan", 0)
        saturate = p.get("saturate")
        self.saturate_count = 0
        self.saturate_level: float | None = None
        if isinstance(saturate, Mapping):
            sp = Params(f"{kind}.faults.saturate", saturate)
            self.saturate_count = sp.integer("count", 1, minimum=0)
            self.saturate_level = sp.number("level", None, allow_none=True)
            sp.done()
        elif saturate is not None:
            self.saturate_count = p.integer("saturate", 0)
        self.jitter = p.number("jitter", 0.0, minimum=0.0)
        stop = p.get("stop_after")
        if stop is not None and (
            not isinstance(stop, numbers.Integral) or isinstance(stop, bool) or stop < 0
        ):
            raise fake_error(
                kind, f"faults.stop_after: must be an integer >= 0, got {stop!r}"
            )
        self.stop_after: int | None = None if stop is None else int(stop)
        p.done()
        self.shape = getattr(inner, "shape", None)
        self.dtype = getattr(inner, "dtype", None)
        self._last: np.ndarray | None = None

    def responding(self, n: int) -> bool:
        """Whether the device still answers at frame ``n``."""
        return self.stop_after is None or n < self.stop_after

    def frame(self, n: int, command: Any = None) -> np.ndarray | None:
        if not self.responding(n) or self.drop(n):
            return None
        if self._last is not None and self.stuck(n):
            return self._last.copy()
        if command is None:
            out = np.array(self.inner.frame(n), copy=True)
        else:
            out = np.array(self.inner.frame(n, command=command), copy=True)
        flat = out.reshape(-1)
        if self.nan_count:
            if out.dtype.kind not in "fc":
                raise fake_error(
                    self.kind, f"faults.nan: {out.dtype} frames cannot hold NaN"
                )
            idx = rng_for(self.seed, n, _NAN).choice(
                flat.size, min(self.nan_count, flat.size), replace=False
            )
            flat[idx] = np.nan
        if self.saturate_count:
            level = self.saturate_level
            if level is None:
                level = np.iinfo(out.dtype).max if out.dtype.kind in "iu" else 65535.0
            idx = rng_for(self.seed, n, _SAT).choice(
                flat.size, min(self.saturate_count, flat.size), replace=False
            )
            flat[idx] = level
        self._last = out
        return out.copy()

    def delay(self, n: int) -> float:
        """Latency (seconds) the device adds before frame ``n``."""
        base = float(getattr(self.inner, "delay", lambda _n: 0.0)(n) or 0.0)
        if not self.jitter:
            return base
        return base + float(rng_for(self.seed, n, _JITTER).uniform(0.0, self.jitter))
