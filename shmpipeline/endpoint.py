"""What source and sink plugins share: cooperative stop/pause and auxiliaries.

Sources and sinks run in threads the manager owns (not in worker processes):
they talk to cameras, files, deformable mirrors... The manager attaches a stop
and a pause event to each; :class:`Endpoint` gives plugins the cooperative
helpers built on them. :class:`Publication` is one frame as a sink receives it;
:class:`EndpointContext` is what an instance knows (its config, the stream
specs, its directory and auxiliary handles).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shmpipeline.config import SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.stream_handle import StreamHandle

__all__ = ["Endpoint", "EndpointContext", "Publication", "working_directory"]


def working_directory() -> Path:
    """The resolved current directory (where relative parameters resolve
    when the config names no directory)."""
    return Path.cwd().resolve()


@dataclass(frozen=True)
class EndpointContext:
    """What one source or sink instance knows: its config, the stream specs,
    the directory its parameters resolve against, and its auxiliary handles."""

    config: Any
    shared_memory: Mapping[str, SharedMemoryConfig]
    config_base_dir: Path = field(default_factory=working_directory)
    auxiliary_streams: Mapping[str, StreamHandle] = field(default_factory=dict)

    @property
    def stream_spec(self) -> SharedMemoryConfig:
        """The spec of the endpoint's ``stream`` (a source's first output, the
        stream a sink consumes)."""
        return self.shared_memory[self.config.stream]

    @property
    def output_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Specs of every output stream, in write order."""
        return tuple(self.shared_memory[n] for n in self.config.output_streams)

    @property
    def auxiliary_specs(self) -> dict[str, SharedMemoryConfig]:
        """Auxiliary stream specs keyed by alias."""
        return {b.alias: self.shared_memory[b.name] for b in self.config.auxiliary}


@dataclass(frozen=True)
class Publication:
    """One frame read by a sink: the payload and the stream's metadata.

    ``count`` is the stream's publication count of this frame, ``frame_id``
    its token, ``write_time`` when it was written (``time.monotonic()`` clock),
    ``missed_publications`` how many frames were published since the sink's
    previous frame and never handed to it.
    """

    payload: Any
    count: int
    frame_id: int
    write_time: float
    missed_publications: int = 0


class Endpoint:
    """Base of :class:`~shmpipeline.source.Source` and
    :class:`~shmpipeline.sink.Sink`: runtime events and small helpers."""

    context: Any
    #: how messages name this endpoint ("source" / "sink")
    role = "endpoint"
    kind = "endpoint.base"
    #: the storage class every stream of this endpoint must have
    storage = "cpu"

    def __init__(self) -> None:
        self._stop_event: threading.Event | None = None
        self._pause_event: threading.Event | None = None

    def attach_runtime_events(
        self, *, stop_event: threading.Event, pause_event: threading.Event
    ) -> None:
        """Called by the manager before :meth:`open` (the thread's events)."""
        self._stop_event = stop_event
        self._pause_event = pause_event

    # the published package's spelling of the same hook
    _attach_runtime_events = attach_runtime_events

    @classmethod
    def check_streams(
        cls,
        config: Any,
        names: Iterable[str],
        shared_memory: Mapping[str, SharedMemoryConfig],
    ) -> None:
        """Each named stream is defined and of this endpoint's storage class."""
        for name in names:
            spec = shared_memory.get(name)
            if spec is None:
                raise ConfigValidationError(
                    f"{cls.role} {config.name!r}: undefined shared memory {name!r}"
                )
            if spec.storage != cls.storage:
                raise ConfigValidationError(
                    f"{cls.role} {config.name!r} of kind {cls.kind!r} requires "
                    f"{cls.storage} shared memory for {name!r}"
                )

    def plugin_metrics(self) -> dict[str, Any]:
        """Plugin-specific figures merged into the status (cheap, thread-safe)."""
        return {}

    def stop_requested(self) -> bool:
        """Whether the manager asked this endpoint to stop."""
        return self._stop_event is not None and self._stop_event.is_set()

    def paused(self) -> bool:
        """Whether the pipeline is paused."""
        return self._pause_event is not None and self._pause_event.is_set()

    def wait(self, duration: float) -> bool:
        """Sleep up to ``duration`` seconds; ``True`` when a stop came first."""
        if self._stop_event is not None:
            return self._stop_event.wait(max(0.0, float(duration)))
        time.sleep(max(0.0, float(duration)))
        return False

    def read_auxiliary(self, alias: str, *, timeout: float = 0.01) -> Any | None:
        """The latest frame of auxiliary ``alias`` (a copy), or ``None`` while
        that stream has never been written."""
        del timeout  # reads are lock-free here: a torn frame is retried
        streams = getattr(self.context, "auxiliary_streams", {})
        stream = streams.get(alias)
        if stream is None or stream.count <= 0:
            return None
        return stream.read()
