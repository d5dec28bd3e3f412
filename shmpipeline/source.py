"""Source plugins: manager-owned threads that publish frames into streams.

A source implements :meth:`Source.read` (one payload per call for its one
``stream``; ``None`` when nothing is ready) or, for coordinated multi-stream
sources declaring ``streams:``, :meth:`Source.produce` (write every stream of
one generation through the given writers). Register one with
``KernelRegistry.register_source`` or the entry-point group
``shmpipeline.sources``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shmpipeline.config import SharedMemoryConfig, SourceConfig
from shmpipeline.endpoint import Endpoint
from shmpipeline.errors import ConfigValidationError
from shmpipeline.stream_handle import StreamHandle

__all__ = ["Source", "SourceContext"]


def _cwd() -> Path:
    return Path.cwd().resolve()


@dataclass(frozen=True)
class SourceContext:
    """What one source instance knows: its config, the stream specs, the
    directory its parameters resolve against, and its auxiliary handles."""

    config: SourceConfig
    shared_memory: Mapping[str, SharedMemoryConfig]
    config_base_dir: Path = field(default_factory=_cwd)
    auxiliary_streams: Mapping[str, StreamHandle] = field(default_factory=dict)

    @property
    def stream_spec(self) -> SharedMemoryConfig:
        """The spec of the (first) stream the source writes."""
        return self.shared_memory[self.config.stream]

    @property
    def output_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Specs of every output stream, in write order."""
        return tuple(self.shared_memory[n] for n in self.config.output_streams)

    @property
    def auxiliary_specs(self) -> dict[str, SharedMemoryConfig]:
        """Auxiliary stream specs keyed by alias."""
        return {b.alias: self.shared_memory[b.name] for b in self.config.auxiliary}


class Source(Endpoint):
    """Base class of source plugins (see the module docstring)."""

    kind = "source.base"
    storage = "cpu"
    #: auxiliary aliases through which a lockstep source receives its response
    required_feedback_aliases: tuple[str, ...] = ()

    def __init__(self, context: SourceContext) -> None:
        super().__init__()
        self.context = context

    @classmethod
    def validate_config(
        cls, config: SourceConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Check the source against the streams (default: storage classes)."""
        for name in (*config.output_streams, *config.auxiliary_names):
            spec = shared_memory.get(name)
            if spec is None:
                raise ConfigValidationError(
                    f"source {config.name!r}: undefined shared memory {name!r}"
                )
            if spec.storage != cls.storage:
                raise ConfigValidationError(
                    f"source {config.name!r} of kind {cls.kind!r} requires "
                    f"{cls.storage} shared memory for {name!r}"
                )

    def open(self) -> None:
        """Acquire resources before the thread starts."""

    def read(self) -> Any | None:
        """The next payload for ``stream``, or ``None`` when none is ready."""
        raise NotImplementedError(
            f"source kind {self.kind!r} must implement read() or produce()"
        )

    def produce(self, writers: Mapping[str, StreamHandle]) -> int | None:
        """Publish one generation on every output through ``writers`` (stream
        name -> handle); return how many generations were produced (0/None:
        nothing, the runtime sleeps ``poll_interval``)."""
        raise NotImplementedError(
            f"source kind {self.kind!r} declares several output streams but does "
            "not implement produce()"
        )

    def close(self) -> None:
        """Release resources (called once, after the thread ends)."""
