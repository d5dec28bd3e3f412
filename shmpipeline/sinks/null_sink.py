"""``null.sink``: consume and discard every frame, measuring the consume time.

A stand-in for a terminal device (a deformable mirror, a tip/tilt stage): it
optionally sleeps ``device_delay_s`` per frame and keeps the last
``sample_window`` consume times for percentiles in its metrics.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline._problems import is_int, is_real
from shmpipeline.config import SharedMemoryConfig, SinkConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.sink import Sink

__all__ = ["NullSink"]

_DEFAULT_WINDOW = 8192
_KNOWN = ("device_delay_s", "sample_window")


class NullSink(Sink):
    """Discard every payload; report consume-time percentiles (µs)."""

    kind = "null.sink"

    @classmethod
    def validate_config(
        cls, config: SinkConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Any storage; ``device_delay_s`` >= 0; ``sample_window`` > 0."""
        if config.stream not in shared_memory:
            raise ConfigValidationError(
                f"sink {config.name!r}: undefined shared memory {config.stream!r}"
            )
        for key in config.parameters:
            if key not in _KNOWN:
                raise ConfigValidationError(
                    f"sink {config.name!r}: parameters.{key}: unknown parameter "
                    f"(known: {', '.join(_KNOWN)})"
                )
        delay = config.parameters.get("device_delay_s", 0.0)
        if not is_real(delay) or not math.isfinite(delay) or delay < 0:
            raise ConfigValidationError(
                f"sink {config.name!r}: parameters.device_delay_s: must be a "
                f"non-negative number, got {delay!r}"
            )
        window = config.parameters.get("sample_window", _DEFAULT_WINDOW)
        if not is_int(window) or window <= 0:
            raise ConfigValidationError(
                f"sink {config.name!r}: parameters.sample_window: must be a "
                f"positive integer, got {window!r}"
            )

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        params = context.config.parameters
        self._delay = float(params.get("device_delay_s", 0.0))
        self._lock = threading.Lock()
        self._samples: deque[float] = deque(
            maxlen=int(params.get("sample_window", _DEFAULT_WINDOW))
        )
        self._consumed = 0

    def consume(self, value: Any) -> None:
        """Discard ``value`` after the optional device delay."""
        del value
        started = time.perf_counter()
        if self._delay > 0:
            self.wait(self._delay)
        elapsed = time.perf_counter() - started
        with self._lock:
            self._consumed += 1
            self._samples.append(elapsed)

    def plugin_metrics(self) -> dict[str, Any]:
        """Frames consumed and consume-time percentiles in microseconds."""
        with self._lock:
            consumed = self._consumed
            samples = np.array(self._samples, dtype=np.float64)
        if samples.size:
            p50, p90, p99, p999 = np.percentile(samples, [50, 90, 99, 99.9]) * 1e6
            peak = float(samples.max()) * 1e6
        else:
            p50 = p90 = p99 = p999 = peak = 0.0
        return {
            "consumed": consumed,
            "device_delay_us": self._delay * 1e6,
            "consume_us": {"p50": float(p50), "p90": float(p90), "p99": float(p99),
                           "p99_9": float(p999), "max": peak},
        }
