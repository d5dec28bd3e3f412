"""The threads that drive source and sink plugins inside the manager.

One :class:`SourceRunner` / :class:`SinkRunner` per configured endpoint: it
opens the plugin, loops until stopped (honouring pause), counts frames with a
rolling rate, and on any exception records the failure (name, error,
traceback) in the same shape as a worker failure, closes the plugin and ends.
The manager polls :meth:`EndpointRunner.take_failure` and stops the pipeline.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shmpipeline.endpoint import Publication
from shmpipeline.stream_handle import StreamHandle

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "EndpointRunner",
    "EndpointSet",
    "SinkRunner",
    "SourceRunner",
    "rolling_rate_hz",
]

#: completions kept for the rolling rate
RATE_WINDOW = 256
#: longest single wait of a sink thread, so stop requests are seen quickly
_MAX_WAIT_SLICE = 0.05

log = logging.getLogger("shmpipeline.endpoints")


def rolling_rate_hz(times: deque[float]) -> float:
    """Frames per second over the recorded completion times (0 below two)."""
    if len(times) < 2:
        return 0.0
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else 0.0


def _call(func: Callable[[], Any], timeout: float | None, pool: Any, label: str) -> Any:
    """``func()``, or under a soft ``timeout`` on ``pool`` (TimeoutError)."""
    if timeout is None or pool is None:
        return func()
    future = pool.submit(func)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise TimeoutError(f"{label} exceeded its {timeout:g} s timeout") from None


class EndpointRunner:
    """Thread, events, counters and failure record shared by both runners."""

    role = "endpoint"

    def __init__(
        self, plugin: Any, config: Any, pause_event: threading.Event,
        call_timeout: float | None,
    ) -> None:
        self.plugin = plugin
        self.config = config
        self._pause = pause_event
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._frames = 0
        self._times: deque[float] = deque(maxlen=RATE_WINDOW)
        self._started_mono: float | None = None
        self._started_wall: float | None = None
        self._last_time: float | None = None
        self._last_duration: float | None = None
        self._error: str | None = None
        self._traceback: str | None = None
        self._error_type = ""
        self._reported = False
        self._timeout = call_timeout
        self._pool = (
            concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"shmpipeline-{self.role}-call"
            )
            if call_timeout is not None
            else None
        )
        self._thread = threading.Thread(
            target=self._main, name=f"shmpipeline-{self.role}-{config.name}",
            daemon=True,
        )
        plugin.attach_runtime_events(stop_event=self._stop, pause_event=pause_event)

    # lifecycle ----------------------------------------------------------------

    def start(self) -> None:
        """Open the plugin (in the caller: errors raise) and start the thread."""
        self.plugin.open()
        self._started_wall = time.time()
        self._started_mono = time.perf_counter()
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to end (it sees it within one wait slice)."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` for the thread to end."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def _main(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            log.error("%s %r failed: %s", self.role, self.config.name, exc)
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
                self._error_type = type(exc).__name__
                self._traceback = traceback.format_exc()
        finally:
            try:
                self.plugin.close()
            except Exception:
                log.exception("%s %r: close() failed", self.role, self.config.name)
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _completed(self, count: int, started: float, finished: float) -> None:
        with self._lock:
            self._frames += count
            self._times.append(finished)
            self._last_time = time.time()
            self._last_duration = finished - started

    # reporting ----------------------------------------------------------------

    def take_failure(self) -> dict[str, Any] | None:
        """The failure event, once (``None`` when healthy or already taken)."""
        with self._lock:
            if self._error is None or self._reported:
                return None
            self._reported = True
            return {
                "type": "failed",
                "kernel": self.config.name,
                "component_type": self.role,
                "kind": self.config.kind,
                "stream": self.config.stream,
                "pid": os.getpid(),
                "time": time.time(),
                "where": "process",
                "error_type": self._error_type,
                "message": f"{self.role} {self.config.name!r} failed: {self._error}",
                "traceback": self._traceback,
                "exitcode": None,
            }

    def _last_duration_ms(self) -> float | None:
        """How long the last completed step took, in ms (``None`` before one)."""
        if self._last_duration is None:
            return None
        return 1000.0 * self._last_duration

    def _base_snapshot(self) -> dict[str, Any]:
        elapsed = (
            0.0 if self._started_mono is None
            else max(0.0, time.perf_counter() - self._started_mono)
        )
        try:
            metrics = self.plugin.plugin_metrics()
        except Exception as exc:  # a plugin's metrics must not break status
            metrics = {"error": f"{type(exc).__name__}: {exc}"}
        return {
            "name": self.config.name,
            "kind": self.config.kind,
            "stream": self.config.stream,
            "alive": self._thread.is_alive(),
            "effective_rate_hz": self._frames / elapsed if elapsed > 0 else 0.0,
            "throughput_hz": rolling_rate_hz(self._times),
            "started_at": self._started_wall,
            "last_error": self._error,
            "plugin_metrics": metrics,
        }


class SourceRunner(EndpointRunner):
    """Drives one source: ``read()`` into its stream, or ``produce(writers)``."""

    role = "source"

    def __init__(
        self, plugin: Any, config: Any, writers: Mapping[str, StreamHandle],
        pause_event: threading.Event,
    ) -> None:
        super().__init__(plugin, config, pause_event, config.read_timeout)
        self._writers = dict(writers)
        self._coordinated = len(config.output_streams) > 1

    def _loop(self) -> None:
        poll = self.config.poll_interval
        stream = self._writers[self.config.stream]
        name = self.config.name
        while not self._stop.is_set():
            if self._pause.is_set():
                self._stop.wait(poll)
                continue
            started = time.perf_counter()
            if self._coordinated:
                produced = _call(
                    lambda: self.plugin.produce(self._writers), self._timeout,
                    self._pool, f"source {name!r} produce()",
                )
                count = int(produced or 0)
            else:
                payload = _call(
                    self.plugin.read, self._timeout, self._pool,
                    f"source {name!r} read()",
                )
                count = 0
                if payload is not None:
                    started = time.perf_counter()
                    stream.write(payload)
                    count = 1
            if not count:
                self._stop.wait(poll)
                continue
            self._completed(count, started, time.perf_counter())

    def snapshot(self) -> dict[str, Any]:
        """JSON-friendly status of this source."""
        with self._lock:
            out = self._base_snapshot()
            out.update(
                streams=list(self.config.output_streams),
                poll_interval=self.config.poll_interval,
                frames_written=self._frames,
                coordinated_generation_count=self._frames,
                last_write_time=self._last_time,
                last_write_duration_ms=self._last_duration_ms(),
            )
            return out


class SinkRunner(EndpointRunner):
    """Drives one sink: each new frame of its stream to ``consume_publication``."""

    role = "sink"

    def __init__(
        self, plugin: Any, config: Any, stream: StreamHandle,
        writers: Mapping[str, StreamHandle],
        pause_event: threading.Event,
    ) -> None:
        super().__init__(plugin, config, pause_event, config.consume_timeout)
        self._stream = stream
        self._writers = dict(writers)
        self._missed = 0

    def _loop(self) -> None:
        from shmpipeline.stream import empty_frame

        stream = self._stream
        last = stream.count
        wait_slice = min(float(self.config.read_timeout), _MAX_WAIT_SLICE)
        name = self.config.name
        while not self._stop.is_set():
            if self._pause.is_set():
                self._stop.wait(self.config.pause_sleep)
                last = stream.count
                continue
            if stream.wait_new(last, timeout=wait_slice) == last:
                continue
            payload = empty_frame(stream)  # a device tensor for gpu streams
            count = stream.read_into(payload)
            if count <= last:
                continue
            publication = Publication(
                payload=payload,
                count=count,
                frame_id=int(stream.last_frame_id),
                write_time=float(stream.write_time),
                missed_publications=max(0, count - last - 1),
            )
            started = time.perf_counter()
            _call(
                lambda publication=publication: self.plugin.consume_publication(
                    publication, self._writers
                ),
                self._timeout, self._pool, f"sink {name!r} consume()",
            )
            with self._lock:
                self._missed += publication.missed_publications
            last = count
            self._completed(1, started, time.perf_counter())

    def snapshot(self) -> dict[str, Any]:
        """JSON-friendly status of this sink."""
        with self._lock:
            out = self._base_snapshot()
            out.update(
                outputs=list(self.config.output_streams),
                read_timeout=self.config.read_timeout,
                pause_sleep=self.config.pause_sleep,
                frames_consumed=self._frames,
                missed_writes=self._missed,
                last_read_time=self._last_time,
                last_read_duration_ms=self._last_duration_ms(),
            )
            return out


class EndpointSet:
    """Every source and sink runner of one started pipeline.

    ``start`` builds the plugins through the registry (sinks first, so they
    see the sources' first frames), ``stop`` ends sources, then sinks.
    """

    def __init__(self) -> None:
        self.pause = threading.Event()
        self.sources: dict[str, SourceRunner] = {}
        self.sinks: dict[str, SinkRunner] = {}

    @classmethod
    def start(
        cls, config: Any, registry: KernelRegistry,
        streams: Mapping[str, StreamHandle], base_dir: Any,
        shared_memory: Mapping[str, Any] | None = None,
    ) -> EndpointSet:
        """Create, open and start every endpoint of ``config``; on an error,
        the ones already started are stopped and the error raised."""
        endpoints = cls()
        specs = shared_memory if shared_memory is not None else config.shared_memory_by_name
        try:
            for sink_config in config.sinks:
                sink = registry.create_sink(
                    sink_config, specs, streams, config_base_dir=base_dir
                )
                runner = SinkRunner(
                    sink, sink_config, streams[sink_config.stream],
                    {name: streams[name] for name in sink_config.output_streams},
                    endpoints.pause,
                )
                runner.start()
                endpoints.sinks[sink_config.name] = runner
            for source_config in config.sources:
                source = registry.create_source(
                    source_config, specs, streams, config_base_dir=base_dir
                )
                runner = SourceRunner(
                    source, source_config,
                    {name: streams[name] for name in source_config.output_streams},
                    endpoints.pause,
                )
                runner.start()
                endpoints.sources[source_config.name] = runner
        except BaseException:
            endpoints.stop(timeout=1.0)
            raise
        return endpoints

    def __bool__(self) -> bool:
        return bool(self.sources or self.sinks)

    def stop(self, *, timeout: float = 2.0) -> None:
        """Stop sources, then sinks, each waited for up to ``timeout``."""
        for group in (self.sources, self.sinks):
            for runner in group.values():
                runner.request_stop()
            for runner in group.values():
                runner.join(timeout)

    def take_failures(self) -> list[dict[str, Any]]:
        """New failure events of any endpoint."""
        found = []
        for runner in (*self.sources.values(), *self.sinks.values()):
            failure = runner.take_failure()
            if failure is not None:
                found.append(failure)
        return found

    def source_status(self) -> dict[str, dict[str, Any]]:
        """Status of every source by name."""
        return {name: r.snapshot() for name, r in self.sources.items()}

    def sink_status(self) -> dict[str, dict[str, Any]]:
        """Status of every sink by name."""
        return {name: r.snapshot() for name, r in self.sinks.items()}
