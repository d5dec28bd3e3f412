"""Worker supervision: the processes running one pipeline's kernels.

A :class:`WorkerSupervisor` starts one worker per kernel (a process of its
own, or a warm process of a :class:`~shmpipeline.pool.WorkerPool` lease),
drains their event queue, records failures (also of workers that died
without a word), sends run/pause/stop commands through each worker's
control block, joins (and if need be kills) them at stop, and replaces
failed ones at restart. The pipeline state is the manager's: the supervisor
only keeps the records the manager reads it from.
"""

from __future__ import annotations

import logging
import queue as queue_module
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shmpipeline import events
from shmpipeline.control import PAUSE, STOP, ControlBlock
from shmpipeline.errors import StreamError, WorkerProcessError
from shmpipeline.runtime import WorkerSpec, worker_main

if TYPE_CHECKING:
    from shmpipeline.pool import WorkerPool

log = logging.getLogger("shmpipeline.manager")

#: how long a pause or resume waits for every worker to acknowledge
PAUSE_ACK_TIMEOUT = 2.0

__all__ = ["PAUSE_ACK_TIMEOUT", "WorkerRecord", "WorkerSupervisor", "wake_waiters"]


@dataclass
class WorkerRecord:
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


def wake_waiters(streams: Mapping[str, Any]) -> None:
    """Wake every worker blocked on one of ``streams`` so it re-reads its
    command now."""
    for handle in streams.values():
        wake = getattr(handle, "wake_waiters", None)
        if wake is not None:
            try:
                wake()
            except (StreamError, OSError, ValueError):
                continue  # a handle closed under us has no waiter to wake


