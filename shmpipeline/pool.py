"""A pool of warm, generic worker processes for many short pipeline runs.

Starting a pipeline normally spawns one process per kernel, each importing
numpy and the runtime: a few hundred milliseconds per kernel, far more than
the frames of a short test replay. A :class:`WorkerPool` starts its
processes once (spawned, so safe with CUDA; numpy, the runtime and the
kernel registry imported), then lends them to managers::

    with WorkerPool() as pool:
        for config in configs:
            with PipelineManager(config, workers=pool) as manager:
                ...

On ``start()`` each lent worker is handed one kernel (its config, stream
names, namespace) and runs the ordinary worker loop
(:func:`shmpipeline.runtime.run_worker`): a fresh kernel instance, its own
stream handles. On ``stop()`` the loop ends, the handles are closed, the CPU
affinity is restored, and the worker goes back to the pool. A worker whose
kernel failed, that did not stop in time, or that died is never reused: it
exits or is killed, and the pool starts its replacement in the background
(reaping the old process there too), so neither the failing run's stop nor
the next run's start waits for a process to end or begin (spares:
:meth:`WorkerPool.release`).

The worker process itself (what it imports, warms up and runs per task,
and how it starts without re-running the main script) is
:mod:`shmpipeline.pool_worker`.

Workers never outlive the process that made the pool
(:mod:`shmpipeline.lifeline`; a spawned replacement, started from the
background thread, relies on the lifeline's parent polling rather than
the parent-death signal, which would fire when that thread ends);
:meth:`WorkerPool.shutdown` (also at interpreter exit) ends them. One
manager at a time uses a given worker; several managers may lease from
one pool.
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import pickle
import queue as queue_module
import threading
import time
import weakref
from multiprocessing.connection import wait as wait_connections
from typing import Any

from shmpipeline.control import ControlBlock
from shmpipeline.errors import WorkerProcessError
from shmpipeline.lifeline import ParentInfo
from shmpipeline.pool_worker import (
    DONE,
    EVENT,
    IDLE_POLL_S,
    READY,
    make_task,
    pool_worker_main,
    preload,
    preload_modules,
    starting_without_main,
)

__all__ = ["PoolLease", "PooledWorker", "WorkerPool", "pool_worker_main", "preload", "preload_modules"]

#: how long acquiring waits for new workers to report ready
READY_TIMEOUT = 60.0
#: workers kept beyond the largest lease once one was lost, and once
#: losses recur (each replacement then has two runs' time to start)
SPARES = (1, 2)


# --- the manager side ----------------------------------------------------------------


class PooledWorker:
    """The pool's record of one worker process (its pipe and control block)."""

    def __init__(self, process: Any, conn: Any, control: ControlBlock) -> None:
        self.process = process
        self.conn = conn
        self.control = control
        self.ready = False
        self.tasks = 0  # kernels handed to it so far (a used worker is warm)
        self.busy = False  # running a task
        self.clean: bool | None = None  # how its last task ended
        self.broken = False  # never to be reused

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def usable(self) -> bool:
        return self.ready and not self.broken and self.process.is_alive()

    @property
    def viable(self) -> bool:
        """Ready or still starting, and not known to be broken."""
        return not self.broken and self.process.is_alive()


