"""What a scenario run produced: :class:`ReplayResult`, its
:class:`FailureInfo` and :class:`LatencyStats` (shared by the replay and the
inline executor)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["FailureInfo", "LatencyStats", "ReplayResult"]


@dataclass(frozen=True)
class FailureInfo:
    """A run that ended early: the kernel that failed (``None`` when the
    driver gave up, e.g. a timeout), its error text, and the frame index."""

    kernel: str | None
    error: str
    frame: int | None = None
    traceback: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kernel": self.kernel,
            "error": self.error,
            "frame": self.frame,
        }


@dataclass(frozen=True)
class LatencyStats:
    """Timing of a run, in microseconds.

    Lockstep: ``latency`` is the round trip of one frame (driver write to
    every kernel published). Free-running: source write to sink publish for
    every frame a sink delivered. ``dropped`` counts frames written to the
    sources that a sink never delivered (the worst sink); ``source_dropped``
    those a fake did not deliver at all.
    """

    count: int
    p50_us: float | None
    p99_us: float | None
    max_us: float | None
    mean_us: float | None
    frames_written: int
    dropped: int = 0
    source_dropped: int = 0
    per_sink_delivered: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({})
    )
    elapsed_s: float | None = None

    @classmethod
    def from_samples(cls, samples_ns: Iterable[int], **extra: Any) -> LatencyStats:
        data = np.asarray(list(samples_ns), dtype=np.float64) / 1e3
        if data.size == 0:
            return cls(0, None, None, None, None, **extra)
        return cls(
            int(data.size),
            float(np.percentile(data, 50)),
            float(np.percentile(data, 99)),
            float(data.max()),
            float(data.mean()),
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
            "max_us": self.max_us,
            "mean_us": self.mean_us,
            "frames_written": self.frames_written,
            "dropped": self.dropped,
            "source_dropped": self.source_dropped,
            "per_sink_delivered": dict(self.per_sink_delivered),
            "elapsed_s": self.elapsed_s,
        }

    def format(self) -> str:
        def us(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} us"

        return (
            f"latency p50 {us(self.p50_us)}, p99 {us(self.p99_us)}, max "
            f"{us(self.max_us)} over {self.count} frames; {self.frames_written} "
            f"written, {self.dropped} dropped by the pipeline, "
            f"{self.source_dropped} by the sources"
        )


@dataclass(frozen=True)
class ReplayResult:
    """What one run of a scenario produced.

    ``captures`` maps each captured stream to a ``(frames_completed, *shape)``
    array (row ``k``: the stream after frame ``k``; empty when
    free-running). ``dropped_frames`` are the frame indices at which some
    source delivered nothing. ``executor`` is ``replay`` or ``inline``.
    """

    scenario: str
    executor: str
    mode: str
    frames: int
    frames_completed: int
    captures: Mapping[str, np.ndarray]
    failure: FailureInfo | None = None
    latency: LatencyStats | None = None
    dropped_frames: tuple[int, ...] = ()
    expected_failure: Any = None  # ExpectedFailure | None

    @property
    def failed(self) -> bool:
        """Whether the run ended with a failure (expected or not)."""
        return self.failure is not None

    @property
    def expected_failure_met(self) -> bool:
        """Whether the scenario expected a failure and got exactly it."""
        if self.expected_failure is None or self.failure is None:
            return False
        return self.expected_failure.matches(self.failure.kernel, self.failure.error)

    @property
    def ok(self) -> bool:
        """No failure when none was expected; the expected one otherwise."""
        if self.expected_failure is not None:
            return self.expected_failure_met
        return self.failure is None

    def problem(self) -> str | None:
        """Why the run is not :attr:`ok` (``None`` when it is)."""
        if self.ok:
            return None
        expected = self.expected_failure
        failure = self.failure
        if expected is not None:
            want = f"kernel {expected.kernel!r} to fail"
            if expected.error is not None:
                want += f" with {expected.error!r}"
            if failure is None:
                return (
                    f"expected {want}, but all {self.frames_completed} frames ran "
                    "without error"
                )
            who = f"kernel {failure.kernel!r}" if failure.kernel else "the run"
            return f"expected {want}, but {who} failed at frame {failure.frame}: {failure.error}"
        assert failure is not None
        who = f"kernel {failure.kernel!r}" if failure.kernel else "the run"
        return f"{who} failed at frame {failure.frame}: {failure.error}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "executor": self.executor,
            "mode": self.mode,
            "frames": self.frames,
            "frames_completed": self.frames_completed,
            "captured": {
                name: {"shape": list(a.shape), "dtype": str(a.dtype)}
                for name, a in self.captures.items()
            },
            "failure": None if self.failure is None else self.failure.to_dict(),
            "expected_failure_met": self.expected_failure_met,
            "latency": None if self.latency is None else self.latency.to_dict(),
            "dropped_frames": list(self.dropped_frames),
            "ok": self.ok,
        }
