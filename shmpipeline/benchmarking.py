"""Benchmark drivers for a running pipeline.

:func:`run_frame_benchmark` drives the pipeline's source streams itself and
times the sinks in two phases: a lockstep phase (write frame k, wait until
every sink published frame k) gives the latency; a pipelined phase (write
frame k once the first stages finished frame k-1) gives the throughput.

:func:`measure_output_rate` is the published shmpipeline's duration
benchmark: it lets the pipeline run (optionally fed by a synthetic input) for
a fixed time and reports the throughput and inter-arrival spacing at one
output stream. It measures spacing, not latency: a generic pipeline carries
no timestamps in its payload.

The command line (``shmpipeline benchmark``) parses options and calls these
functions; they take a built and started :class:`~shmpipeline.PipelineManager`
and return JSON-friendly reports, so scripts can call them too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import BenchmarkError, StateTransitionError
from .state import PipelineState

_log = logging.getLogger("shmpipeline.benchmarking")

__all__ = [
    "FrameBenchmarkDriver",
    "format_frame_report",
    "format_rate_report",
    "measure_output_rate",
    "percentiles_us",
    "run_frame_benchmark",
]


def percentiles_us(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p90/p99/mean/min/max of nanosecond samples, in microseconds."""
    data = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "p50": float(np.percentile(data, 50)),
        "p90": float(np.percentile(data, 90)),
        "p99": float(np.percentile(data, 99)),
        "mean": float(data.mean()),
        "min": float(data.min()),
        "max": float(data.max()),
    }


class FrameBenchmarkDriver:
    """Writes source frames and waits for frame ids at the sinks."""

    def __init__(self, manager: Any, config: Any, timeout: float) -> None:
        from .graph import PipelineGraph
        from .synthetic import SyntheticInputConfig, SyntheticPatternGenerator

        graph = PipelineGraph.from_config(config)
        self.manager = manager
        self.timeout = timeout
        specs = config.shared_memory_by_name
        triggers = {k.input for k in config.kernels}
        sources = list(graph.source_streams())
        self.trigger_sources = [name for name in sources if name in triggers]
        self.aux_sources = [name for name in sources if name not in triggers]
        self.sinks = list(graph.sink_streams())
        if not self.trigger_sources:
            raise BenchmarkError(
                "benchmark: the pipeline has no source stream that triggers a kernel"
            )
        if not self.sinks:
            raise BenchmarkError("benchmark: the pipeline has no sink stream to time")
        # The first stages: kernels triggered by a source; their outputs gate
        # the pipelined phase.
        self.first_outputs = sorted(
            {k.output for k in config.kernels if k.input in self.trigger_sources}
        )
        self.frames: dict[str, list[Any]] = {}
        for name in sources:
            spec = specs[name]
            gen = SyntheticPatternGenerator(
                SyntheticInputConfig(
                    name, pattern="random", seed=sources.index(name), amplitude=0.1
                ),
                shape=spec.shape,
                dtype=spec.dtype,
                storage=spec.storage,
                warn_fractional=False,  # the benchmark picks the pattern, not the user
                gpu_device=spec.gpu_device,
            )
            self.frames[name] = [gen.frame(0), gen.frame(1)]
        self.handles = {
            name: manager.get_stream(name)
            for name in {*sources, *self.sinks, *self.first_outputs}
        }

    def write_auxiliaries(self) -> None:
        for name in self.aux_sources:
            self.handles[name].write(self.frames[name][0])

    def write(self, k: int) -> int:
        """Publish frame ``k`` on every trigger source; return the publish time."""
        for name in self.trigger_sources:
            self.handles[name].write(self.frames[name][k & 1], frame_id=k)
        return self.handles[self.trigger_sources[-1]].write_time_ns

    def wait(self, names: Sequence[str], k: int) -> None:
        """Wait until every stream in ``names`` published a frame id >= k."""
        for name in names:
            handle = self.handles[name]
            if handle.frame_id >= k:
                continue
            deadline = time.monotonic() + self.timeout
            while True:
                try:  # slices, so a failed worker is reported promptly
                    if handle.wait_for_frame_id(k, _WAIT_SLICE_S) >= k:
                        break
                except TimeoutError:
                    self.check_failed()
                if time.monotonic() > deadline:
                    self.check_failed()
                    raise BenchmarkError(
                        f"benchmark: stream {name!r} did not publish frame {k} within "
                        f"{self.timeout:g} s (latest frame id {handle.frame_id})"
                    )

    def check_failed(self) -> None:
        """Raise the pipeline's first worker failure, if any."""
        _check(self.manager)

    def latency_phase(self, start: int, frames: int, warmup: int) -> dict[str, Any]:
        latency, round_trip = [], []
        began = time.monotonic()
        for i in range(warmup + frames):
            k = start + i
            t0 = time.monotonic_ns()
            published = self.write(k)
            self.wait(self.sinks, k)
            t1 = time.monotonic_ns()
            if i < warmup:
                began = time.monotonic()
                continue
            last = max(self.handles[name].write_time_ns for name in self.sinks)
            latency.append(last - published)
            round_trip.append(t1 - t0)
        elapsed = time.monotonic() - began
        return {
            "frames": frames,
            "latency_us": percentiles_us(latency),
            "round_trip_us": percentiles_us(round_trip),
            "rate_hz": frames / elapsed if elapsed > 0 else None,
        }

    def throughput_phase(self, start: int, frames: int, warmup: int) -> dict[str, Any]:
        for i in range(warmup):
            self.write(start + i)
            self.wait(self.first_outputs, start + i)
        first = start + warmup
        self.wait(self.sinks, first - 1)
        counts = {name: self.handles[name].count for name in self.sinks}
        began = time.monotonic()
        for i in range(frames):
            k = first + i
            if i:
                self.wait(self.first_outputs, k - 1)
            self.write(k)
        self.wait(self.sinks, first + frames - 1)
        elapsed = time.monotonic() - began
        delivered = min(self.handles[name].count - counts[name] for name in self.sinks)
        return {
            "frames_in": frames,
            "frames_out": delivered,
            "elapsed_s": elapsed,
            "input_rate_hz": frames / elapsed,
            "throughput_hz": delivered / elapsed,
        }


