"""Deterministic replay of a scenario over the real multi-process pipeline.

Lockstep (the default): the manager runs with lockstep enabled (a
worker computing frame ``k`` first waits for its auxiliaries' frame ``k``,
or ``k - 1`` across a feedback loop), and the driver, for ``k`` in
``range(frames)``:

1. computes frame ``k`` of every per-frame source (:class:`SourcePlan`;
   closed-loop fakes read the command stream's value after frame ``k - 1``),
2. writes it with frame id ``k + 1`` (auxiliary-only sources first),
3. waits until every kernel the written sources trigger has published frame
   id ``k + 1`` (a worker failure ends the run; a frame slower than the
   scenario's ``timeout`` is a failure too),
4. copies the captured streams into row ``k`` of ``(frames, *shape)`` arrays.

No frame is written before the previous one has gone through the whole
graph, so what every kernel reads is fixed by the scenario alone: captures
are bit-identical run after run, whatever the machine's load.

Free-running: sources are written at ``rate_hz`` on an absolute schedule
(plus the fakes' latency jitter), the pipeline runs without lockstep, and the
result carries latency statistics (source write to sink publish, p50/p99/max)
and the frames each sink missed instead of captures.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from types import MappingProxyType
from typing import Any

import numpy as np

from shmpipeline.testing.scenario import Scenario, load_scenario
from shmpipeline.testing.sources import SourcePlan, frame_id

__all__ = [
    "FailureInfo",
    "LatencyStats",
    "ReplayResult",
    "ReplayTimeoutError",
    "replay",
    "triggered_kernels",
]

#: extra seconds the first frame may take (workers are still starting up)
STARTUP_GRACE_S = 30.0
#: how often a waiting driver checks the manager for worker failures
FAILURE_POLL_S = 0.05


class ReplayTimeoutError(TimeoutError):
    """A frame did not reach every kernel within the scenario's timeout."""


# --- results ---------------------------------------------------------------------


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


# --- graph helpers ------------------------------------------------------------------


def triggered_kernels(config: Any, written: Iterable[str]) -> tuple[str, ...]:
    """Kernels that run when the streams ``written`` get a new frame: those
    whose trigger is written, transitively through their outputs (in config
    order). Auxiliary edges trigger nothing."""
    by_input: dict[str, list[Any]] = {}
    for kernel in config.kernels:
        by_input.setdefault(kernel.input, []).append(kernel)
    reached: set[str] = set()
    pending = list(written)
    seen_streams = set(pending)
    while pending:
        stream = pending.pop()
        for kernel in by_input.get(stream, ()):
            if kernel.name in reached:
                continue
            reached.add(kernel.name)
            if kernel.output not in seen_streams:
                seen_streams.add(kernel.output)
                pending.append(kernel.output)
    return tuple(k.name for k in config.kernels if k.name in reached)


def _host(value: Any) -> np.ndarray:
    """A host ndarray view/copy of a frame (tensor or array)."""
    if isinstance(value, np.ndarray):
        return value
    detach = getattr(value, "detach", None)
    if detach is not None:
        return detach().cpu().numpy()
    return np.asarray(value)


def _headline(exc: BaseException) -> str:
    """An error's message without the worker traceback the runtime appends."""
    return str(exc).split("\n\n", 1)[0].strip() or type(exc).__name__


def _load(scenario: Scenario | str | PathLike[str], registry: Any = None) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    return load_scenario(scenario, registry=registry)


# --- the runner ------------------------------------------------------------------------


def replay(
    scenario: Scenario | str | PathLike[str],
    *,
    registry: Any = None,
    frames: int | None = None,
    timeout: float | None = None,
    spawn_method: str | None = None,
) -> ReplayResult:
    """Run ``scenario`` (a :class:`Scenario` or a path) over the real
    multi-process pipeline, in its mode; see the module docstring.

    ``frames`` overrides the scenario's count (a prefix of the same run);
    ``timeout`` the per-frame limit; ``spawn_method`` the manager's process
    start method (default: the manager's, ``spawn``; ``forkserver`` starts
    workers several times faster once its server runs, which suits long
    test sessions). A worker failure, or a frame slower than the timeout,
    ends the run and is reported in ``failure`` (never raised).
    """
    scenario = _load(scenario, registry)
    runner = _FreeRunning if scenario.mode == "free_running" else _Lockstep
    return runner(
        scenario,
        registry=registry,
        frames=frames,
        timeout=timeout,
        spawn_method=spawn_method,
    ).run()


