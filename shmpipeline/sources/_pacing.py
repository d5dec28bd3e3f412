"""Rate pacing and synthetic-pattern parameters shared by the built-in sources."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any

from shmpipeline._problems import is_real
from shmpipeline.errors import ConfigValidationError
from shmpipeline.synthetic import SyntheticInputConfig

__all__ = ["Pacer", "pattern_config", "positive_rate"]

_PATTERN_KEYS = tuple(f.name for f in fields(SyntheticInputConfig) if f.name != "stream_name")


def positive_rate(config: Any) -> float | None:
    """The ``rate_hz`` parameter (None: as fast as possible)."""
    rate = config.parameters.get("rate_hz")
    if rate is None:
        return None
    if not is_real(rate) or not math.isfinite(rate) or rate <= 0:
        raise ConfigValidationError(
            f"source {config.name!r}: parameters.rate_hz: must be a positive "
            f"number or null, got {rate!r}"
        )
    return float(rate)


def pattern_config(
    config: Any, stream: str, extra_keys: tuple[str, ...] = (), seed_offset: int = 0
) -> SyntheticInputConfig:
    """The synthetic pattern of a source's parameters (unknown keys refused)."""
    params: Mapping[str, Any] = config.parameters
    allowed = (*_PATTERN_KEYS, *extra_keys)
    for key in params:
        if key not in allowed:
            raise ConfigValidationError(
                f"source {config.name!r}: parameters.{key}: unknown parameter "
                f"(known: {', '.join(allowed)})"
            )
    values = {k: v for k, v in params.items() if k in _PATTERN_KEYS and v is not None}
    if seed_offset:
        values["seed"] = int(values.get("seed", 0)) + seed_offset
    try:
        return SyntheticInputConfig(stream_name=stream, **values)
    except ConfigValidationError as exc:
        raise ConfigValidationError(f"source {config.name!r}: {exc}") from None


class Pacer:
    """Keeps a loop at ``rate_hz`` (None: no pacing) without drifting."""

    def __init__(self, rate_hz: float | None, wait: Callable[[float], bool]) -> None:
        self._interval = None if rate_hz is None else 1.0 / rate_hz
        self._wait = wait
        self._deadline: float | None = None

    def pace(self) -> bool:
        """Sleep until the next slot; ``True`` when a stop came meanwhile."""
        if self._interval is None:
            return False
        now = time.perf_counter()
        if self._deadline is None:
            self._deadline = now
        remaining = self._deadline - now
        if remaining > 0 and self._wait(remaining):
            return True
        self._deadline = max(self._deadline + self._interval, time.perf_counter())
        return False
