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

Workers: by default a replay runs its kernels in this process's shared
:class:`~shmpipeline.pool.WorkerPool` (:func:`harness_pool`: warm processes
forked from a clean forkserver, made on first use, grown to the largest pipeline replayed, shut
down at exit and never outliving this process), so a suite of short replays
pays process start-up once, not per kernel and replay. Results are
bit-identical either way. ``workers=False`` (or an explicit
``spawn_method``, or ``SHMPIPELINE_REPLAY_POOL=0`` in the environment) gives
each kernel a new process as a plain manager does.

Free-running: sources are written at ``rate_hz`` on an absolute schedule
(plus the fakes' latency jitter), the pipeline runs without lockstep, and the
result carries latency statistics (source write to sink publish, p50/p99/max)
and the frames each sink missed instead of captures.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterable
from os import PathLike
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from shmpipeline.graph import triggered_kernels
from shmpipeline.testing.drive import host_array, run_lockstep
from shmpipeline.testing.results import FailureInfo, LatencyStats, ReplayResult
from shmpipeline.testing.scenario import Scenario, as_scenario
from shmpipeline.testing.sources import SourcePlan, frame_id

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "FailureInfo",
    "LatencyStats",
    "ReplayResult",
    "active_harness_pool",
    "harness_pool",
    "lockstep_worker_options",
    "prepare_harness_pool",
    "replay",
    "shutdown_harness_pool",
    "triggered_kernels",
]

#: extra seconds the first frame may take (workers are still starting up)
STARTUP_GRACE_S = 30.0
#: how often a waiting driver checks the manager for worker failures
FAILURE_POLL_S = 0.05


#: environment switch: "0" runs replays without the shared worker pool
POOL_ENV = "SHMPIPELINE_REPLAY_POOL"

#: how the harness pool starts workers: a forkserver that imported numpy,
#: the runtime and the CPU kernels once (never CUDA), workers forked from it
#: in milliseconds; spawn where there is no forkserver
HARNESS_START_METHOD = (
    "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
)

_pool_lock = threading.Lock()
_pool: Any = None


def harness_pool() -> Any:
    """This process's shared :class:`~shmpipeline.pool.WorkerPool` (made on
    first use; shut down by :func:`shutdown_harness_pool` or at interpreter
    exit; its workers exit if this process dies). A forked child gets a
    pool of its own."""
    global _pool
    from shmpipeline.pool import WorkerPool

    with _pool_lock:
        if active_harness_pool() is None:
            _pool = WorkerPool(spawn_method=HARNESS_START_METHOD)
        return _pool


def prepare_harness_pool() -> None:
    """Start the harness pool's fork server now, without waiting, when
    replays will use the pool: it imports numpy, the runtime and the
    kernels while the caller loads its scenarios (the ``scenario`` CLI
    calls this first thing)."""
    if os.environ.get(POOL_ENV, "1").strip() != "0":
        harness_pool().start_server()


def active_harness_pool() -> Any:
    """This process's harness pool if one is running, else None (never
    makes one)."""
    pool = _pool
    if pool is None or pool.owner_pid != os.getpid() or pool.closed:
        return None
    return pool


def shutdown_harness_pool(*, keep: Any = None) -> bool:
    """End this process's harness pool and its workers now (the next replay
    makes a new one); true if there was one. ``keep``: leave that pool
    running (one an enclosing session made, for example).

    The pytest plugin calls this at the end of each session and the
    ``scenario`` CLI at the end of its invocation, so no worker waits for
    interpreter exit; a process that dies still takes its workers with it.
    """
    pool = active_harness_pool()
    if pool is None or pool is keep:
        return False
    pool.shutdown()
    return True


def _workers_option(workers: Any, spawn_method: str | None) -> Any:
    """The ``workers=`` a replay's manager gets (None: a process per kernel)."""
    if workers is False or (workers is None and spawn_method is not None):
        return None
    if workers is None:
        if os.environ.get(POOL_ENV, "1").strip() == "0":
            return None
        return harness_pool()
    return workers


