"""Fault injection around any fake: the device misbehaving, reproducibly.

A scenario adds ``faults:`` to a fake's parameters::

    camera: {fake: shack_hartmann, faults: {drop: [3, 7], stuck: 0.1,
             nan: 2, saturate: {count: 1, level: 4095}, jitter: 0.002,
             stop_after: 30}}

- ``drop``: frame indices (a list) or a probability per frame; a dropped
  frame is not delivered (``frame(n)`` returns ``None``);
- ``stuck``: likewise; a stuck frame repeats the last delivered frame
  exactly (the first delivered frame cannot be stuck: nothing was delivered
  yet; a stuck frame after dropped ones repeats the one before them);
- ``nan``: pixels per delivered frame that become NaN, an integer count
  (``3``) or a fraction of the frame (a float in ``[0, 1]``: ``0.01`` is
  ``round(0.01 * size)`` pixels, rounded half up); positions drawn per
  frame; float outputs only. ``{count: N}`` / ``{fraction: F}`` say the
  same explicitly;
- ``saturate``: likewise a count or fraction of pixels per frame (or a
  mapping ``{count | fraction, level}``) set to ``level`` (default: the
  dtype's max for integers, 65535 for floats);
- ``jitter``: ``delay(n)`` is uniform in ``[0, jitter]`` seconds (the
  free-running replay waits that long before writing frame ``n``);
- ``stop_after``: from frame N on the device stops responding. With
  ``on_stop: drop`` (default) every ``frame`` returns ``None`` (a source
  that never delivers again, which the replay sees as dropped frames); with
  ``on_stop: raise`` it raises :class:`~shmpipeline.errors.DeviceTimeoutError`.

Every decision for frame ``n`` comes from ``default_rng([seed, n, tag])``,
so the schedule (:meth:`FaultyFake.schedule`) is a pure function of the
seed and ``n``, and so are the frames of an open-loop fake: a stuck frame
re-renders the frame it repeats when it was not the last one rendered. In a
closed loop the repeated frame is the one delivered before (frames are
asked in order there).

The wrapped source is anything with ``frame(n)`` (or ``frame(n, command=)``)
returning arrays, or a plain callable ``f(n) -> array``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline.errors import DeviceTimeoutError
from shmpipeline.testing.fakes._params import (
    Params,
    fake_error,
    how_many,
    merged,
    rng_for,
)

__all__ = ["FaultSchedule", "FaultyFake"]

_DROP, _STUCK, _NAN, _SAT, _JITTER = 11, 12, 13, 14, 15
_ON_STOP = ("drop", "raise")


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


@dataclass(frozen=True)
class FaultSchedule:
    """Which of frames ``0 .. frames-1`` each fault hits (see
    :meth:`FaultyFake.schedule`): ``dropped`` (not delivered while the
    device responds), ``stuck`` (delivered as a repeat), ``stopped`` (the
    device no longer responds) and ``delivered`` (fresh or stuck frames)."""

    frames: int
    dropped: tuple[int, ...]
    stuck: tuple[int, ...]
    stopped: tuple[int, ...]
    delivered: tuple[int, ...]


class _CallableSource:
    """A plain ``f(n) -> array`` seen as a fake source."""

    kind = "callable"

    def __init__(self, fn: Callable[[int], Any]) -> None:
        self.fn = fn
        self.kind = getattr(fn, "__name__", "callable")

    def frame(self, n: int, command: Any = None) -> Any:
        del command
        return self.fn(n)


class FaultyFake:
    """Wraps ``inner`` (any fake, or a callable ``f(n) -> array``) with the
    faults of ``faults`` (see the module docstring; keywords work too:
    ``FaultyFake(camera, drop=[3], seed=1)``). Offers the same
    ``frame``/``delay``/``shape``/``dtype``; other attributes are the inner
    fake's."""

    def __init__(
        self,
        inner: Any,
        faults: Mapping[str, Any] | None = None,
        *,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if not hasattr(inner, "frame"):
            if not callable(inner):
                raise TypeError(
                    "FaultyFake wraps an object with frame(n) or a callable "
                    f"f(n) -> array, got {inner!r}"
                )
            inner = _CallableSource(inner)
        kind = getattr(inner, "kind", type(inner).__name__)
        p = Params(f"{kind}.faults", merged(f"{kind}.faults", faults, kwargs))
        self.inner = inner
        self.kind = kind
        self.seed = int(seed)
        self.drop = _Schedule(kind, "drop", p.get("drop"), self.seed, _DROP)
        self.stuck = _Schedule(kind, "stuck", p.get("stuck"), self.seed, _STUCK)
        self.nan_count = self._amount(p, "nan")
        self.saturate_count, self.saturate_level = self._saturation(p)
        self.jitter = p.number("jitter", 0.0, minimum=0.0)
        stop = p.get("stop_after")
        if stop is not None and (
            not isinstance(stop, numbers.Integral) or isinstance(stop, bool) or stop < 0
        ):
            raise fake_error(
                kind, f"faults.stop_after: must be an integer >= 0, got {stop!r}"
            )
        self.stop_after: int | None = None if stop is None else int(stop)
        self.on_stop = p.get("on_stop", "drop")
        if self.on_stop not in _ON_STOP:
            raise fake_error(
                kind,
                f"faults.on_stop: must be one of {', '.join(_ON_STOP)}, got "
                f"{self.on_stop!r}",
            )
        p.done()
        self.shape = getattr(inner, "shape", None)
        self.dtype = getattr(inner, "dtype", None)
        if (
            self.nan_count
            and self.dtype is not None
            and np.dtype(self.dtype).kind not in "fc"
        ):
            raise fake_error(
                kind, f"faults.nan: {np.dtype(self.dtype)} frames cannot hold NaN"
            )
        self._last: np.ndarray | None = None
        self._last_n: int | None = None

    def __getattr__(self, name: str) -> Any:
        # only reached for names this wrapper lacks: defer to the device
        inner = self.__dict__.get("inner")
        if inner is None:
            raise AttributeError(name)
        return getattr(inner, name)

    # --- configuration ---------------------------------------------------

    def _amount(self, p: Params, name: str) -> int | float:
        """A count or fraction of pixels, bare or as ``{count|fraction}``."""
        value = p.raw.get(name)
        if not isinstance(value, Mapping):
            return p.count(name, 0)
        p.used.add(name)
        sub = Params(f"{self.kind}.faults.{name}", value)
        amount = self._sub_amount(sub)
        sub.done()
        return amount

    @staticmethod
    def _sub_amount(sub: Params) -> int | float:
        if sub.has("count") and sub.has("fraction"):
            raise fake_error(sub.kind, "give count or fraction, not both")
        if sub.has("fraction"):
            value = sub.number("fraction", 0.0, minimum=0.0)
            if value > 1.0:
                raise fake_error(sub.kind, f"fraction: must be <= 1, got {value:g}")
            return value
        return sub.integer("count", 1, minimum=0)

    def _saturation(self, p: Params) -> tuple[int | float, float | None]:
        value = p.raw.get("saturate")
        if not isinstance(value, Mapping):
            return p.count("saturate", 0), None
        p.used.add("saturate")
        sub = Params(f"{self.kind}.faults.saturate", value)
        count = self._sub_amount(sub)
        level = sub.number("level", None, allow_none=True)
        sub.done()
        return count, level

    # --- behaviour -------------------------------------------------------

    def responding(self, n: int) -> bool:
        """Whether the device still answers at frame ``n``."""
        return self.stop_after is None or n < self.stop_after

    def delivers(self, n: int) -> bool:
        """Whether frame ``n`` is delivered at all (fresh or stuck)."""
        return self.responding(n) and not self.drop(n)

    def source_of(self, n: int) -> int | None:
        """The frame whose content frame ``n`` shows: ``n`` itself, an
        earlier frame when ``n`` is stuck, ``None`` when not delivered."""
        if not self.delivers(n):
            return None
        if not self.stuck(n):
            return n
        # the latest earlier fresh frame: delivered and not stuck, or else the
        # first delivered one (nothing before it to repeat)
        earliest = None
        for m in range(n - 1, -1, -1):
            if self.delivers(m):
                if not self.stuck(m):
                    return m
                earliest = m
        return n if earliest is None else earliest

    def schedule(self, frames: int) -> FaultSchedule:
        """What the faults do to frames ``0 .. frames-1`` (pure in the seed)."""
        dropped, stuck, stopped, delivered = [], [], [], []
        for n in range(frames):
            if not self.responding(n):
                stopped.append(n)
            elif self.drop(n):
                dropped.append(n)
            else:
                delivered.append(n)
                if self.source_of(n) != n:
                    stuck.append(n)
        return FaultSchedule(
            frames, tuple(dropped), tuple(stuck), tuple(stopped), tuple(delivered)
        )

    def frame(self, n: int, command: Any = None) -> np.ndarray | None:
        """Frame ``n`` as the faulty device delivers it (``None``: not
        delivered). Raises :class:`~shmpipeline.errors.DeviceTimeoutError`
        from ``stop_after`` on when ``on_stop: raise``."""
        if not self.responding(n):
            if self.on_stop == "raise":
                raise DeviceTimeoutError(
                    f"fake {self.kind!r} stopped responding at frame "
                    f"{self.stop_after} (faults.stop_after); frame {n} never came"
                )
            return None
        source = self.source_of(n)
        if source is None:
            return None
        if source != n and self._last is not None and self._last_n == source:
            return self._last.copy()
        out = self._render(source, command)
        self._last, self._last_n = out, source
        return out.copy()

    def _render(self, n: int, command: Any) -> np.ndarray:
        """Fresh frame ``n`` of the device with its pixel faults."""
        if command is None:
            out = np.array(self.inner.frame(n), copy=True)
        else:
            out = np.array(self.inner.frame(n, command=command), copy=True)
        flat = out.reshape(-1)
        nan = how_many(self.nan_count, flat.size)
        if nan:
            if out.dtype.kind not in "fc":
                raise fake_error(
                    self.kind, f"faults.nan: {out.dtype} frames cannot hold NaN"
                )
            idx = rng_for(self.seed, n, _NAN).choice(flat.size, nan, replace=False)
            flat[idx] = np.nan
        saturate = how_many(self.saturate_count, flat.size)
        if saturate:
            level = self.saturate_level
            if level is None:
                level = np.iinfo(out.dtype).max if out.dtype.kind in "iu" else 65535.0
            idx = rng_for(self.seed, n, _SAT).choice(flat.size, saturate, replace=False)
            flat[idx] = level
        return out

    def delay(self, n: int) -> float:
        """Latency (seconds) the device adds before frame ``n``."""
        base = float(getattr(self.inner, "delay", lambda _n: 0.0)(n) or 0.0)
        if not self.jitter:
            return base
        return base + float(rng_for(self.seed, n, _JITTER).uniform(0.0, self.jitter))