def run_frame_benchmark(
    manager: Any,
    config: Any,
    *,
    frames: int,
    warmup: int,
    timeout: float,
    label: str = "pipeline",
) -> dict[str, Any]:
    """Run the latency and throughput phases on ``manager`` and return the report.

    ``manager`` must be built; it is started here once the driver holds its
    stream handles. The caller shuts it down.
    """
    driver = FrameBenchmarkDriver(manager, config, timeout)
    manager.start()
    driver.write_auxiliaries()
    _log.info(
        "benchmark %s: sources %s, sinks %s, %d + %d frames per phase",
        label,
        ", ".join(driver.trigger_sources),
        ", ".join(driver.sinks),
        warmup,
        frames,
    )
    latency = driver.latency_phase(1, frames, warmup)
    throughput = driver.throughput_phase(1 + warmup + frames, frames, warmup)
    driver.check_failed()
    status = manager.status()
    return {
        "config": label,
        "sources": driver.trigger_sources,
        "auxiliary_sources": driver.aux_sources,
        "sinks": driver.sinks,
        "kernels": len(config.kernels),
        "frames": frames,
        "warmup": warmup,
        "latency": latency,
        "throughput": throughput,
        "workers": status.get("workers"),
    }


def format_frame_report(report: dict[str, Any]) -> list[str]:
    """The human-readable lines of a :func:`run_frame_benchmark` report."""
    lat = report["latency"]["latency_us"]
    rt = report["latency"]["round_trip_us"]
    thr = report["throughput"]
    return [
        f"{report['config']}: {report['kernels']} kernels, "
        f"{report['frames']} frames per phase",
        f"  latency (source -> sinks published)  p50 {lat['p50']:.1f} us  "
        f"p99 {lat['p99']:.1f} us",
        f"  round trip (driver write -> sees sinks) p50 {rt['p50']:.1f} us  "
        f"p99 {rt['p99']:.1f} us",
        f"  throughput {thr['throughput_hz']:.0f} frames/s at the sinks "
        f"({thr['frames_out']} of {thr['frames_in']} frames delivered)",
    ]


#: Longest single wait on the output stream, so a worker failure is noticed
#: promptly even when ``poll_interval`` is long.
_WAIT_SLICE_S = 0.05
#: Shortest interval between failure checks: the waits are futex-woken, so a
#: shorter ``poll_interval`` would only spend the driver's CPU on polling.
_MIN_CHECK_S = 1e-3


