"""The worker process: one kernel, its streams, and the frame loop.

Loop: wait for a new trigger frame (futex wait, in slices so control
commands are seen promptly; the manager also kicks waiters on pause/stop),
read the trigger and the auxiliaries' latest frames into preallocated
buffers, compute straight into the output's next slot, publish (the output
frame carries the trigger's frame id). Frames that arrive faster than the
kernel computes are skipped to the latest: real-time semantics.

In lockstep mode (deterministic replay) the worker also waits, before
computing trigger frame k, until each auxiliary produced inside the pipeline
has published frame k (or k-1 for a producer in a feedback loop).
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shmpipeline import events
from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.control import ACK, CMD, HEARTBEAT_NS, PAUSE, RUN, STOP, ControlBlock
from shmpipeline.errors import StreamError
from shmpipeline.lifeline import Lifeline, ParentInfo

if TYPE_CHECKING:
    from shmpipeline.registry import KernelRegistry

#: longest a worker blocks before re-reading its command
MAX_WAIT_SLICE = 0.25


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs (picklable)."""

    kernel: KernelConfig
    shared_memory: dict[str, SharedMemoryConfig]
    registry: KernelRegistry
    cpu: int | None = None
    namespace: str | None = None
    base_dir: Path | None = None
    #: (alias, lag): wait until aux frame_id >= trigger frame_id - lag
    aux_sync: tuple[tuple[str, int], ...] = field(default_factory=tuple)
    #: the manager: the worker exits when it dies (see shmpipeline.lifeline)
    parent: ParentInfo | None = None
    #: started by a server process (forkserver), not by the manager itself
    via_server: bool = False
    #: wait policy of the worker's stream handles (None: the process default)
    wait_policy: str | None = None


class _Stopped(Exception):
    """The manager asked this worker to stop while it was waiting."""


def worker_main(spec: WorkerSpec, control: ControlBlock, queue: Any) -> None:
    """Entry point of a spawned worker process."""
    lifeline = (
        None if spec.parent is None else Lifeline.arm(spec.parent, via_server=spec.via_server)
    )
    if not run_worker(spec, control, queue, lifeline):
        wake_pipeline(spec)
        raise SystemExit(1)


def run_worker(spec: WorkerSpec, control: ControlBlock, queue: Any, lifeline=None) -> bool:
    """Run one kernel until stopped; true when it ended cleanly (stopped),
    false after a reported failure (the caller then calls
    :func:`wake_pipeline`). Always closes its stream handles; used by
    :func:`worker_main` and by pool workers (:mod:`shmpipeline.pool`)."""
    from shmpipeline.placement import pin_current_process

    name = spec.kernel.name
    pin_current_process(spec.cpu)
    try:
        handles = _open_streams(spec)
    except BaseException as error:  # report everything, including bad configs
        queue.put(events.failed(name, "open", error))
        return False
    try:
        from shmpipeline.kernel import KernelContext

        context = KernelContext(
            spec.kernel,
            spec.shared_memory,
            **({"config_base_dir": spec.base_dir} if spec.base_dir else {}),
        )
        kernel = spec.registry.create_from_context(context)
    except BaseException as error:
        queue.put(events.failed(name, "init", error))
        _close(handles)
        return False
    try:
        _loop(spec, kernel, handles, control, queue, lifeline)
    except _Stopped:
        pass
    except BaseException as error:
        queue.put(events.failed(name, "compute", error))
        # no frame will come: whoever waits on these looks for the report now
        for stream_name in (*spec.kernel.all_outputs, *handles):
            _wake_readers(handles[stream_name])
        _close(handles)
        return False
    _close(handles)
    queue.put(events.exited(name))
    return True


def _open_streams(spec: WorkerSpec) -> dict[str, Any]:
    from shmpipeline.stream import open_stream

    storage = spec.registry.get(spec.kernel.kind).storage
    # a gpu kernel computes on its output's device: host inputs upload there
    device = spec.shared_memory[spec.kernel.output].gpu_device
    handles: dict[str, Any] = {}
    try:
        for stream_name in (*spec.kernel.all_inputs, *spec.kernel.all_outputs):
            if stream_name not in handles:
                handles[stream_name] = open_stream(
                    spec.shared_memory[stream_name],
                    namespace=spec.namespace,
                    storage=storage,
                    gpu_device=device,
                )
                if spec.wait_policy is not None:
                    handles[stream_name].wait_policy = spec.wait_policy
        claim = getattr(handles[spec.kernel.output], "claim_writer", None)
        if claim is not None:
            claim()  # readers waiting without a timeout now watch this process
    except BaseException:
        _close(handles)
        raise
    return handles


def _wake_readers(handle: Any) -> None:
    """Kick the waiters of one stream (best effort)."""
    try:
        handle.wake_waiters()
    except Exception:  # noqa: BLE001 - best effort: the failure is reported anyway
        pass


def wake_pipeline(spec: WorkerSpec) -> None:
    """After a failure report: kick the waiters of the pipeline's streams
    the kernel does not read or write (those it does were kicked when it
    failed), so whoever waits for a frame that now never comes (a driver
    waiting for the last stage's output, a stage further down) looks for
    the report at once instead of at the end of its wait slice. Called once
    the worker has told its manager it ended (a pool worker's stop is not
    kept waiting); the streams are opened as host streams for the kick (a
    GPU stream without a host mirror is skipped)."""
    from shmpipeline.stream import open_stream

    own = {*spec.kernel.all_inputs, *spec.kernel.all_outputs}
    for name, stream_spec in spec.shared_memory.items():
        if name in own:
            continue
        try:
            handle = open_stream(stream_spec, namespace=spec.namespace, storage="cpu")
        except Exception:  # noqa: BLE001 - gone, or no host side: nobody to kick there
            continue
        _wake_readers(handle)
        _close({name: handle})