def lockstep_worker_options(config: Any) -> dict[str, Any]:
    """Where a lockstep replay's workers run and how they wait.

    In lockstep a frame goes through the graph one stage after the other.
    When every kernel can have a CPU of its own, the manager's defaults
    (pinned round-robin, adaptive spinning) are the quickest. When kernels
    outnumber the CPUs they share them and sleep between frames; pinned
    round-robin, consecutive stages then sit on different CPUs and every
    hop is a cross-CPU wake-up, so the workers are left unpinned (the
    scheduler wakes a stage where its predecessor just went to sleep) and
    sleep. Measured on a two-core VM, a five-stage chain's round trip went
    from about 140 to 75 µs. Values do not depend on it.
    ``SHMPIPELINE_WAIT_POLICY``, when set, still decides how they wait.
    """
    from shmpipeline.placement import NoPlacement, available_cpus
    from shmpipeline.stream.wait_policy import WAIT_POLICY_ENV

    cpus = available_cpus()
    if not cpus or len(config.kernels) <= len(cpus):
        return {}
    options: dict[str, Any] = {"placement_policy": NoPlacement()}
    if not os.environ.get(WAIT_POLICY_ENV, "").strip():
        options["wait_policy"] = "sleep"
    return options


# --- the runner ------------------------------------------------------------------------


def replay(
    scenario: Scenario | str | PathLike[str],
    *,
    registry: KernelRegistry | None = None,
    frames: int | None = None,
    timeout: float | None = None,
    spawn_method: str | None = None,
    workers: Any = None,
) -> ReplayResult:
    """Run ``scenario`` (a :class:`Scenario` or a path) over the real
    multi-process pipeline, in its mode; see the module docstring.

    ``frames`` overrides the scenario's count (a prefix of the same run);
    ``timeout`` the per-frame limit; ``spawn_method`` the manager's process
    start method (default: the manager's, ``spawn``; ``forkserver`` starts
    workers several times faster once its server runs, which suits long
    test sessions). ``workers``: None for the shared :func:`harness_pool`
    (unless ``spawn_method`` is given), False for a new process per kernel,
    or a :class:`~shmpipeline.pool.WorkerPool`. A worker failure, or a frame
    slower than the timeout, ends the run and is reported in ``failure``
    (never raised).
    """
    scenario = as_scenario(scenario, registry)
    runner = _FreeRunning if scenario.mode == "free_running" else _Lockstep
    return runner(
        scenario,
        registry=registry,
        frames=frames,
        timeout=timeout,
        spawn_method=spawn_method,
        workers=_workers_option(workers, spawn_method),
    ).run()