def measure_output_rate(
    manager: Any,
    *,
    duration_s: float = 5.0,
    warmup_s: float = 0.5,
    source: Any = None,
    output_stream: str | None = None,
    poll_interval: float = 1e-4,
) -> dict[str, Any]:
    """Measure the throughput and inter-arrival spacing at ``output_stream``.

    ``manager`` must be running. ``source`` (a
    :class:`~shmpipeline.synthetic.SyntheticInputConfig` or its mapping)
    is started for the duration of the measurement and stopped after it;
    without one, whatever already writes the sources drives the pipeline.
    ``output_stream`` defaults to the graph's only sink stream. Frames are
    waited for on the stream's futex; the pipeline is checked for worker
    failures every ``poll_interval`` seconds (at most once a millisecond)
    and after the measurement (the first failure is raised). Returns the
    published report: ``output_stream``, ``duration_s``, ``frames``,
    ``throughput_hz``, ``inter_arrival_ms`` (and its older alias
    ``latency_ms``) and per-worker figures under ``workers``.
    """
    from .synthetic import SyntheticInputConfig

    if manager.state is not PipelineState.RUNNING:
        raise StateTransitionError(
            f"benchmark: the pipeline is {manager.state.value}; it must be running "
            "(build() and start() it first)"
        )
    if not (duration_s > 0 and np.isfinite(duration_s)):
        raise BenchmarkError(
            f"benchmark: duration must be positive, got {duration_s!r}"
        )
    if output_stream is None:
        sinks = list(manager.graph.sink_streams())
        if len(sinks) != 1:
            raise BenchmarkError(
                f"benchmark: the pipeline has {len(sinks)} sink streams "
                f"({', '.join(sinks) or 'none'}); name the one to time with "
                "--output-stream (output_stream=)"
            )
        output_stream = sinks[0]
    stream = manager.get_stream(output_stream)
    if isinstance(source, dict):
        source = SyntheticInputConfig.from_dict(source)
    if source is not None:
        manager.start_synthetic_input(source)
    check_every = max(poll_interval, _MIN_CHECK_S)
    slice_s = min(_WAIT_SLICE_S, check_every)
    try:
        warmup_end = time.monotonic() + max(0.0, warmup_s)
        while time.monotonic() < warmup_end:
            _check(manager)
            time.sleep(min(slice_s, max(0.0, warmup_end - time.monotonic())))
        intervals: list[float] = []
        last_count = stream.count
        start = prev = last_check = time.monotonic()
        deadline = start + duration_s
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now - last_check >= check_every:
                _check(manager)
                last_check = now
            count = stream.wait_new(last_count, timeout=min(slice_s, deadline - now))
            if count == last_count:
                continue
            now = time.monotonic()
            advanced = int(count - last_count)
            intervals.extend([(now - prev) / advanced] * advanced)
            last_count, prev = count, now
        elapsed = max(time.monotonic() - start, 1e-12)
    finally:
        if source is not None:
            manager.stop_synthetic_input(source.stream_name)
    _check(manager)
    spacing_ms = np.asarray(intervals, dtype=np.float64) * 1e3
    frames = int(spacing_ms.size)
    spacing: dict[str, float | None] = {
        "min": float(spacing_ms.min()) if frames else None,
        "mean": float(spacing_ms.mean()) if frames else None,
        "max": float(spacing_ms.max()) if frames else None,
    }
    if frames:
        for label, q in (("p50", 50), ("p90", 90), ("p99", 99)):
            spacing[label] = float(np.percentile(spacing_ms, q))
    workers = manager.status().get("workers") or {}
    return {
        "output_stream": output_stream,
        "duration_s": elapsed,
        "frames": frames,
        "throughput_hz": frames / elapsed,
        "inter_arrival_ms": spacing,
        "latency_ms": dict(spacing),
        "workers": {
            name: {
                "avg_exec_ms": (
                    None
                    if info.get("compute_mean_us") is None
                    else info["compute_mean_us"] / 1e3
                ),
                "frames_processed": info.get("frames_processed"),
                "compute_p99_us": info.get("compute_p99_us"),
            }
            for name, info in workers.items()
        },
    }


def _check(manager: Any) -> None:
    manager.poll_events()
    manager.raise_if_failed()


def format_rate_report(report: dict[str, Any]) -> list[str]:
    """The published human-readable lines of a :func:`measure_output_rate`
    report."""
    spacing = report["inter_arrival_ms"]
    return [
        f"Output: {report['output_stream']}",
        f"Frames: {report['frames']}",
        f"Throughput: {report['throughput_hz']:.1f} Hz",
        "Inter-arrival spacing (ms): "
        f"p50={spacing.get('p50')}, p99={spacing.get('p99')}",
    ]
