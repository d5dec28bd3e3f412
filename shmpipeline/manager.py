"""Pipeline manager: builds streams, spawns workers, supervises state.

A coordinator only: streams come from :mod:`shmpipeline.stream`, the worker
loop lives in :mod:`shmpipeline.runtime`, CPU placement in
:mod:`shmpipeline.placement`, event records in :mod:`shmpipeline.events`,
shared counters in :mod:`shmpipeline.control`, the state machine in
:mod:`shmpipeline.state`.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_module
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shmpipeline import events
from shmpipeline.config import PipelineConfig
from shmpipeline.control import PAUSE, RUN, STOP, ControlBlock
from shmpipeline.endpoint_runtime import EndpointSet
from shmpipeline.errors import (
    ConfigValidationError,
    StateTransitionError,
    StreamError,
    WorkerProcessError,
)
from shmpipeline.graph import PipelineGraph, validate_pipeline_config
from shmpipeline.lifeline import ParentInfo
from shmpipeline.placement import RoundRobinPlacement
from shmpipeline.runtime import WorkerSpec, worker_main
from shmpipeline.scheduling import as_placement_policy
from shmpipeline.state import PipelineState, check_transition
from shmpipeline.stream.wait_policy import shared_cpu_wait_policy
from shmpipeline.stream_setup import open_for_build, resource_spec, write_initial

if TYPE_CHECKING:
    from shmpipeline.placement import PlacementPolicy
    from shmpipeline.pool import WorkerPool
    from shmpipeline.registry import KernelRegistry
    from shmpipeline.scheduling import WorkerPlacementPolicy
    from shmpipeline.stream.wait_policy import WaitPolicy

log = logging.getLogger("shmpipeline.manager")

#: how long start() waits for every worker to report in
START_TIMEOUT = 60.0
#: modules a forkserver imports once, so forked workers start warm
_FORKSERVER_PRELOAD = ("numpy", "shmpipeline.runtime", "shmpipeline.registry", "shmpipeline.stream")
#: how long pause() waits for every worker to acknowledge
PAUSE_ACK_TIMEOUT = 2.0


@dataclass
class _Worker:
    """The manager's record of one worker process."""

    kernel: str
    kind: str
    process: Any
    control: ControlBlock
    cpu: int | None
    started: bool = False
    failed: bool = False
    #: the pool worker running this kernel (None: a process of its own)
    pooled: Any = None


def _load_config(config: Any) -> PipelineConfig:
    if isinstance(config, PipelineConfig):
        return config
    if isinstance(config, Mapping):
        return PipelineConfig.from_dict(config)
    if isinstance(config, (str, os.PathLike)):
        return PipelineConfig.from_yaml(config)
    raise ConfigValidationError(
        "config must be a PipelineConfig, a mapping or a YAML path, "
        f"got {type(config).__name__}"
    )


def _emergency_cleanup(processes: list, streams: dict, owned: list) -> None:
    """Last-resort cleanup at interpreter exit or garbage collection."""
    for process in processes:
        try:
            if process.is_alive():
                process.kill()
                process.join(1.0)
        except Exception:  # at interpreter exit: free what can be freed, never raise
            continue
    for name, handle in list(streams.items()):
        try:
            if name in owned:
                handle.unlink()
            handle.close()
        except Exception:  # at interpreter exit: free what can be freed, never raise
            continue
    streams.clear()