def _close(handles: dict[str, Any]) -> None:
    for handle in handles.values():
        try:
            handle.close()
        except (StreamError, OSError, ValueError):
            continue  # closing is best effort: the manager unlinks the segments


def _loop(spec, kernel, handles, control: ControlBlock, queue, lifeline=None) -> None:
    from shmpipeline.stream import empty_frame

    cfg = spec.kernel
    fields = control.fields
    trigger = handles[cfg.input]
    output = handles[cfg.output]
    aux_handles = [(b.alias, handles[b.name]) for b in cfg.auxiliary]
    trigger_buf = empty_frame(trigger)
    aux_bufs = {alias: empty_frame(h) for alias, h in aux_handles}
    sync = [(handles[cfg.auxiliary_by_alias[a]], lag) for a, lag in spec.aux_sync]
    triggers = _trigger_set(cfg, handles)
    outputs = [handles[name] for name in cfg.all_outputs]
    wait_slice = min(float(cfg.read_timeout), MAX_WAIT_SLICE)
    pause_sleep = max(float(cfg.pause_sleep), 1e-4)
    perf_ns = time.perf_counter_ns
    monotonic_ns = time.monotonic_ns
    orphaned = lifeline.exit_if_orphaned if lifeline is not None else _never

    last = trigger.count  # only frames published after start are computed
    first_frame_id = None
    queue.put(events.started(cfg.name))
    fields[ACK] = RUN
    while True:
        command = fields[CMD]
        if command != RUN:
            if command == STOP:
                return
            fields[ACK] = PAUSE
            while fields[CMD] == PAUSE:
                time.sleep(pause_sleep)
                orphaned()
            fields[ACK] = fields[CMD]
            last = trigger.count  # frames that came during the pause are skipped
            if triggers is not None:
                triggers.skip_pending()
            continue
        if triggers is not None:  # several inputs or outputs: a trigger set
            if not _trigger_set_turn(
                triggers, kernel, aux_handles, aux_bufs, outputs, control
            ):
                orphaned()  # between frames: exit if the manager died
            continue
        count = trigger.wait_new(last, timeout=wait_slice)
        fields[HEARTBEAT_NS] = monotonic_ns()
        if count == last:
            orphaned()  # between frames: exit if the manager died
            continue
        last = trigger.read_into(trigger_buf)
        frame_id = trigger.last_frame_id
        if first_frame_id is None:
            first_frame_id = frame_id
        for handle, lag in sync:
            # a feedback input has nothing to wait for on the first frame
            if frame_id - lag >= first_frame_id:
                _wait_frame(handle, frame_id - lag, fields, wait_slice, orphaned)
        for alias, handle in aux_handles:
            handle.read_into(aux_bufs[alias])
        t0 = perf_ns()
        with output.write_view(frame_id=frame_id) as buf:
            kernel.compute_into(trigger_buf, buf, aux_bufs)
            # statistics before publishing: a reader that sees frame k's
            # output also sees frame k counted
            control.record_frame(perf_ns() - t0, frame_id)


def _trigger_set(cfg: KernelConfig, handles: dict[str, Any]) -> Any:
    """The kernel's :class:`~shmpipeline.triggers.TriggerSet` when it has
    several trigger inputs or outputs, else None (the loop above)."""
    from shmpipeline.stream import empty_frame
    from shmpipeline.triggers import TriggerSet, fan_in

    if not fan_in(cfg) and len(cfg.all_outputs) == 1:
        return None
    streams = [handles[name] for name in cfg.trigger_inputs]
    return TriggerSet(cfg, streams, [empty_frame(h) for h in streams])


def _trigger_set_turn(triggers, kernel, aux_handles, aux_bufs, outputs, control):
    """One turn of a fan-in or multi-output worker: wait for a trigger set
    (at most one wait slice), compute on it into every output, publish them
    all with the set's token. False when no set came."""
    fields = control.fields
    ready = triggers.wait(MAX_WAIT_SLICE)
    fields[HEARTBEAT_NS] = time.monotonic_ns()
    control.record_sync(triggers.metrics)
    if not ready:
        return False
    for alias, handle in aux_handles:
        handle.read_into(aux_bufs[alias])
    frame_id = triggers.frame_id
    t0 = time.perf_counter_ns()
    with ExitStack() as views:
        bufs = [views.enter_context(h.write_view(frame_id=frame_id)) for h in outputs]
        kernel.compute_into_multiple(triggers.trigger_input, bufs, aux_bufs)
        # counted before publishing: a reader that sees the frame sees it counted
        published = outputs[0].count + 1 if frame_id is None else frame_id
        control.record_frame(time.perf_counter_ns() - t0, published)
    return True


def _wait_frame(handle, frame_id: int, fields, wait_slice: float, orphaned) -> None:
    """Lockstep: block until ``handle`` has published ``frame_id`` (or later)."""
    while True:
        try:
            if handle.wait_for_frame_id(frame_id, wait_slice, interruptible=True) >= frame_id:
                return
        except TimeoutError:
            orphaned()
        if fields[CMD] == STOP:
            raise _Stopped


def _never() -> None:
    """Stand-in for a lifeline check when the worker has no parent to watch."""


__all__ = ["WorkerSpec", "run_worker", "wake_pipeline", "worker_main"]