class _Run:
    """Shared set-up and tear-down of a replay."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        registry: KernelRegistry | None,
        frames: int | None,
        timeout: float | None,
        spawn_method: str | None = None,
        workers: Any = None,
    ) -> None:
        self.scenario = scenario
        self.spawn_method = spawn_method
        self.workers = workers
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

        options: dict[str, Any] = (
            {} if self.spawn_method is None else {"spawn_method": self.spawn_method}
        )
        if self.workers is not None:
            options = {"workers": self.workers}
        if lockstep:
            options.update(lockstep_worker_options(self.config))
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
        return host_array(self.handles[name].read())

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
                error=exc.summary.strip() or type(exc).__name__,
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
                error=exc.summary.strip() or type(exc).__name__,
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
    """The real pipeline as a :class:`~shmpipeline.testing.drive.LockstepExecutor`."""

    def _run(self) -> ReplayResult:
        scenario = self.scenario
        self._start(lockstep=True)
        captures = {
            name: np.zeros(
                (self.frames, *self.specs[name].shape), self.specs[name].dtype
            )
            for name in scenario.capture
        }
        self._outputs = {k.name: k.output for k in self.config.kernels}
        self._open([*scenario.capture, *self._outputs.values()])
        # per set of written sources: the output streams step() waits for
        self._reach: dict[frozenset[str], tuple[str, ...]] = {}
        self._waited: tuple[str, ...] = ()  # those of the last step
        self._output_handles = [(name, self.handles[name]) for name in self._outputs.values()]
        self._kicks: dict[str, int] = {}  # kick_count of each output before this frame
        self._kicks_frame = -1
        run = run_lockstep(self, self.plan, self.frames, captures)
        completed = run.completed
        if self.failure is None:
            self._check_failed(completed, force=True)
        dropped = run.dropped
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
                run.round_trips_ns,
                frames_written=completed - sum(1 for k in dropped if k < completed),
                source_dropped=len(dropped),
            ),
            dropped_frames=tuple(dropped),
            expected_failure=scenario.expect_failure,
        )

    # -- LockstepExecutor -----------------------------------------------------------
    #: the graph runs in the worker processes while the driver waits
    overlaps = True

    def published_ns(self) -> int:
        """When the last step's outputs were all published (0: none waited)."""
        return max((self.handles[name].write_time_ns for name in self._waited), default=0)

    def write(self, stream: str, frame: Any, k: int) -> None:
        if k != self._kicks_frame:
            # the kick counts before frame k goes in: a worker failing on it
            # kicks every stream, and a wait that starts after the kick must
            # still see it (else it sleeps a whole failure-poll slice)
            self._kicks_frame = k
            self._kicks = {name: handle.kick_count for name, handle in self._output_handles}
        self._write(stream, frame, k)

    def read(self, stream: str) -> np.ndarray:
        return self._read(stream)

    def step(self, written: frozenset[str], k: int) -> FailureInfo | None:
        """Wait until every kernel the written sources trigger published
        frame ``k``; the failure (or timeout) that ended the run, if any."""
        waits = self._reach.get(written)
        if waits is None:
            waits = self._reach[written] = self._wait_order(
                triggered_kernels(self.config, written)
            )
        self._waited = waits
        limit = self.timeout + (STARTUP_GRACE_S if k == 0 else 0.0)
        if self._wait_all(waits, frame_id(k), k, limit):
            return None
        return self.failure

    def _wait_order(self, kernels: tuple[str, ...]) -> tuple[str, ...]:
        """The outputs of ``kernels`` to wait for, those no other of them is
        triggered by first: they publish last, so the driver wakes once per
        frame rather than once per stage (the others are then checked
        without waiting). Which order is only a matter of speed."""
        outputs = [self._outputs[name] for name in kernels]
        triggers = {k.input for k in self.config.kernels if k.name in kernels}
        return tuple(sorted(outputs, key=lambda stream: stream in triggers))

    def capture(self, stream: str, row: np.ndarray) -> None:
        # gpu streams read into a host array too (from their mirror if any)
        self.handles[stream].read_into(row)

    def _wait_all(self, names: list[str], target: int, k: int, limit: float) -> bool:
        """Wait until every stream in ``names`` published ``target``; false
        (with :attr:`failure` set) on a worker failure or a timeout."""
        deadline = time.monotonic() + limit
        for name in names:
            handle = self.handles[name]
            while True:
                remaining = deadline - time.monotonic()
                kicked = False
                try:
                    latest = handle.wait_for_frame_id(
                        target,
                        timeout=max(0.0, min(remaining, FAILURE_POLL_S)),
                        # a failing worker kicks the pipeline's streams
                        kicks_seen=self._kicks.get(name),
                        interruptible=True,
                    )
                    if latest >= target:
                        break
                    kicked = True
                    self._kicks[name] = handle.kick_count  # wait for the next one
                except TimeoutError:
                    pass
                if self._check_failed(k, force=kicked or remaining <= 0):
                    return False
                if remaining <= 0:
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
        # start() returned once every worker was waiting: no lead needed
        began = t0 = time.monotonic()
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
        # let the last written frame drain through the pipeline: stop as
        # soon as every sink has it (checked on each new sink frame)
        last = max(written_at, default=0)
        deadline = time.monotonic() + min(self.timeout, 5.0)
        first = self.handles[sinks[0]]
        while written_at and self.failure is None:
            observe()
            if all(self.handles[name].frame_id >= last for name in sinks):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            first.wait_new(last_counts[sinks[0]], timeout=min(remaining, 0.002))
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