class PoolLease:
    """Workers lent to one manager run.

    Queue-like for the manager (``get``/``get_nowait`` return worker events,
    ``queue.Empty`` when none), plus :meth:`run` to hand a worker its kernel
    and :meth:`wait_done` to wait until it has finished and is reusable.
    """

    def __init__(self, pool: WorkerPool, workers: list[PooledWorker]) -> None:
        self._pool = pool
        self.workers = workers
        self._pending: list[dict[str, Any]] = []
        self._closed = False

    def run(self, worker: PooledWorker, spec: Any) -> None:
        """Hand ``worker`` the kernel ``spec`` describes (a ``WorkerSpec``)."""
        worker.control.reset()
        worker.busy, worker.clean = True, None
        worker.tasks += 1
        try:
            worker.conn.send(make_task(spec))
        except (OSError, ValueError, pickle.PicklingError) as error:
            worker.broken, worker.busy = True, False
            raise WorkerProcessError(
                f"pool worker {worker.pid} cannot take kernel {spec.kernel.name!r}: {error}",
                kernel=spec.kernel.name,
            ) from None

    def running(self, worker: PooledWorker) -> bool:
        """Whether ``worker`` is still running its kernel."""
        self._pump(0.0)
        return worker.busy and worker.process.is_alive()

    def wait_done(self, worker: PooledWorker, timeout: float) -> bool:
        """Wait up to ``timeout`` s for ``worker``'s task to end; true if it did."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while worker.busy and worker.process.is_alive():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._pump(min(remaining, IDLE_POLL_S))
        return True

    def _pump(self, timeout: float) -> None:
        """Receive what the lent workers sent (events; task ends)."""
        live = {w.conn: w for w in self.workers if not w.broken}
        if not live:
            return
        try:
            ready = wait_connections(list(live), timeout)
        except OSError:
            ready = []
        for conn in ready:
            worker = live[conn]
            while True:
                try:
                    if not conn.poll(0):
                        break
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    worker.broken, worker.busy = True, False
                    break
                if kind == EVENT:
                    self._pending.append(payload)
                elif kind == DONE:
                    worker.busy, worker.clean = False, bool(payload)

    def get(self, block: bool = True, timeout: float | None = None) -> dict[str, Any]:
        if not self._pending:
            self._pump(0.0 if not block else (IDLE_POLL_S if timeout is None else timeout))
        if not self._pending:
            raise queue_module.Empty
        return self._pending.pop(0)

    def get_nowait(self) -> dict[str, Any]:
        return self.get(False)

    def close(self) -> None:
        """Give the workers back (the manager has stopped them)."""
        if self._closed:
            return
        self._closed = True
        self._pump(0.0)
        self._pool.release(self.workers)

    def join_thread(self) -> None:
        """Queue compatibility: nothing to join."""


class WorkerPool:
    """Generic pre-started worker processes lent to pipeline managers.

    ``size`` workers start at once (more start on demand when a pipeline
    needs them; idle ones are kept up to the largest number ever needed).
    ``spawn_method``: ``spawn`` (default) starts each worker as a new
    interpreter that imports everything itself; ``forkserver`` imports
    everything once in a server process that has never touched CUDA or
    started threads of its own, and forks workers from it in milliseconds
    (a worker may then initialise CUDA itself, which is safe). ``fork``
    is refused: a child of a process that may hold CUDA or threads is not
    safe.
    """

    def __init__(self, size: int = 0, *, spawn_method: str = "spawn") -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"WorkerPool size must be a non-negative integer, got {size!r}")
        if spawn_method not in ("spawn", "forkserver"):
            raise ValueError(
                f"WorkerPool spawn_method must be 'spawn' or 'forkserver', got {spawn_method!r}"
            )
        self._context = mp.get_context(spawn_method)
        self._via_server = spawn_method == "forkserver"
        if self._via_server:
            self._context.set_forkserver_preload(preload_modules())
        self.spawn_method = spawn_method
        self._lock = threading.Lock()
        self._replacing: list[threading.Thread] = []  # see release()
        self._largest = 0  # the most workers one lease took
        self._losses = 0  # releases that retired a worker
        self._to_start = 0  # workers replacement threads are yet to start
        self._idle: list[PooledWorker] = []
        self._all: list[PooledWorker] = []
        self._closed = False
        self._owner = os.getpid()
        self._finalizer = weakref.finalize(self, _kill_all, self._all)
        atexit.register(_shutdown_ref, weakref.ref(self))
        if size:
            self._idle.extend(self._start(size))
            self._await_ready(self._idle)

    # -- public ------------------------------------------------------------------------
    @property
    def owner_pid(self) -> int:
        """The process that made the pool (the only one that may use it)."""
        return self._owner

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        return self._closed

    @property
    def size(self) -> int:
        """Workers alive now (idle or lent)."""
        return sum(1 for w in self._all if w.process.is_alive())

    @property
    def idle(self) -> int:
        """Workers ready to be lent now."""
        with self._lock:
            self._poll_ready(self._idle)
            return sum(1 for w in self._idle if w.usable)

    def pids(self) -> list[int]:
        """Pids of the live workers (diagnostics, tests)."""
        return [w.pid for w in self._all if w.process.is_alive()]

    def start_server(self) -> None:
        """Start the fork server now (forkserver pools; nothing for spawn)
        without waiting for it: it imports numpy, the runtime and the
        kernels while the caller does other work, instead of during the
        first lease."""
        if self._via_server and not self._closed:
            from multiprocessing import forkserver

            forkserver.ensure_running()

    def lease(self, count: int) -> PoolLease:
        """Lend ``count`` ready workers (starting new ones as needed)."""
        if self._closed:
            raise WorkerProcessError("the worker pool is shut down")
        if os.getpid() != self._owner:
            raise WorkerProcessError("a worker pool is usable only in the process that made it")
        with self._lock:
            self._idle = [w for w in self._idle if w.viable or self._discard(w)]
            self._poll_ready(self._idle)
            short = sum(1 for w in self._idle if w.ready) < count
        if short:  # replacements being started count as idle workers
            self._join_replacements()
        with self._lock:
            self._idle = [w for w in self._idle if w.viable or self._discard(w)]
            missing = count - len(self._idle)
            if missing > 0:
                self._idle.extend(self._start(missing))
            self._poll_ready(self._idle)
            # ready ones first, of those the most used: a worker's first task
            # pays for the pages its fork shares with the server
            self._idle.sort(key=lambda w: (not w.ready, -w.tasks))
            lent, self._idle = self._idle[:count], self._idle[count:]
            self._await_ready(lent)
            self._largest = max(self._largest, count)
        return PoolLease(self, lent)

    def release(self, workers: list[PooledWorker]) -> None:
        """Take workers back: clean ones become idle; the others leave the
        pool now (killed) and a background thread reaps them and starts
        their replacements, so the caller's stop does not wait for either.

        Once a worker was lost the pool keeps :data:`SPARES` workers beyond
        the largest lease (two once losses recur, as in a suite replaying a
        fault scenario), so the next lease finds ready workers while the
        replacement starts. A replacement starts at once: it competes with
        the next run's start, which costs that run less than letting it
        compete with the run's frames (measured: deferring it until the
        next lease's workers had reported in cut that start by 1-1.5 ms and
        lengthened the run by 2-4 ms, a five-kernel lockstep replay after a
        failed one on two CPUs)."""
        with self._lock:
            self._replacing = [t for t in self._replacing if t.is_alive()]
            retired = []
            for worker in workers:
                if (
                    worker.clean
                    and not worker.busy
                    and not worker.broken
                    and worker.process.is_alive()
                    and not self._closed
                ):
                    self._idle.append(worker)
                else:
                    self._retire(worker)
                    retired.append(worker)
            if retired and not self._closed:
                # once a worker was lost, keep a spare beyond the largest
                # lease (two once losses recur): the next lease then finds
                # enough ready workers while the replacement waits for it
                self._losses += 1
                spares = SPARES[min(self._losses, len(SPARES)) - 1]
                live = len(self._all) + self._to_start
                starts = max(self._largest + spares - live, 0)
                self._to_start += starts
                thread = threading.Thread(
                    target=self._replace,
                    args=(retired, starts),
                    name="shmpipeline:pool-replace",
                    daemon=True,
                )
                self._replacing.append(thread)
                thread.start()

    def shutdown(self, timeout: float = 2.0) -> None:
        """End every worker (idle ones exit, lent ones are killed)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True  # a replacement thread now starts nothing
        self._join_replacements()
        with self._lock:
            for worker in self._all:
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
            deadline = time.monotonic() + timeout
            for worker in self._all:
                worker.process.join(max(0.0, deadline - time.monotonic()))
            _kill_all(self._all)
            self._idle.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    # -- internals -----------------------------------------------------------------------
    def _start(self, count: int, *, register: bool = True) -> list[PooledWorker]:
        """Start ``count`` workers (they report ready later); ``register``:
        count them among the pool's workers now (else the caller does)."""
        parent = ParentInfo.current(via_server=self._via_server)
        started = []
        for _ in range(count):
            mine, theirs = self._context.Pipe(duplex=True)
            control = ControlBlock.allocate(self._context)
            process = self._context.Process(
                target=pool_worker_main,
                args=(parent, theirs, control, self._via_server),
                name="shmpipeline:pool",
                daemon=True,
            )
            with starting_without_main():  # see shmpipeline.pool_worker
                process.start()
            theirs.close()
            worker = PooledWorker(process, mine, control)
            started.append(worker)
            if register:
                self._all.append(worker)
        return started

    def _poll_ready(self, workers: list[PooledWorker], timeout: float = 0.0) -> None:
        """Receive the ready reports that have arrived (waits at most ``timeout``)."""
        waiting = {w.conn: w for w in workers if not w.ready and not w.broken}
        if not waiting:
            return
        for conn in wait_connections(list(waiting), timeout):
            worker = waiting[conn]
            try:
                kind, _pid = conn.recv()
                worker.ready = kind == READY
            except (EOFError, OSError):
                worker.broken = True

    def _await_ready(self, workers: list[PooledWorker]) -> None:
        """Wait until every one of ``workers`` reported ready."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            pending = [w for w in workers if not w.ready and not w.broken]
            if not pending:
                break
            self._poll_ready(pending, 0.25)
            for worker in pending:
                if not worker.ready and not worker.process.is_alive():
                    worker.broken = True
        bad = [w for w in workers if not w.ready]
        if bad:
            for worker in bad:
                self._discard(worker)
            raise WorkerProcessError(
                f"{len(bad)} pool worker(s) did not start within {READY_TIMEOUT:.0f} s"
            )

    def _retire(self, worker: PooledWorker) -> None:
        """Take a worker out of the pool for good, without waiting for it
        to end (:meth:`_replace` reaps it)."""
        worker.broken = True
        if worker.process.is_alive():
            worker.process.kill()
        try:
            worker.conn.close()
        except OSError:
            pass
        if worker in self._all:
            self._all.remove(worker)

    def _replace(self, retired: list[PooledWorker], starts: int) -> None:
        """Background: start ``starts`` new workers, each idle as soon as it
        is started (unless the pool was shut down meanwhile), then reap the
        ``retired`` ones."""
        try:
            for _ in range(starts):
                started = self._start(1, register=False)  # the lock stays free
                with self._lock:
                    self._to_start -= 1
                    starts -= 1
                    if self._closed:
                        _kill_all(started)
                    else:
                        self._all.extend(started)
                        self._idle.extend(started)
        except (OSError, RuntimeError):
            pass  # the next lease starts what is missing, and says why it cannot
        finally:
            with self._lock:
                self._to_start -= starts  # those not started
        for worker in retired:
            try:
                worker.process.join(1.0)
            except (OSError, ValueError, AssertionError):
                pass  # reaped already

    def _join_replacements(self) -> None:
        """Wait for the background replacements started so far."""
        while True:
            try:
                thread = self._replacing.pop(0)
            except IndexError:
                return
            thread.join()

    def _discard(self, worker: PooledWorker) -> bool:
        """End one worker for good and reap it (false: for use in filters)."""
        self._retire(worker)
        worker.process.join(1.0)
        return False


def _kill_all(workers: list[PooledWorker]) -> None:
    for worker in workers:
        try:
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join(1.0)
        except (OSError, ValueError, AssertionError):
            pass  # not ours (a forked child's copy) or already reaped


def _shutdown_ref(ref: weakref.ref) -> None:
    pool = ref()
    if pool is not None and os.getpid() == pool._owner:
        pool.shutdown(timeout=1.0)