class WorkerSupervisor:
    """The workers of one pipeline, their events and their failures.

    ``context`` is the multiprocessing context own processes come from;
    ``pool``, when given, lends the processes instead; ``kick`` wakes the
    workers blocked on a stream (see :func:`wake_waiters`). ``processes``
    is the one list of processes started here (the manager's last-resort
    cleanup holds it).
    """

    def __init__(
        self, context: Any, pool: WorkerPool | None, kick: Callable[[], None]
    ) -> None:
        self.context = context
        self.pool = pool
        self.kick = kick
        self.records: dict[str, WorkerRecord] = {}
        self.specs: dict[str, WorkerSpec] = {}  # of the current run, for restart
        self.processes: list = []
        self.queue: Any = None
        self.lease: Any = None  # the pool workers of the current run
        self.events: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []

    # -- starting -----------------------------------------------------------------
    def start(self, specs: Mapping[str, WorkerSpec], kinds: Mapping[str, str]) -> None:
        """Start one worker per spec (kernel name -> spec, config order)."""
        pool = self.pool
        lease = None if pool is None else pool.lease(len(specs))
        self.lease = lease
        self.queue = lease if lease is not None else self.context.Queue()
        self.records.clear()
        self.processes.clear()
        for index, (name, spec) in enumerate(specs.items()):
            pooled = lease.workers[index] if lease else None
            control = pooled.control if pooled else ControlBlock.allocate(self.context)
            process = pooled.process if pooled else self.context.Process(
                target=worker_main,
                args=(spec, control, self.queue),
                name=f"shmpipeline:{name}",
                daemon=True,
            )
            self.records[name] = WorkerRecord(
                name, kinds[name], process, control, spec.cpu, pooled=pooled
            )
            self.processes.append(process)
        for worker in self.records.values():
            if worker.pooled is None:
                worker.process.start()
            else:
                try:
                    lease.run(worker.pooled, specs[worker.kernel])
                except WorkerProcessError as error:  # died while idle
                    self.record_failure(
                        {
                            **events.died(worker.kernel, worker.process.pid, None),
                            "message": str(error),
                        }
                    )
        self.specs = dict(specs)

    def await_started(self, timeout: float, *, detect_deaths: bool = True) -> None:
        """Wait up to ``timeout`` s for every worker to report in; a worker
        that does not is recorded as failed (one that dies meanwhile at once
        with ``detect_deaths``)."""
        deadline = time.monotonic() + timeout
        waiting = set(self.records)
        while waiting and time.monotonic() < deadline:
            self.drain(timeout=0.05)
            waiting = {
                n for n, w in self.records.items() if not (w.started or w.failed)
            }
            if detect_deaths:
                self.check_processes()
            if self.failures:
                return
        if waiting:
            for name in sorted(waiting):
                self.record_failure(
                    {
                        **events.died(name, self.records[name].process.pid, None),
                        "message": f"worker did not start within {timeout:g} s",
                    }
                )

    def restart(
        self, names: set[str], *, paused: bool, timeout: float, detect_deaths: bool
    ) -> None:
        """Replace the named workers' processes (own processes only),
        leaving the others running, and wait for them to report in."""
        for name in names:
            old = self.records[name]
            old.control.command = STOP
            self.kick()
            old.process.join(1.0)
            if old.process.is_alive():
                old.process.kill()
                old.process.join(1.0)
            if old.process in self.processes:
                self.processes.remove(old.process)
            control = ControlBlock.allocate(self.context)
            if paused:
                control.command = PAUSE
            process = self.context.Process(
                target=worker_main,
                args=(self.specs[name], control, self.queue),
                name=f"shmpipeline:{name}",
                daemon=True,
            )
            self.records[name] = WorkerRecord(name, old.kind, process, control, old.cpu)
            self.processes.append(process)
            process.start()
        self.failures = [f for f in self.failures if f.get("kernel") not in names]
        self.await_started(timeout, detect_deaths=detect_deaths)

    # -- commands -----------------------------------------------------------------
    def command(self, command: float) -> None:
        """Send ``command`` (run/pause/stop) to every worker; for run and
        pause, wait up to :data:`PAUSE_ACK_TIMEOUT` for the live ones to
        acknowledge it."""
        for worker in self.records.values():
            worker.control.command = command
        self.kick()
        if command == STOP:
            return
        deadline = time.monotonic() + PAUSE_ACK_TIMEOUT
        for worker in self.records.values():
            while (
                worker.control.ack != command
                and worker.process.is_alive()
                and time.monotonic() < deadline
            ):
                time.sleep(0.0005)

    def stop(self, timeout: float, *, force: bool) -> None:
        """Stop every worker: ask, wait up to ``timeout`` s, then terminate
        and kill the stragglers; the queue is closed (a pool lease gives its
        workers back)."""
        self.command(STOP)
        deadline = time.monotonic() + timeout
        for worker in self.records.values():
            self.join(worker, max(deadline - time.monotonic(), 0.0))
        stragglers = [w for w in self.records.values() if self.running(w)]
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
        self.drain(timeout=0.0)
        self.close_queue()  # a pool lease gives its workers back here
        if self.pool is not None:
            self.processes.clear()  # the pool's now, not ours to clean up

    def join(self, worker: WorkerRecord, timeout: float) -> None:
        """Wait up to ``timeout`` s for a worker's kernel loop to end."""
        if worker.pooled is None:
            worker.process.join(timeout)
        else:
            self.lease.wait_done(worker.pooled, timeout)

    def running(self, worker: WorkerRecord) -> bool:
        """Whether the worker's kernel loop still runs."""
        if worker.pooled is None:
            return worker.process.is_alive()
        return self.lease.running(worker.pooled)

    def close_queue(self) -> None:
        if self.queue is not None:
            self.queue.close()
            self.queue.join_thread()
            self.queue = None

    # -- events and failures ------------------------------------------------------
    def drain(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """Receive the workers' pending events (waiting up to ``timeout`` s
        for the first), noting who started and who failed."""
        received: list[dict[str, Any]] = []
        if self.queue is None:
            return received
        block = timeout > 0
        while True:
            try:
                event = self.queue.get(block, timeout) if block else self.queue.get_nowait()
            except (queue_module.Empty, OSError, ValueError, EOFError):
                break
            block = False
            received.append(event)
            self.events.append(event)
            worker = self.records.get(event.get("kernel"))
            if event["type"] == "started" and worker is not None:
                worker.started = True
            elif event["type"] == "failed":
                self.record_failure(event)
        return received

    def record_failure(self, event: dict[str, Any]) -> None:
        """Record a failure event (once per worker)."""
        worker = self.records.get(event.get("kernel"))
        if worker is not None:
            if worker.failed:
                return
            worker.failed = True
        if event not in self.events:
            self.events.append(event)
        self.failures.append(event)

    def check_processes(self) -> None:
        """Record workers that died without saying why (signal, crash)."""
        for worker in self.records.values():
            if worker.failed or worker.process.is_alive():
                continue
            if worker.process.exitcode is None:
                continue
            self.drain(timeout=0.05)  # its own failure report may be in flight
            if not worker.failed:
                self.record_failure(
                    events.died(worker.kernel, worker.process.pid, worker.process.exitcode)
                )

    def worker_status(self) -> dict[str, dict[str, Any]]:
        """Per worker: kind, pid, liveness, CPU, exit code, failure and the
        control block's figures."""
        workers = {}
        for name, worker in self.records.items():
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
        return workers
