"""``synthetic.frame_set``: one trigger driving several cameras.

Each generation writes one frame to every declared stream, all stamped with
the same ``frame_id`` token (1, 2, 3... unless ``assign_frame_id: false``),
so a ``matching_frame_id`` fan-in downstream can pair them. ``jitter_us``
delays each camera by a uniform random time and ``drop_probability`` skips a
camera's frame, both drawn from ``numpy.random.default_rng(seed)``, to
exercise synchronisation honestly. Camera ``k``'s pattern uses ``seed + k``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline._problems import is_real
from shmpipeline.config import SharedMemoryConfig, SourceConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.source import Source
from shmpipeline.sources._pacing import Pacer, pattern_config, positive_rate
from shmpipeline.synthetic import SyntheticPatternGenerator

__all__ = ["SyntheticFrameSetSource"]

_EXTRA = ("rate_hz", "jitter_us", "drop_probability", "assign_frame_id")


class SyntheticFrameSetSource(Source):
    """Publish one synchronised frame set across several streams per cycle."""

    kind = "synthetic.frame_set"

    @classmethod
    def validate_config(
        cls, config: SourceConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """At least two streams of one storage; valid timing parameters."""
        streams = config.output_streams
        if len(streams) < 2:
            raise ConfigValidationError(
                f"source {config.name!r} requires at least two output streams; "
                "use 'streams: [...]'"
            )
        missing = [name for name in streams if name not in shared_memory]
        if missing:
            raise ConfigValidationError(
                f"source {config.name!r}: undefined shared memory {missing[0]!r}"
            )
        if len({shared_memory[name].storage for name in streams}) != 1:
            raise ConfigValidationError(
                f"source {config.name!r} requires all output streams to share one "
                "storage backend"
            )
        positive_rate(config)
        params = config.parameters
        for key in ("jitter_us", "drop_probability"):
            value = params.get(key, 0.0)
            if not is_real(value) or not math.isfinite(value) or value < 0:
                raise ConfigValidationError(
                    f"source {config.name!r}: parameters.{key}: must be a "
                    f"non-negative number, got {value!r}"
                )
        if params.get("drop_probability", 0.0) > 1.0:
            raise ConfigValidationError(
                f"source {config.name!r}: parameters.drop_probability: must be "
                "<= 1.0"
            )
        if not isinstance(params.get("assign_frame_id", True), bool):
            raise ConfigValidationError(
                f"source {config.name!r}: parameters.assign_frame_id: must be "
                "true or false"
            )
        pattern_config(config, streams[0], _EXTRA)

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        config = context.config
        params = config.parameters
        self._names = tuple(config.output_streams)
        self._pacer = Pacer(positive_rate(config), self.wait)
        self._jitter_s = float(params.get("jitter_us", 0.0)) * 1e-6
        self._drop = float(params.get("drop_probability", 0.0))
        self._assign = bool(params.get("assign_frame_id", True))
        self._rng = np.random.default_rng(int(params.get("seed", 0)))
        self._generators = {}
        for index, name in enumerate(self._names):
            spec = context.shared_memory[name]
            self._generators[name] = SyntheticPatternGenerator(
                pattern_config(config, name, _EXTRA, seed_offset=index),
                shape=spec.shape, dtype=spec.dtype, storage=spec.storage,
                gpu_device=spec.gpu_device,
            )
        self._lock = threading.Lock()
        self._generation = 0
        self._writes = dict.fromkeys(self._names, 0)
        self._drops = dict.fromkeys(self._names, 0)

    def produce(self, writers: Mapping[str, Any]) -> int | None:
        """Write generation ``n`` (token ``n``) to every stream."""
        if self._pacer.pace():
            return None
        token = self._generation + 1 if self._assign else None
        with self._lock:
            for name in self._names:
                if self._jitter_s > 0 and self.wait(
                    float(self._rng.uniform(0.0, self._jitter_s))
                ):
                    return None
                if self._drop > 0 and float(self._rng.random()) < self._drop:
                    self._drops[name] += 1
                    continue
                writers[name].write(self._generators[name].next_frame(), frame_id=token)
                self._writes[name] += 1
            self._generation += 1
        return 1

    def plugin_metrics(self) -> dict[str, Any]:
        """Generations, per-stream writes and drops."""
        with self._lock:
            return {
                "generations": self._generation,
                "per_stream_writes": dict(self._writes),
                "per_stream_drops": dict(self._drops),
                "jitter_us": self._jitter_s * 1e6,
                "drop_probability": self._drop,
            }
