"""Parameter reading for the fakes: typed getters with clear errors.

Each fake reads its parameters through a :class:`Params`; :meth:`Params.done`
then rejects the keys nobody asked for, naming them with a close match, so
a typo in a scenario is an error instead of a silently ignored setting.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline._problems import did_you_mean
from shmpipeline.errors import ScenarioError


def fake_error(kind: str, message: str) -> ScenarioError:
    """A :class:`ScenarioError` about fake ``kind``."""
    return ScenarioError(f"fake {kind!r}: {message}")


def merged(
    kind: str, params: Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> dict[str, Any]:
    """``params`` (a scenario mapping) updated with keyword ``overrides``, so
    ``PhaseScreen(size=64, r0=0.1)`` and ``PhaseScreen({"size": 64, ...})``
    are the same fake."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise fake_error(kind, f"parameters must be a mapping, got {params!r}")
    return {**params, **overrides}


class Params:
    """The parameters of one fake (``kind`` names it in messages)."""

    def __init__(self, kind: str, params: Mapping[str, Any] | None) -> None:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise fake_error(kind, f"parameters must be a mapping, got {params!r}")
        self.kind = kind
        self.raw = dict(params)
        self.used: set[str] = set()

    def _fail(self, name: str, message: str) -> ScenarioError:
        return fake_error(self.kind, f"parameter {name!r}: {message}")

    def has(self, name: str) -> bool:
        return name in self.raw

    def get(self, name: str, default: Any = None) -> Any:
        self.used.add(name)
        return self.raw.get(name, default)

    def number(
        self,
        name: str,
        default: float | None,
        *,
        minimum: float | None = None,
        positive: bool = False,
        allow_none: bool = False,
    ) -> float | None:
        value = self.get(name, default)
        if value is None and allow_none:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))
        ):
            raise self._fail(name, f"must be a finite number, got {value!r}")
        value = float(value)
        if positive and value <= 0:
            raise self._fail(name, f"must be > 0, got {value:g}")
        if minimum is not None and value < minimum:
            raise self._fail(name, f"must be >= {minimum:g}, got {value:g}")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise self._fail(name, f"must be an integer, got {value!r}")
        if value < minimum:
            raise self._fail(name, f"must be >= {minimum}, got {value}")
        return int(value)

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise self._fail(name, f"must be true or false, got {value!r}")
        return value

    def pair(self, name: str, default: tuple[float, float]) -> tuple[float, float]:
        """Two numbers ``[y, x]`` (a single number means ``[0, x]``)."""
        value = self.get(name, default)
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = (0.0, value)
        ok = (
            isinstance(value, (list, tuple))
            and len(value) == 2
            and all(
                isinstance(v, numbers.Real)
                and not isinstance(v, bool)
                and math.isfinite(float(v))
                for v in value
            )
        )
        if not ok:
            raise self._fail(name, f"must be [y, x] (two numbers), got {value!r}")
        return float(value[0]), float(value[1])

    def count(
        self, name: str, default: int = 0, size_hint: str = "pixels"
    ) -> int | float:
        """A number of elements: an integer count (``3``) or a fraction of
        them (a float in ``[0, 1]``, e.g. ``0.01``); see :func:`how_many`."""
        value = self.get(name, default)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self._fail(
                name,
                f"must be a count of {size_hint} (integer >= 0) or a fraction of "
                f"them (number in [0, 1]), got {value!r}",
            )
        if isinstance(value, numbers.Integral):
            if value < 0:
                raise self._fail(name, f"a count must be >= 0, got {value}")
            return int(value)
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise self._fail(
                name,
                f"a fraction must be in [0, 1], got {value:g} (a count is an integer)",
            )
        return value

    def dtype(self, name: str, default: str = "float32") -> np.dtype:
        value = self.get(name, default)
        try:
            dtype = np.dtype(value)
        except TypeError as exc:
            raise self._fail(name, f"unknown dtype {value!r}") from exc
        if dtype.kind not in "fiu":
            raise self._fail(name, f"must be a numeric dtype, got {dtype}")
        return dtype

    def mapping(self, name: str) -> Mapping[str, Any] | None:
        value = self.get(name)
        if value is None or value is False:
            return None
        if value is True:
            return {}
        if not isinstance(value, Mapping):
            raise self._fail(name, f"must be a mapping of parameters, got {value!r}")
        return value

    def done(self) -> None:
        """Reject any parameter that was not read."""
        unknown = sorted(set(self.raw) - self.used)
        if not unknown:
            return
        known = sorted(self.used)
        parts = []
        for key in unknown:
            parts.append(f"{key!r}{did_you_mean(str(key), known, n=1)}")
        raise fake_error(
            self.kind,
            f"unknown parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(parts)}; known: {', '.join(known)}",
        )


def how_many(count: int | float, size: int) -> int:
    """Elements hit out of ``size``: an integer count (capped at ``size``) or
    a fraction of ``size`` rounded half up."""
    if isinstance(count, float):
        return min(size, math.floor(count * size + 0.5))
    return min(size, count)


def rng_for(seed: int, n: int, stream: int = 0) -> np.random.Generator:
    """The generator of frame ``n`` (``stream`` separates independent draws),
    so every frame is a pure function of the seed and its index."""
    return np.random.default_rng([int(seed), int(n), int(stream)])
