"""Synthetic shared-memory inputs for testing and interactive demos.

A synthetic input fills a source stream with generated frames so a pipeline
can run without its real producer (demos, smoke tests, regression scenarios).
What the frames are (patterns, determinism, dtype rules, the configuration)
is :mod:`shmpipeline.synthetic_frames`, re-exported here; this module holds
the background writer that paces them into a stream.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from .synthetic_frames import (
    SyntheticInputConfig,
    SyntheticPatternGenerator,
    available_synthetic_patterns,
    parse_synthetic_shorthand,
)

__all__ = [
    "available_synthetic_patterns",
    "SyntheticInputConfig",
    "SyntheticPatternGenerator",
    "SyntheticSourceController",
    "parse_synthetic_shorthand",
]

_log = logging.getLogger(__name__)

_PATTERNS = ("constant", "random", "ramp", "sine", "impulse", "checkerboard")

#: Published frame ids are the pattern index plus this, so the ids a
#: controller writes to a fresh stream equal the stream's write count and
#: frame id 0 keeps meaning "nothing written yet".
FRAME_ID_OFFSET = 1

#: A paced writer more than this many seconds behind its schedule (machine
#: stalled, or a rate the stream cannot sustain) restarts its schedule from
#: "now" instead of bursting to catch up.
MAX_LAG_S = 1.0


# --- background writer -------------------------------------------------------------


class SyntheticSourceController:
    """Background writer that feeds a stream with synthetic test frames.

    The controller owns the worker thread and the timing loop for one active
    synthetic input source. Frame ``n`` of the pattern is published with
    ``frame_id = n + 1`` (see :data:`FRAME_ID_OFFSET`), zero-copy through
    ``write_view`` when the stream has one. ``rate_hz=None`` writes as fast as
    possible; otherwise frame ``n`` is due at ``start + n / rate_hz`` (absolute
    deadlines, so timing errors do not accumulate). A failed write stops the
    thread and is reported by :meth:`snapshot` as ``last_error``.
    """

    def __init__(
        self, stream: Any, spec: SyntheticInputConfig | Mapping[str, Any]
    ) -> None:
        if not isinstance(spec, SyntheticInputConfig):
            spec = SyntheticInputConfig.from_dict(spec)
        self.stream = stream
        self.spec = spec
        gpu = getattr(stream, "storage", "cpu") == "gpu" or bool(
            getattr(stream, "gpu_enabled", False)
        )
        self._storage = "gpu" if gpu else "cpu"
        # Frames are made on the host: in place in a host stream's next slot
        # (zero copy), else in one reused buffer handed to ``stream.write``
        # (a GPU stream uploads it; no tensor is allocated per frame).
        self._generator = SyntheticPatternGenerator(
            spec, shape=tuple(stream.shape), dtype=stream.dtype, storage="cpu"
        )
        self._zero_copy = not gpu and hasattr(stream, "write_view")
        self._host = np.empty(self._generator.shape, dtype=self._generator.dtype)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_index = 0
        self._frames_written = 0
        self._late_frames = 0
        self._schedule_resets = 0
        self._started_at: float | None = None  # wall clock, for display
        self._started_mono: float | None = None
        self._stopped_mono: float | None = None
        self._frames_at_start = 0
        self._last_write_time: float | None = None
        self._last_write_duration_s: float | None = None
        self._last_frame_id: int | None = None
        self._last_error: str | None = None

    @property
    def generator(self) -> SyntheticPatternGenerator:
        """The pattern generator (``generator.frame(frame_id - 1)`` reproduces
        a published frame)."""
        return self._generator

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the background writer thread.

        A no-op while running; after :meth:`stop` it resumes with the next
        frame index.
        """
        if self.running:
            return
        self._stop.clear()
        with self._lock:
            self._last_error = None
            self._started_at = time.time()
            self._started_mono = time.monotonic()
            self._stopped_mono = None
            self._frames_at_start = self._frames_written
        self._thread = threading.Thread(
            target=self._run,
            name=f"shmpipeline-synthetic-{self.spec.stream_name}",
            daemon=True,
        )
        self._thread.start()

    def stop(self, *, timeout: float = 2.0) -> None:
        """Request that the background writer stop and wait for it."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout=timeout)
        if thread.is_alive():
            _log.warning(
                "synthetic input %r: writer thread did not stop within %.3g s",
                self.spec.stream_name,
                timeout,
            )

    def snapshot(self) -> dict[str, Any]:
        """Return a stable status snapshot for GUI and CLI consumers."""
        with self._lock:
            written = self._frames_written
            started = self._started_mono
            end = (
                self._stopped_mono
                if self._stopped_mono is not None
                else time.monotonic()
            )
            elapsed = 0.0 if started is None else max(0.0, end - started)
            in_run = written - self._frames_at_start
            rate = in_run / elapsed if elapsed > 0 else 0.0
            snap = {
                "stream_name": self.spec.stream_name,
                "pattern": self.spec.pattern,
                "rate_hz": self.spec.rate_hz,
                "requested_rate_hz": self.spec.rate_hz,
                "seed": self.spec.seed,
                "amplitude": self.spec.amplitude,
                "offset": self.spec.offset,
                "period": self.spec.period,
                "constant": self.spec.constant,
                "impulse_interval": self.spec.impulse_interval,
                "shape": list(self._generator.shape),
                "dtype": str(self._generator.dtype),
                "storage": self._storage,
                "alive": self.running,
                "frames_written": written,
                "last_frame_id": self._last_frame_id,
                "effective_rate_hz": rate,
                "elapsed_s": elapsed,
                "late_frames": self._late_frames,
                "schedule_resets": self._schedule_resets,
                "started_at": self._started_at,
                "last_write_time": self._last_write_time,
                "last_write_duration_ms": (
                    None
                    if self._last_write_duration_s is None
                    else 1000.0 * self._last_write_duration_s
                ),
                "last_error": self._last_error,
            }
        return snap

    # --- the writer thread -------------------------------------------------------------

    def _write(self, n: int, frame_id: int) -> None:
        stream = self.stream
        if self._zero_copy:
            with stream.write_view(frame_id=frame_id) as buf:
                self._generator.frame_into(n, buf)
        else:
            stream.write(self._generator.frame_into(n, self._host), frame_id=frame_id)

    def _run(self) -> None:
        stop = self._stop
        clock = time.monotonic
        rate = self.spec.rate_hz
        base_time = clock()
        base_index = self._next_index
        try:
            while not stop.is_set():
                n = self._next_index
                if rate is not None:
                    due = base_time + (n - base_index) / rate
                    remaining = due - clock()
                    if remaining > 0:
                        if stop.wait(remaining):
                            break
                    elif -remaining > MAX_LAG_S:
                        base_time, base_index = clock(), n
                        with self._lock:
                            self._schedule_resets += 1
                    elif remaining < -1.0 / rate:
                        with self._lock:
                            self._late_frames += 1
                frame_id = n + FRAME_ID_OFFSET
                began = clock()
                self._write(n, frame_id)
                ended = clock()
                self._next_index = n + 1
                with self._lock:
                    self._frames_written += 1
                    self._last_frame_id = frame_id
                    self._last_write_time = time.time()
                    self._last_write_duration_s = ended - began
        except Exception as exc:  # noqa: BLE001 - reported through snapshot()
            _log.error(
                "synthetic input %r stopped: %s: %s",
                self.spec.stream_name,
                type(exc).__name__,
                exc,
            )
            with self._lock:
                self._last_error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._stopped_mono = clock()