class _Run:
    """Shared set-up and tear-down of a replay."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        registry: Any,
        frames: int | None,
        timeout: float | None,
        spawn_method: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.spawn_method = spawn_method
        self.config = scenario.pipeline
        self.registry = registry
        self.frames = scenario.frame_count if frames is None else int(frames)
        self.timeout = scenario.timeout if timeout is None else float(timeout)
        self.plan = SourcePlan(scenario)
        self.specs = self.config.shared_memory_by_name
        self.manager: Any = None
        self.handles: dict[str, Any] = {}
        self.failure: FailureInfo | None = None
        self._last_poll = 0.0

    # -- manager -------------------------------------------------------------------

    def _make_manager(self, *, lockstep: bool) -> Any:
        from shmpipeline.manager import PipelineManager

        options = (
            {} if self.spawn_method is None else {"spawn_method": self.spawn_method}
        )
        manager = PipelineManager(self.config, registry=self.registry, **options)
        if lockstep:
            manager.set_lockstep(True)
        return manager

    def _open(self, names: Iterable[str]) -> None:
        for name in names:
            if name not in self.handles:
                self.handles[name] = self.manager.get_stream(name)

    def _write(self, name: str, frame: Any, k: int | None) -> None:
        # host frames go to gpu streams as they are: the stream uploads them
        handle = self.handles[name]
        if k is None:
            handle.write(frame)
        else:
            handle.write(frame, frame_id=frame_id(k))

    def _read(self, name: str) -> np.ndarray:
        return _host(self.handles[name].read())

    def _check_failed(self, k: int | None, *, force: bool = False) -> bool:
        """Record the first worker failure; true when there is one."""
        if self.failure is not None:
            return True
        now = time.monotonic()
        if not force and now - self._last_poll < FAILURE_POLL_S:
            return False
        self._last_poll = now
        from shmpipeline.errors import WorkerProcessError

        try:
            self.manager.poll_events()
            self.manager.raise_if_failed()
        except WorkerProcessError as exc:
            self.failure = FailureInfo(
                kernel=exc.kernel,
                error=_headline(exc),
                frame=k,
                traceback=exc.traceback,
            )
            return True
        return False

    def _start(self, *, lockstep: bool) -> None:
        self.manager = self._make_manager(lockstep=lockstep)
        self.manager.build()
        self._open(
            [*self.plan.static, *self.plan.per_frame, *self.plan.command_streams]
        )
        for name, value in self.plan.static.items():
            self._write(name, value, None)
        self.manager.start()

    def _shutdown(self) -> None:
        if self.manager is None:
            return
        try:
            self.manager.shutdown()
        except Exception:  # noqa: BLE001 - a hung worker must not leak segments
            self.manager.shutdown(force=True)

    def run(self) -> ReplayResult:
        from shmpipeline.errors import WorkerProcessError

        try:
            return self._run()
        except WorkerProcessError as exc:  # a worker failed while starting
            self.failure = FailureInfo(
                kernel=exc.kernel,
                error=_headline(exc),
                frame=None,
                traceback=exc.traceback,
            )
            return self._failed_at_start()
        finally:
            self._shutdown()

    def _failed_at_start(self) -> ReplayResult:
        return ReplayResult(
            scenario=self.scenario.name,
            executor="replay",
            mode=self.scenario.mode,
            frames=self.frames,
            frames_completed=0,
            captures=MappingProxyType(
                {
                    name: np.zeros((0, *self.specs[name].shape), self.specs[name].dtype)
                    for name in self.scenario.capture
                }
                if self.scenario.mode == "lockstep"
                else {}
            ),
            failure=self.failure,
            expected_failure=self.scenario.expect_failure,
        )

    def _run(self) -> ReplayResult:  # pragma: no cover - abstract
        raise NotImplementedError


class _Lockstep(_Run):
    def _run(self) -> ReplayResult:
        scenario = self.scenario
        self._start(lockstep=True)
        captures = {
            name: np.zeros(
                (self.frames, *self.specs[name].shape), self.specs[name].dtype
            )
            for name in scenario.capture
        }
        outputs = {k.name: k.output for k in self.config.kernels}
        self._open([*scenario.capture, *outputs.values()])
        reach: dict[frozenset[str], tuple[str, ...]] = {}
        round_trips: list[int] = []
        dropped: list[int] = []
        completed = 0
        for k in range(self.frames):
            frames = self.plan.frames(k, self._read)
            written = frozenset(name for name, f in frames.items() if f is not None)
            if len(written) < len(frames):
                dropped.append(k)
            if written not in reach:
                reach[written] = triggered_kernels(self.config, written)
            waits = [outputs[name] for name in reach[written]]
            began = time.monotonic_ns()
            for name in self.plan.per_frame:
                frame = frames[name]
                if frame is not None:
                    self._write(name, frame, k)
            limit = self.timeout + (STARTUP_GRACE_S if k == 0 else 0.0)
            if not self._wait_all(waits, frame_id(k), k, limit):
                break
            if written:
                round_trips.append(time.monotonic_ns() - began)
            for name, array in captures.items():
                self._capture(name, array[k])
            completed = k + 1
        if self.failure is None:
            self._check_failed(completed, force=True)
        return ReplayResult(
            scenario=scenario.name,
            executor="replay",
            mode="lockstep",
            frames=self.frames,
            frames_completed=completed,
            captures=MappingProxyType(
                {name: array[:completed] for name, array in captures.items()}
            ),
            failure=self.failure,
            latency=LatencyStats.from_samples(
                round_trips,
                frames_written=completed - sum(1 for k in dropped if k < completed),
                source_dropped=len(dropped),
            ),
            dropped_frames=tuple(dropped),
            expected_failure=scenario.expect_failure,
        )

    def _capture(self, name: str, row: np.ndarray) -> None:
        # gpu streams read into a host array too (from their mirror if any)
        self.handles[name].read_into(row)

    def _wait_all(self, names: list[str], target: int, k: int, limit: float) -> bool:
        """Wait until every stream in ``names`` published ``target``; false
        (with :attr:`failure` set) on a worker failure or a timeout."""
        deadline = time.monotonic() + limit
        for name in names:
            handle = self.handles[name]
            count = handle.count
            while handle.frame_id < target:
                if self._check_failed(k):
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._check_failed(k, force=True):
                        return False
                    self.failure = FailureInfo(
                        kernel=None,
                        error=(
                            f"timeout: stream {name!r} did not publish frame {k} "
                            f"(id {target}) within {limit:g} s (latest id "
                            f"{handle.frame_id})"
                        ),
                        frame=k,
                    )
                    return False
                count = handle.wait_new(count, timeout=min(remaining, FAILURE_POLL_S))
        return True


class _FreeRunning(_Run):
    def _run(self) -> ReplayResult:
        scenario = self.scenario
        rate = scenario.rate_hz or 1000.0
        self._start(lockstep=False)
        from shmpipeline.graph import PipelineGraph

        sinks = list(PipelineGraph.from_config(self.config).sink_streams())
        if not sinks:
            sinks = sorted({k.output for k in self.config.kernels})
        self._open(sinks)
        start_counts = {name: self.handles[name].count for name in sinks}
        last_counts = dict(start_counts)
        written_at: dict[int, int] = {}
        samples: list[int] = []
        delivered_ids: dict[str, set[int]] = {name: set() for name in sinks}
        source_dropped: list[int] = []
        period = 1.0 / rate
        t0 = time.monotonic() + 0.05
        began = time.monotonic()
        written = 0

        def observe() -> None:
            for name in sinks:
                handle = self.handles[name]
                count = handle.count
                if count != last_counts[name]:
                    last_counts[name] = count
                    fid = handle.frame_id
                    if fid not in delivered_ids[name] and fid in written_at:
                        delivered_ids[name].add(fid)
                        samples.append(handle.write_time_ns - written_at[fid])

        def wait_until(when: float) -> None:
            first = self.handles[sinks[0]]
            while True:
                observe()
                remaining = when - time.monotonic()
                if remaining <= 0:
                    return
                first.wait_new(last_counts[sinks[0]], timeout=min(remaining, 0.002))

        for k in range(self.frames):
            if self._check_failed(k):
                break
            frames = self.plan.frames(k, self._read)
            wait_until(t0 + k * period + self.plan.delay(k))
            stamp = None
            for name in self.plan.per_frame:
                frame = frames[name]
                if frame is not None:
                    self._write(name, frame, k)
                    stamp = self.handles[name].write_time_ns
            if stamp is None:
                source_dropped.append(k)
            else:
                written_at[frame_id(k)] = stamp
                written += 1
        # let the last frames drain through the pipeline
        last = frame_id(self.frames - 1)
        deadline = time.monotonic() + min(self.timeout, 5.0)
        while time.monotonic() < deadline and self.failure is None:
            wait_until(time.monotonic() + 0.01)
            if all(self.handles[name].frame_id >= last for name in sinks):
                break
            self._check_failed(self.frames)
        observe()
        elapsed = time.monotonic() - began
        self._check_failed(self.frames, force=True)
        delivered = {
            name: self.handles[name].count - start_counts[name] for name in sinks
        }
        worst = min(delivered.values()) if delivered else 0
        latency = LatencyStats.from_samples(
            samples,
            frames_written=written,
            dropped=max(0, written - worst),
            source_dropped=len(source_dropped),
            per_sink_delivered=MappingProxyType(delivered),
            elapsed_s=elapsed,
        )
        return ReplayResult(
            scenario=scenario.name,
            executor="replay",
            mode="free_running",
            frames=self.frames,
            frames_completed=written + len(source_dropped),
            captures=MappingProxyType({}),
            failure=self.failure,
            latency=latency,
            dropped_frames=tuple(source_dropped),
            expected_failure=scenario.expect_failure,
        )
