"""``synthetic.array``: deterministic pattern frames into one stream.

Parameters are those of a synthetic input (``pattern``, ``seed``,
``amplitude``, ``offset``, ``period``, ``constant``, ``impulse_interval``) and
``rate_hz`` (null: as fast as possible). Frame ``n`` is the pattern's frame
``n`` (see :mod:`shmpipeline.synthetic`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shmpipeline.config import SharedMemoryConfig, SourceConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.source import Source
from shmpipeline.sources._pacing import Pacer, pattern_config, positive_rate
from shmpipeline.synthetic import SyntheticPatternGenerator

__all__ = ["SyntheticArraySource"]


class SyntheticArraySource(Source):
    """Publish deterministic synthetic frames into one stream."""

    kind = "synthetic.array"

    @classmethod
    def validate_config(
        cls, config: SourceConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Any storage; one stream; valid pattern parameters and rate."""
        if len(config.output_streams) != 1:
            raise ConfigValidationError(
                f"source {config.name!r}: synthetic.array writes one stream; use "
                "synthetic.frame_set for several"
            )
        if config.stream not in shared_memory:
            raise ConfigValidationError(
                f"source {config.name!r}: undefined shared memory {config.stream!r}"
            )
        positive_rate(config)
        pattern_config(config, config.stream, ("rate_hz",))

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        config = context.config
        spec = context.stream_spec
        self._pacer = Pacer(positive_rate(config), self.wait)
        self._generator = SyntheticPatternGenerator(
            pattern_config(config, config.stream, ("rate_hz",)),
            shape=spec.shape, dtype=spec.dtype, storage=spec.storage,
            gpu_device=spec.gpu_device,
        )

    def read(self) -> Any:
        """The next frame, at ``rate_hz``."""
        if self._pacer.pace():
            return None
        return self._generator.next_frame()
