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
from dataclasses import dataclass
from typing import Any

from shmpipeline.config import SharedMemoryConfig, SinkConfig
from shmpipeline.endpoint import Endpoint, EndpointContext, Publication
from shmpipeline.stream_handle import StreamHandle

__all__ = ["Publication", "Sink", "SinkContext"]


@dataclass(frozen=True)
class SinkContext(EndpointContext):
    """What one sink instance knows: its config, the stream specs, the
    directory its parameters resolve against, and its auxiliary handles
    (``stream_spec`` is the stream the sink consumes, ``output_specs`` its
    declared outputs)."""

    config: SinkConfig


class Sink(Endpoint):
    """Base class of sink plugins (see the module docstring)."""

    kind = "sink.base"
    role = "sink"
    storage = "cpu"

    def __init__(self, context: SinkContext) -> None:
        super().__init__()
        self.context = context

    @classmethod
    def validate_config(
        cls, config: SinkConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Check the sink against the streams (default: storage classes)."""
        names = (config.stream, *config.auxiliary_names, *config.output_streams)
        cls.check_streams(config, names, shared_memory)

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