class PipelineManager:
    """Create shared memory, spawn workers, and supervise pipeline state."""

    def __init__(
        self,
        config: PipelineConfig | Mapping[str, Any] | str | os.PathLike,
        *,
        spawn_method: str = "spawn",
        placement_policy: WorkerPlacementPolicy | PlacementPolicy | None = None,
        registry: KernelRegistry | None = None,
        wait_policy: WaitPolicy | str | Mapping[str, WaitPolicy | str] | None = None,
        workers: WorkerPool | None = None,
        namespace: str | None = None,
        config_base_path: str | os.PathLike | None = None,
        worker_start_timeout: float | None = None,
    ) -> None:
        """Initialize a manager from a config object, mapping or YAML path.

        ``wait_policy``: how workers wait for frames (see
        :mod:`shmpipeline.stream.wait_policy`): one policy for every kernel,
        a mapping kernel name -> policy, or None for the process default
        (``sleep`` for a kernel pinned to a CPU another kernel shares, see
        :func:`shmpipeline.stream.wait_policy.shared_cpu_wait_policy`).
        ``workers``: a :class:`shmpipeline.pool.WorkerPool` to run the
        kernels in warm pooled processes instead of one new process each
        (``spawn_method`` then does not apply).
        ``namespace`` is the stream layer's namespace (default:
        ``$SHMPIPELINE_NAMESPACE``); a document's own ``namespace`` scopes
        segment names under it. ``config_base_path`` is where plugin
        parameters resolve (default: the config's ``base_dir``);
        ``worker_start_timeout`` bounds how long ``start()`` waits for every
        worker to report in.
        """
        from shmpipeline.registry import get_default_registry

        if isinstance(config, Mapping) and config_base_path is not None:
            config = PipelineConfig.from_dict(config, base_path=config_base_path)
        self._config = _load_config(config)
        self._base_dir = (
            None if config_base_path is None else Path(config_base_path).resolve()
        )
        self._start_timeout = (
            START_TIMEOUT if worker_start_timeout is None else float(worker_start_timeout)
        )
        self._endpoints = EndpointSet()
        self._external: list[str] = []
        self._wait_policies = _kernel_wait_policies(self._config, wait_policy)
        self._via_server = spawn_method == "forkserver"
        self._pool = workers
        self._lease: Any = None  # the pool workers of the current run
        self._registry = registry if registry is not None else get_default_registry()
        self._context = mp.get_context(spawn_method)
        if spawn_method == "forkserver":
            # the server imports the worker code once; each fork is then cheap
            self._context.set_forkserver_preload(list(_FORKSERVER_PRELOAD))
        self._placement = as_placement_policy(placement_policy) or RoundRobinPlacement()
        self._state = PipelineState.INITIALIZED
        self._graph: PipelineGraph | None = None
        self._streams: dict[str, Any] = {}
        self._owned: list[str] = []
        self._workers: dict[str, _Worker] = {}
        self._specs: dict[str, WorkerSpec] = {}  # of the current run, for restart()
        self._processes: list = []
        self._queue: Any = None
        self._events: list[dict[str, Any]] = []
        self._failures: list[dict[str, Any]] = []
        self._synthetic: dict[str, Any] = {}
        self._lockstep = False
        self._namespace = (
            namespace if namespace is not None
            else os.environ.get("SHMPIPELINE_NAMESPACE") or None
        )
        self._finalizer = weakref.finalize(
            self, _emergency_cleanup, self._processes, self._streams, self._owned
        )

    # -- properties -------------------------------------------------------------
    @property
    def config(self) -> PipelineConfig:
        return self._config

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def registry(self) -> Any:
        return self._registry

    @property
    def graph(self) -> PipelineGraph:
        """Return a derived graph view of the current configuration."""
        if self._graph is None:
            self._graph = PipelineGraph.from_config(self._config)
        return self._graph

    @property
    def failures(self) -> tuple[dict[str, Any], ...]:
        """Return recorded worker failures."""
        return tuple(self._failures)

    @property
    def events(self) -> tuple[dict[str, Any], ...]:
        """Return all events received from worker processes so far."""
        return tuple(self._events)

    @property
    def lockstep(self) -> bool:
        return self._lockstep

    # -- lifecycle ----------------------------------------------------------------
    def set_lockstep(self, enabled: bool = True) -> None:
        """Make workers wait for their in-pipeline auxiliaries' frame k before
        computing trigger frame k (k-1 across a feedback loop), so a driver
        writing one frame at a time gets bit-identical results every run."""
        if self._state not in (PipelineState.INITIALIZED, PipelineState.BUILT):
            raise StateTransitionError(
                f"cannot set lockstep on a pipeline in state {self._state.value!r} "
                "(allowed from: built, initialized)"
            )
        self._lockstep = bool(enabled)

    def build(self) -> None:
        """Validate configuration and create shared-memory resources."""
        target = check_transition(self._state, "build")
        errors = validate_pipeline_config(self._config, registry=self._registry)
        if errors:
            raise ConfigValidationError(
                errors[0] if len(errors) == 1 else
                f"{len(errors)} problems:\n  " + "\n  ".join(errors),
                errors=errors,
            )
        try:
            for spec in self._config.shared_memory:
                built = open_for_build(spec, self._namespace)
                self._streams[spec.name] = built.handle
                (self._owned if built.owned else self._external).append(spec.name)
            for spec in self._config.shared_memory:
                write_initial(spec, self._streams[spec.name])
        except BaseException:
            self._release_streams(unlink=True)
            raise
        self._state = target

    def start(self) -> None:
        """Start one worker process per kernel (the pipeline must be built)."""
        target = check_transition(self._state, "start")
        lease = None if self._pool is None else self._pool.lease(len(self._config.kernels))
        self._lease = lease
        self._queue = lease if lease is not None else self._context.Queue()
        cpus = self._placement(self._config.kernels)
        sync = self._aux_sync() if self._lockstep else {}
        shared = {
            name: resource_spec(spec)
            for name, spec in self._config.shared_memory_by_name.items()
        }
        base_dir = self._base_dir or getattr(self._config, "base_dir", None)
        # pool workers watch the pool's process from their own start
        parent = None if lease else ParentInfo.current(via_server=self._via_server)
        self._workers.clear()
        self._processes.clear()
        specs = {}
        for index, (kernel, cpu) in enumerate(zip(self._config.kernels, cpus, strict=True)):
            pooled = lease.workers[index] if lease else None
            control = pooled.control if pooled else ControlBlock.allocate(self._context)
            spec = WorkerSpec(
                kernel=kernel,
                shared_memory=shared,
                registry=self._registry,
                cpu=cpu,
                namespace=self._namespace,
                base_dir=base_dir,
                aux_sync=tuple(sync.get(kernel.name, ())),
                parent=parent,
                via_server=self._via_server,
                wait_policy=self._wait_policies.get(kernel.name)
                or shared_cpu_wait_policy(cpu, cpus),
            )
            specs[kernel.name] = spec
            process = pooled.process if pooled else self._context.Process(
                target=worker_main,
                args=(spec, control, self._queue),
                name=f"shmpipeline:{kernel.name}",
                daemon=True,
            )
            self._workers[kernel.name] = _Worker(
                kernel.name, kernel.kind, process, control, cpu, pooled=pooled
            )
            self._processes.append(process)
        for worker in self._workers.values():
            if worker.pooled is None:
                worker.process.start()
            else:
                try:
                    lease.run(worker.pooled, specs[worker.kernel])
                except WorkerProcessError as error:  # died while idle
                    self._record_failure(
                        {
                            **events.died(worker.kernel, worker.process.pid, None),
                            "message": str(error),
                        }
                    )
        self._specs = specs
        self._state = target
        self._await_started()
        if not self._failures and (self._config.sources or self._config.sinks):
            try:
                self._endpoints = EndpointSet.start(
                    self._config, self._registry, self._streams, base_dir, shared
                )
            except Exception as error:
                self._record_failure(events.failed("endpoints", "init", error))
        if self._failures:
            self.stop(timeout=1.0)
            self._state = PipelineState.FAILED
            raise events.to_exception(self._failures[0])

    def _await_started(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        waiting = set(self._workers)
        while waiting and time.monotonic() < deadline:
            self._drain(timeout=0.05)
            waiting = {
                n for n, w in self._workers.items() if not (w.started or w.failed)
            }
            self._check_processes()
            if self._failures:
                return
        if waiting:
            for name in sorted(waiting):
                self._record_failure(
                    {
                        **events.died(name, self._workers[name].process.pid, None),
                        "message": "worker did not start within "
                        f"{self._start_timeout:g} s",
                    }
                )

    def pause(self) -> None:
        """Pause all workers without tearing down the built pipeline."""
        target = check_transition(self._state, "pause")
        self._endpoints.pause.set()
        self._command(PAUSE)
        self._state = target

    def resume(self) -> None:
        """Resume work after a pause."""
        target = check_transition(self._state, "resume")
        self._command(RUN)
        self._endpoints.pause.clear()
        self._state = target

    def _command(self, command: float) -> None:
        for worker in self._workers.values():
            worker.control.command = command
        self._kick()
        if command == STOP:
            return
        deadline = time.monotonic() + PAUSE_ACK_TIMEOUT
        for worker in self._workers.values():
            while (
                worker.control.ack != command
                and worker.process.is_alive()
                and time.monotonic() < deadline
            ):
                time.sleep(0.0005)

    def _kick(self) -> None:
        """Wake every blocked worker so it re-reads its command now."""
        for handle in self._streams.values():
            wake = getattr(handle, "wake_waiters", None)
            if wake is not None:
                try:
                    wake()
                except (StreamError, OSError, ValueError):
                    continue  # a handle closed under us has no waiter to wake

    def stop(self, *, timeout: float = 5.0, force: bool = False) -> None:
        """Stop worker processes but keep shared-memory resources built."""
        target = check_transition(self._state, "stop")
        self._endpoints.stop(timeout=0.0 if force else max(timeout, 0.0))
        for failure in self._endpoints.take_failures():
            self._record_failure(failure)
        for worker in self._workers.values():
            worker.control.command = STOP
        self._kick()
        deadline = time.monotonic() + (0.0 if force else max(timeout, 0.0))
        for worker in self._workers.values():
            self._join(worker, max(deadline - time.monotonic(), 0.0))
        stragglers = [w for w in self._workers.values() if self._running(w)]
        for worker in stragglers:
            # shutdown(force=True) asked for this: not worth a warning then
            log.log(
                logging.DEBUG if force else logging.WARNING,
                "worker %r did not stop in time; terminating", worker.kernel,
            )
            worker.process.terminate()
        for worker in stragglers:
            worker.process.join(0.5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(1.0)
        self._drain(timeout=0.0)
        self._close_queue()  # a pool lease gives its workers back here
        if self._pool is not None:
            self._processes.clear()  # the pool's now, not ours to clean up
        self._state = target

    def _join(self, worker: _Worker, timeout: float) -> None:
        """Wait up to ``timeout`` s for a worker's kernel loop to end."""
        if worker.pooled is None:
            worker.process.join(timeout)
        else:
            self._lease.wait_done(worker.pooled, timeout)

    def _running(self, worker: _Worker) -> bool:
        if worker.pooled is None:
            return worker.process.is_alive()
        return self._lease.running(worker.pooled)

    def shutdown(
        self, *, unlink: bool = True, force: bool = False, unlink_external: bool = False
    ) -> None:
        """Stop workers, close local handles, and optionally unlink streams
        (streams attached rather than created only with ``unlink_external``)."""
        if self._state is PipelineState.STOPPED:
            return
        self.stop_all_synthetic_inputs()
        if self._state in (
            PipelineState.RUNNING,
            PipelineState.PAUSED,
            PipelineState.FAILED,
        ):
            self.stop(timeout=0.0 if force else 5.0, force=force)
        if unlink and unlink_external:
            self._owned.extend(self._external)
        self._release_streams(unlink=unlink)
        self._external.clear()
        self._state = check_transition(self._state, "shutdown")

    def _release_streams(self, *, unlink: bool) -> None:
        for name, handle in list(self._streams.items()):
            try:
                if unlink and name in self._owned:
                    handle.unlink()
                handle.close()
            except Exception as error:  # keep releasing the others
                log.warning("could not release stream %r: %s", name, error)
        self._streams.clear()
        self._owned.clear()
        self._external.clear()

    def _close_queue(self) -> None:
        if self._queue is not None:
            self._queue.close()
            self._queue.join_thread()
            self._queue = None

    def __enter__(self) -> PipelineManager:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.shutdown(force=exc_type is not None)

    # -- events and status ----------------------------------------------------------
    def _drain(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        received: list[dict[str, Any]] = []
        if self._queue is None:
            return received
        block = timeout > 0
        while True:
            try:
                event = self._queue.get(block, timeout) if block else self._queue.get_nowait()
            except (queue_module.Empty, OSError, ValueError, EOFError):
                break
            block = False
            received.append(event)
            self._events.append(event)
            worker = self._workers.get(event.get("kernel"))
            if event["type"] == "started" and worker is not None:
                worker.started = True
            elif event["type"] == "failed":
                self._record_failure(event)
        return received

    def _record_failure(self, event: dict[str, Any]) -> None:
        worker = self._workers.get(event.get("kernel"))
        if worker is not None:
            if worker.failed:
                return
            worker.failed = True
        if event not in self._events:
            self._events.append(event)
        self._failures.append(event)
        if self._state in (PipelineState.RUNNING, PipelineState.PAUSED):
            self._state = PipelineState.FAILED

    def _check_processes(self) -> None:
        """Report workers that died without saying why (signal, crash)."""
        if self._state not in (PipelineState.RUNNING, PipelineState.PAUSED):
            return
        for worker in self._workers.values():
            if worker.failed or worker.process.is_alive():
                continue
            if worker.process.exitcode is None:
                continue
            self._drain(timeout=0.05)  # its own failure report may be in flight
            if not worker.failed:
                self._record_failure(
                    events.died(worker.kernel, worker.process.pid, worker.process.exitcode)
                )

    def poll_events(self) -> list[dict[str, Any]]:
        """Drain worker events and update manager failure state."""
        received = self._drain()
        self._check_processes()
        for failure in self._endpoints.take_failures():
            self._record_failure(failure)
            received.append(failure)
        return received

    def raise_if_failed(self) -> None:
        """Raise the first worker failure, if any has been recorded."""
        if self._failures:
            raise events.to_exception(self._failures[0])

    def status(self, *, poll: bool = True) -> dict[str, Any]:
        """Return a JSON-friendly snapshot of state, workers, and failures."""
        if poll:
            self.poll_events()
        workers = {}
        for name, worker in self._workers.items():
            process = worker.process
            workers[name] = {
                "name": name,
                "kind": worker.kind,
                "pid": process.pid,
                "alive": process.is_alive(),
                "cpu": worker.cpu,
                "exitcode": process.exitcode,
                "failed": worker.failed,
                **worker.control.stats(),
            }
        streams = {
            name: {
                "shape": list(handle.shape),
                "dtype": str(handle.dtype),
                "count": int(handle.count),
                "frame_id": int(handle.frame_id) if handle.count else None,
            }
            for name, handle in self._streams.items()
        }
        return {
            "state": self._state.value,
            "lockstep": self._lockstep,
            "namespace": self._namespace,
            "workers": workers,
            # the published key: per-worker figures (the same dicts)
            "metrics": workers,
            "streams": streams,
            "failures": [dict(f) for f in self._failures],
            "synthetic_inputs": self.synthetic_input_status(),
            "sources": self.source_status(),
            "sinks": self.sink_status(),
        }

    def restart(self, *, timeout: float | None = None) -> None:
        """Bring a failed (or partly dead) running pipeline back to running.

        Streams and their contents are kept. Only the workers that failed or
        died are started again; healthy ones keep running untouched. When a
        source or sink failed, every worker is down (a failed ``start()``) or
        the kernels run on a pool, the whole pipeline is stopped and started
        again instead. ``timeout``: how long to wait for them to report in
        (default ``worker_start_timeout``). A healthy pipeline is left alone.
        """
        self.poll_events()
        if self._state not in (
            PipelineState.RUNNING, PipelineState.PAUSED, PipelineState.FAILED
        ):
            raise StateTransitionError(
                f"cannot restart a pipeline in state {self._state.value!r} "
                "(allowed from: running, paused, failed)"
            )
        dead = [w for w in self._workers.values() if not self._running(w)]
        if not self._failures and not dead:
            return
        saved = self._start_timeout
        if timeout is not None:
            self._start_timeout = float(timeout)
        names = {w.kernel for w in dead} | {f.get("kernel") for f in self._failures}
        try:
            if self._pool is None and names < set(self._workers):
                self._restart_workers(names)
            else:
                self.stop(timeout=1.0)
                self._failures.clear()
                self.start()
        finally:
            self._start_timeout = saved

    def _restart_workers(self, names: set[str]) -> None:
        """Replace the named workers' processes, leaving the others running."""
        paused = self._state is PipelineState.PAUSED
        for name in names:
            old = self._workers[name]
            old.control.command = STOP
            self._kick()
            old.process.join(1.0)
            if old.process.is_alive():
                old.process.kill()
                old.process.join(1.0)
            if old.process in self._processes:
                self._processes.remove(old.process)
            control = ControlBlock.allocate(self._context)
            if paused:
                control.command = PAUSE
            process = self._context.Process(
                target=worker_main,
                args=(self._specs[name], control, self._queue),
                name=f"shmpipeline:{name}",
                daemon=True,
            )
            self._workers[name] = _Worker(name, old.kind, process, control, old.cpu)
            self._processes.append(process)
            process.start()
        self._failures = [f for f in self._failures if f.get("kernel") not in names]
        self._await_started()
        if self._failures:
            self._state = PipelineState.FAILED
            raise events.to_exception(self._failures[0])
        if self._state is PipelineState.FAILED:
            self._state = PipelineState.RUNNING

    def benchmark(
        self,
        *,
        duration_s: float = 5.0,
        source: Any = None,
        output_stream: str | None = None,
        warmup_s: float = 0.5,
        poll_interval: float = 1e-4,
    ) -> dict[str, Any]:
        """Measure throughput and inter-arrival spacing at ``output_stream``
        of the running pipeline (see
        :func:`shmpipeline.benchmarking.measure_output_rate`)."""
        from shmpipeline.benchmarking import measure_output_rate

        return measure_output_rate(
            self, duration_s=duration_s, source=source, output_stream=output_stream,
            warmup_s=warmup_s, poll_interval=poll_interval,
        )

    def source_status(self) -> dict[str, dict[str, Any]]:
        """Per source: frames written, rolling ``throughput_hz``, errors."""
        return self._endpoints.source_status()

    def sink_status(self) -> dict[str, dict[str, Any]]:
        """Per sink: frames consumed, rolling ``throughput_hz``, errors."""
        return self._endpoints.sink_status()

    def runtime_snapshot(self, *, poll: bool = True) -> dict[str, Any]:
        """Status plus a timestamp and the derived graph description."""
        snapshot = self.status(poll=poll)
        snapshot["timestamp"] = time.time()
        snapshot["graph"] = self.graph.to_dict()
        snapshot["description"] = self.graph.describe()
        return snapshot

    # -- streams --------------------------------------------------------------------
    def get_stream(self, name: str) -> Any:
        """Return the manager-owned shared-memory handle for one stream."""
        if not self._streams:
            raise StateTransitionError(
                f"no streams in state {self._state.value!r}: build() the pipeline first"
            )
        try:
            return self._streams[name]
        except KeyError:
            known = ", ".join(sorted(self._streams))
            raise KeyError(f"unknown stream {name!r} (streams: {known})") from None

    # -- synthetic inputs -------------------------------------------------------------
    def start_synthetic_input(self, spec: Any) -> dict[str, Any]:
        """Start a synthetic input writer for one built stream."""
        from shmpipeline.synthetic import (
            SyntheticInputConfig,
            SyntheticSourceController,
        )

        if not isinstance(spec, SyntheticInputConfig):
            spec = SyntheticInputConfig.from_dict(spec)
        stream = self.get_stream(spec.stream_name)
        producers = self.graph.producers(spec.stream_name)
        if producers:
            raise ConfigValidationError(
                f"synthetic input: stream {spec.stream_name!r} is produced by "
                f"kernel {producers[0]!r}; only source streams can be fed"
            )
        self.stop_synthetic_input(spec.stream_name)
        controller = SyntheticSourceController(stream, spec)
        controller.start()
        self._synthetic[spec.stream_name] = controller
        return controller.snapshot()

    def stop_synthetic_input(self, stream_name: str, *, timeout: float = 2.0) -> None:
        """Stop one active synthetic input writer if it exists."""
        controller = self._synthetic.pop(stream_name, None)
        if controller is not None:
            controller.stop(timeout=timeout)

    def stop_all_synthetic_inputs(self, *, timeout: float = 2.0) -> None:
        """Stop every active synthetic input writer."""
        for name in list(self._synthetic):
            self.stop_synthetic_input(name, timeout=timeout)

    def synthetic_input_status(self) -> dict[str, dict[str, Any]]:
        """Return status snapshots for active synthetic input writers."""
        return {name: c.snapshot() for name, c in self._synthetic.items()}

    # -- lockstep -------------------------------------------------------------------
    def _aux_sync(self) -> dict[str, list[tuple[str, int]]]:
        """Per kernel: (alias, lag) for each auxiliary produced in the pipeline;
        lag 1 when the producer is downstream of the kernel (feedback loop)."""
        graph = self.graph
        result: dict[str, list[tuple[str, int]]] = {}
        for kernel in self._config.kernels:
            reachable = _reachable(graph, kernel.name)
            entries = []
            for binding in kernel.auxiliary:
                producers = graph.producers(binding.name)
                if not producers:
                    continue
                lag = 1 if producers[0] in reachable or producers[0] == kernel.name else 0
                entries.append((binding.alias, lag))
            result[kernel.name] = entries
        return result


def _kernel_wait_policies(config: PipelineConfig, wait_policy: Any) -> dict[str, str]:
    """Kernel name -> policy text, validated now (one line naming the kernel)."""
    from shmpipeline.stream.wait_policy import parse_wait_policy

    if wait_policy is None:
        return {}
    names = [k.name for k in config.kernels]
    if isinstance(wait_policy, Mapping):
        unknown = sorted(set(wait_policy) - set(names))
        if unknown:
            raise ConfigValidationError(
                f"wait_policy: unknown kernel {unknown[0]!r} (kernels: {', '.join(names)})"
            )
        chosen = dict(wait_policy)
    else:
        chosen = dict.fromkeys(names, wait_policy)
    return {
        name: str(parse_wait_policy(value, source=f"wait_policy for kernel {name!r}"))
        for name, value in chosen.items()
    }


def _reachable(graph: PipelineGraph, start: str) -> set[str]:
    """Kernels reachable from ``start`` through its output, any role."""
    seen: set[str] = set()
    todo = list(graph.downstream_kernels(start))
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(graph.downstream_kernels(name))
    return seen


__all__ = ["PipelineManager"]
