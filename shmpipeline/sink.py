"""Sink plugins: manager-owned threads that consume frames of one stream.

A sink implements :meth:`Sink.consume` (one payload at a time). A stateful
sink declaring ``outputs:`` overrides :meth:`Sink.consume_publication`,
receiving the frame with its metadata (:class:`~shmpipeline.endpoint.
Publication`) and writers for its outputs, and should write feedback with the
publication's ``frame_id``. Register one with ``KernelRegistry.register_sink``
or the entry-point group ``shmpipeline.sinks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shmpipeline.config import SharedMemoryConfig, SinkConfig
from shmpipeline.endpoint import Endpoint, Publication
from shmpipeline.errors import ConfigValidationError
from shmpipeline.stream_handle import StreamHandle

__all__ = ["Publication", "Sink", "SinkContext"]


def _cwd() -> Path:
    return Path.cwd().resolve()


@dataclass(frozen=True)
class SinkContext:
    """What one sink instance knows: its config, the stream specs, the
    directory its parameters resolve against, and its auxiliary handles."""

    config: SinkConfig
    shared_memory: Mapping[str, SharedMemoryConfig]
    config_base_dir: Path = field(default_factory=_cwd)
    auxiliary_streams: Mapping[str, StreamHandle] = field(default_factory=dict)

    @property
    def stream_spec(self) -> SharedMemoryConfig:
        """The spec of the stream the sink consumes."""
        return self.shared_memory[self.config.stream]

    @property
    def output_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Specs of the declared outputs, in write order."""
        return tuple(self.shared_memory[n] for n in self.config.output_streams)

    @property
    def auxiliary_specs(self) -> dict[str, SharedMemoryConfig]:
        """Auxiliary stream specs keyed by alias."""
        return {b.alias: self.shared_memory[b.name] for b in self.config.auxiliary}


class Sink(Endpoint):
    """Base class of sink plugins (see the module docstring)."""

    kind = "sink.base"
    storage = "cpu"

    def __init__(self, context: SinkContext) -> None:
        super().__init__()
        self.context = context

    @classmethod
    def validate_config(
        cls, config: SinkConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Check the sink against the streams (default: storage classes)."""
        for name in (config.stream, *config.auxiliary_names, *config.output_streams):
            spec = shared_memory.get(name)
            if spec is None:
                raise ConfigValidationError(
                    f"sink {config.name!r}: undefined shared memory {name!r}"
                )
            if spec.storage != cls.storage:
                raise ConfigValidationError(
                    f"sink {config.name!r} of kind {cls.kind!r} requires "
                    f"{cls.storage} shared memory for {name!r}"
                )

    def open(self) -> None:
        """Acquire resources before the thread starts."""

    def consume(self, value: Any) -> None:
        """Handle one payload of the stream."""
        raise NotImplementedError(f"sink kind {self.kind!r} must implement consume()")

    def consume_publication(
        self, publication: Publication, writers: Mapping[str, StreamHandle]
    ) -> None:
        """Handle one frame with its metadata; the default calls
        :meth:`consume` with the payload."""
        del writers
        self.consume(publication.payload)

    def close(self) -> None:
        """Release resources (called once, after the thread ends)."""
