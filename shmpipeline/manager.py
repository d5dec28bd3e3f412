"""Pipeline manager: builds streams, spawns workers, supervises state.

A coordinator only: streams come from :mod:`shmpipeline.stream`, the worker
processes (own or pooled), their events and failures are kept by
:mod:`shmpipeline.supervision`, the worker loop lives in
:mod:`shmpipeline.runtime`, CPU placement in
:mod:`shmpipeline.placement`, event records in :mod:`shmpipeline.events`,
shared counters in :mod:`shmpipeline.control`, the state machine in
:mod:`shmpipeline.state`.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing as mp
import os
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shmpipeline import events
from shmpipeline.config import PipelineConfig
from shmpipeline.control import PAUSE, RUN
from shmpipeline.endpoint_runtime import EndpointSet
from shmpipeline.errors import ConfigValidationError, StateTransitionError
from shmpipeline.graph import PipelineGraph
from shmpipeline.lifeline import ParentInfo
from shmpipeline.pipeline_validation import validate_pipeline_config
from shmpipeline.placement import RoundRobinPlacement
from shmpipeline.runtime import WorkerSpec
from shmpipeline.scheduling import as_placement_policy
from shmpipeline.state import PipelineState, check_transition
from shmpipeline.stream.wait_policy import shared_cpu_wait_policy
from shmpipeline.stream_setup import open_for_build, resource_spec, write_initial
from shmpipeline.supervision import PAUSE_ACK_TIMEOUT, WorkerSupervisor, wake_waiters

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
        # the kick holds the stream table, not the manager: no reference cycle
        self._supervisor = WorkerSupervisor(
            self._context, workers, functools.partial(wake_waiters, self._streams)
        )
        self._synthetic: dict[str, Any] = {}
        self._lockstep = False
        self._namespace = (
            namespace if namespace is not None
            else os.environ.get("SHMPIPELINE_NAMESPACE") or None
        )
        self._finalizer = weakref.finalize(
            self, _emergency_cleanup, self._supervisor.processes, self._streams, self._owned
        )

    # -- properties -------------------------------------------------------------
    @property
    def config(self) -> PipelineConfig:
        return self._config

    @property
    def state(self) -> PipelineState:
        return self._state

    @property
    def registry(self) -> KernelRegistry:
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
        return tuple(self._supervisor.failures)

    @property
    def events(self) -> tuple[dict[str, Any], ...]:
        """Return all events received from worker processes so far."""
        return tuple(self._supervisor.events)

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
        cpus = self._placement(self._config.kernels)
        sync = self.graph.lockstep_lags() if self._lockstep else {}
        shared = {
            name: resource_spec(spec)
            for name, spec in self._config.shared_memory_by_name.items()
        }
        base_dir = self._base_dir or getattr(self._config, "base_dir", None)
        # pool workers watch the pool's process from their own start
        parent = (
            None if self._pool is not None
            else ParentInfo.current(via_server=self._via_server)
        )
        specs = {
            kernel.name: WorkerSpec(
                kernel=kernel,
                shared_memory=shared,
                registry=_worker_registry(self._registry, kernel.kind),
                cpu=cpu,
                namespace=self._namespace,
                base_dir=base_dir,
                aux_sync=tuple(sync.get(kernel.name, ())),
                parent=parent,
                via_server=self._via_server,
                wait_policy=self._wait_policies.get(kernel.name)
                or shared_cpu_wait_policy(cpu, cpus),
            )
            for kernel, cpu in zip(self._config.kernels, cpus, strict=True)
        }
        self._supervisor.start(specs, {k.name: k.kind for k in self._config.kernels})
        self._state = target
        self._supervisor.await_started(self._start_timeout)
        self._failed_if_running()
        failures = self._supervisor.failures
        if not failures and (self._config.sources or self._config.sinks):
            try:
                self._endpoints = EndpointSet.start(
                    self._config, self._registry, self._streams, base_dir, shared
                )
            except Exception as error:
                self._record_failure(events.failed("endpoints", "init", error))
        if failures:
            self.stop(timeout=1.0)
            self._state = PipelineState.FAILED
            raise events.to_exception(failures[0])

    def pause(self) -> None:
        """Pause all workers without tearing down the built pipeline."""
        target = check_transition(self._state, "pause")
        self._endpoints.pause.set()
        self._supervisor.command(PAUSE)
        self._state = target

    def resume(self) -> None:
        """Resume work after a pause."""
        target = check_transition(self._state, "resume")
        self._supervisor.command(RUN)
        self._endpoints.pause.clear()
        self._state = target

    def stop(self, *, timeout: float = 5.0, force: bool = False) -> None:
        """Stop worker processes but keep shared-memory resources built."""
        target = check_transition(self._state, "stop")
        self._endpoints.stop(timeout=0.0 if force else max(timeout, 0.0))
        for failure in self._endpoints.take_failures():
            self._record_failure(failure)
        self._supervisor.stop(0.0 if force else max(timeout, 0.0), force=force)
        self._state = target

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

    def __enter__(self) -> PipelineManager:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.shutdown(force=exc_type is not None)

    # -- events and status ----------------------------------------------------------
    def _running_or_paused(self) -> bool:
        return self._state in (PipelineState.RUNNING, PipelineState.PAUSED)

    def _failed_if_running(self) -> None:
        """A failure recorded while running or paused fails the pipeline."""
        if self._supervisor.failures and self._running_or_paused():
            self._state = PipelineState.FAILED

    def _record_failure(self, event: dict[str, Any]) -> None:
        self._supervisor.record_failure(event)
        self._failed_if_running()

    def poll_events(self) -> list[dict[str, Any]]:
        """Drain worker events and update manager failure state."""
        received = self._supervisor.drain()
        self._failed_if_running()
        if self._running_or_paused():
            # workers that died without saying why (signal, crash)
            self._supervisor.check_processes()
            self._failed_if_running()
        for failure in self._endpoints.take_failures():
            self._record_failure(failure)
            received.append(failure)
        return received

    def raise_if_failed(self) -> None:
        """Raise the first worker failure, if any has been recorded."""
        if self._supervisor.failures:
            raise events.to_exception(self._supervisor.failures[0])

    def status(self, *, poll: bool = True) -> dict[str, Any]:
        """Return a JSON-friendly snapshot of state, workers, and failures."""
        if poll:
            self.poll_events()
        workers = self._supervisor.worker_status()
        streams = {
            name: {
                "shape": list(handle.shape),
                "dtype": str(handle.dtype),
                "count": int(handle.count),
                "frame_id": int(handle.frame_id) if handle.count else None,
            }
            for name, handle in self._streams.items()
        }
        synthetic = self.synthetic_input_status()
        return {
            "state": self._state.value,
            "lockstep": self._lockstep,
            "namespace": self._namespace,
            "workers": workers,
            # the published key: per-worker figures (the same dicts)
            "metrics": workers,
            "streams": streams,
            "failures": [dict(f) for f in self._supervisor.failures],
            "synthetic_inputs": synthetic,
            # the published key for the same snapshots
            "synthetic_sources": synthetic,
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
        supervisor = self._supervisor
        dead = [w for w in supervisor.records.values() if not supervisor.running(w)]
        if not supervisor.failures and not dead:
            return
        saved = self._start_timeout
        if timeout is not None:
            self._start_timeout = float(timeout)
        names = {w.kernel for w in dead} | {f.get("kernel") for f in supervisor.failures}
        try:
            if self._pool is None and names < set(supervisor.records):
                self._restart_workers(names)
            else:
                self.stop(timeout=1.0)
                supervisor.failures.clear()
                self.start()
        finally:
            self._start_timeout = saved

    def _restart_workers(self, names: set[str]) -> None:
        """Replace the named workers' processes, leaving the others running."""
        self._supervisor.restart(
            names,
            paused=self._state is PipelineState.PAUSED,
            timeout=self._start_timeout,
            detect_deaths=self._running_or_paused(),
        )
        self._failed_if_running()
        if self._supervisor.failures:
            self._state = PipelineState.FAILED
            raise events.to_exception(self._supervisor.failures[0])
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


def _worker_registry(registry: Any, kind: str) -> Any:
    """What a worker gets to create its kernel: a registry of its own kind
    only (the class, resolved at build, travels by reference), not the whole
    registry with every kind, loader and endpoint table pickled per task. A
    registry of another type is sent as it is (it may create kernels its own
    way)."""
    from shmpipeline.registry import KernelRegistry

    if type(registry) is not KernelRegistry:
        return registry
    return KernelRegistry({kind: registry.get(kind)})


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


__all__ = ["PAUSE_ACK_TIMEOUT", "PipelineManager"]
