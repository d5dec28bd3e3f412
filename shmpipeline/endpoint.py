"""What source and sink plugins share: cooperative stop/pause and auxiliaries.

Sources and sinks run in threads the manager owns (not in worker processes):
they talk to cameras, files, deformable mirrors... The manager attaches a stop
and a pause event to each; :class:`Endpoint` gives plugins the cooperative
helpers built on them. :class:`Publication` is one frame as a sink receives it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["Endpoint", "Publication"]


@dataclass(frozen=True)
class Publication:
    """One frame read by a sink: the payload and the stream's metadata.

    ``count`` is the stream's publication count of this frame, ``frame_id``
    its token, ``write_time`` when it was written (seconds since the epoch),
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
