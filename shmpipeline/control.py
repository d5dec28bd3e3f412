"""The control and statistics block shared by the manager and one worker.

A small float64 array in anonymous shared memory (``multiprocessing``
RawArray: no named segment, so nothing can leak in /dev/shm). The manager
writes the command; the worker acknowledges it and publishes its counters.
Single 8-byte stores are atomic on the platforms we run on, and each field
has exactly one writer, so no lock is needed.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

# commands (manager -> worker) and acknowledgements (worker -> manager)
RUN, PAUSE, STOP = 0.0, 1.0, 2.0

# field offsets
CMD = 0  # manager: requested mode
ACK = 1  # worker: mode it is in
FRAMES = 2  # worker: frames computed
LAST_FRAME_ID = 3  # worker: frame id of the last published output
COMPUTE_NS_SUM = 4  # worker: total compute time
HEARTBEAT_NS = 5  # worker: CLOCK_MONOTONIC of the last loop turn
SYNC_SKEW_EVENTS = 6  # worker: fan-in trigger sets seen with mismatched tokens
SYNC_SKIPPED_GENERATIONS = 7  # worker: fan-in lagging frames dropped
SYNC_TIMEOUTS = 8  # worker: fan-in sets abandoned (skew too wide, max_wait_s)
HEADER_FIELDS = 12
RING = 1024  # recent compute times (and completion times) kept for percentiles


class ControlBlock:
    """Typed view over one worker's shared RawArray."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.array = np.frombuffer(raw, dtype=np.float64)
        self.fields = self.array[:HEADER_FIELDS]
        self.ring = self.array[HEADER_FIELDS : HEADER_FIELDS + RING]
        #: CLOCK_MONOTONIC ns at which each recent frame was computed
        self.done = self.array[HEADER_FIELDS + RING :]

    @classmethod
    def allocate(cls, mp_context: Any) -> ControlBlock:
        block = cls(mp_context.RawArray("d", HEADER_FIELDS + 2 * RING))
        block.fields[LAST_FRAME_ID] = -1
        return block

    def reset(self) -> None:
        """Back to a fresh block (command RUN, no frames): a pooled worker's
        block is reused by the next kernel it runs."""
        self.array[:] = 0.0
        self.fields[LAST_FRAME_ID] = -1

    def __reduce__(self):
        return (ControlBlock, (self.raw,))

    # -- worker side --------------------------------------------------------
    def record_frame(self, compute_ns: int, frame_id: int) -> None:
        fields = self.fields
        n = int(fields[FRAMES])
        self.ring[n % RING] = compute_ns
        self.done[n % RING] = time.monotonic_ns()
        fields[COMPUTE_NS_SUM] += compute_ns
        fields[LAST_FRAME_ID] = frame_id
        fields[FRAMES] = n + 1

    def record_sync(self, metrics: Any) -> None:
        """Publish a fan-in's :class:`~shmpipeline.triggers.FanInMetrics`."""
        fields = self.fields
        fields[SYNC_SKEW_EVENTS] = metrics.skew_events
        fields[SYNC_SKIPPED_GENERATIONS] = metrics.skipped_generations
        fields[SYNC_TIMEOUTS] = metrics.timeouts

    # -- manager side -------------------------------------------------------
    @property
    def command(self) -> float:
        return float(self.fields[CMD])

    @command.setter
    def command(self, value: float) -> None:
        self.fields[CMD] = value

    @property
    def ack(self) -> float:
        return float(self.fields[ACK])

    def stats(self) -> dict[str, Any]:
        """Frames processed, last frame id, mean/p99 compute time (µs), fan-in
        counters, and the published per-worker names (avg_exec_us,
        jitter_us_rms, throughput_hz, metrics_window ...)."""
        frames = int(self.fields[FRAMES])
        recent = self.ring[: min(frames, RING)]
        return {
            "frames_processed": frames,
            "last_frame_id": int(self.fields[LAST_FRAME_ID]),
            "compute_mean_us": (
                float(self.fields[COMPUTE_NS_SUM]) / frames / 1e3 if frames else None
            ),
            "compute_p99_us": (
                float(np.percentile(recent, 99)) / 1e3 if recent.size else None
            ),
            "frame_sync_skew_events": int(self.fields[SYNC_SKEW_EVENTS]),
            "frame_sync_skipped_generations": int(
                self.fields[SYNC_SKIPPED_GENERATIONS]
            ),
            "frame_sync_timeouts": int(self.fields[SYNC_TIMEOUTS]),
            **self._rolling(frames, recent),
        }

    def _rolling(self, frames: int, recent: np.ndarray) -> dict[str, float | int]:
        """The published package's rolling figures over the recent frames
        (0.0 before the first frame, as there)."""
        window = int(recent.size)
        if not window:
            return {"last_exec_us": 0.0, "last_exec_ms": 0.0, "avg_exec_us": 0.0,
                    "avg_exec_ms": 0.0, "jitter_us_rms": 0.0, "throughput_hz": 0.0,
                    "metrics_window": 0}
        last = float(self.ring[(frames - 1) % RING]) / 1e3
        mean = float(recent.mean()) / 1e3
        span_ns = self.done[(frames - 1) % RING] - self.done[(frames - window) % RING]
        return {
            "last_exec_us": last,
            "last_exec_ms": last / 1e3,
            "avg_exec_us": mean,
            "avg_exec_ms": mean / 1e3,
            "jitter_us_rms": float(recent.std()) / 1e3,
            "throughput_hz": (window - 1) / (span_ns / 1e9) if span_ns > 0 else 0.0,
            "metrics_window": window,
        }


__all__ = ["ControlBlock", "RUN", "PAUSE", "STOP"]
