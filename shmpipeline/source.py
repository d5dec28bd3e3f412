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
from dataclasses import dataclass
from typing import Any

from shmpipeline.config import SharedMemoryConfig, SourceConfig
from shmpipeline.endpoint import Endpoint, EndpointContext
from shmpipeline.stream_handle import StreamHandle

__all__ = ["Source", "SourceContext"]


@dataclass(frozen=True)
class SourceContext(EndpointContext):
    """What one source instance knows: its config, the stream specs, the
    directory its parameters resolve against, and its auxiliary handles
    (``stream_spec`` is the first stream the source writes)."""

    config: SourceConfig


class Source(Endpoint):
    """Base class of source plugins (see the module docstring)."""

    kind = "source.base"
    role = "source"
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
        names = (*config.output_streams, *config.auxiliary_names)
        cls.check_streams(config, names, shared_memory)

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
