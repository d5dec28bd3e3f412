"""The pool worker process: what it imports once, how it gets a kernel task,
and what it warms up before it reports ready.

The manager side (:class:`~shmpipeline.pool.WorkerPool`, its leases) lives
in :mod:`shmpipeline.pool`; the two talk over one duplex pipe per worker
(messages :data:`READY`, :data:`EVENT`, :data:`DONE` from the worker; a task
or ``None``, meaning exit, from the pool).

Main module. A process that :mod:`multiprocessing` starts (spawn or
forkserver) normally re-runs the parent's main script as ``__mp_main__``
first, so objects defined there can be unpickled: ``pytest``'s console
script, the ``shmpipeline`` one or a benchmark, in every new worker. A pool
worker receives nothing but its own arguments at start, so the pool starts
it without that re-run (:func:`starting_without_main`); a task whose
payload names ``__main__`` (a kernel class defined in the main script) has
the worker run the main module then, once, as multiprocessing would have
(the script's ``if __name__ == "__main__":`` part still does not run).
"""

from __future__ import annotations

import functools
import gc
import os
import pickle
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from shmpipeline.control import ControlBlock
from shmpipeline.events import failed as failure_event
from shmpipeline.lifeline import Lifeline, ParentInfo

__all__ = [
    "DONE",
    "EVENT",
    "IDLE_POLL_S",
    "PRELOAD",
    "READY",
    "make_task",
    "open_task",
    "pool_worker_main",
    "preload",
    "preload_modules",
    "starting_without_main",
    "warm_up",
]

#: modules a pool worker imports before it reports ready
PRELOAD = (
    "numpy",
    "shmpipeline.runtime",
    "shmpipeline.registry",
    "shmpipeline.stream",
    "shmpipeline.placement",
    "shmpipeline.kernel",
    "shmpipeline.triggers",
)
#: how often an idle worker checks that its parent lives
IDLE_POLL_S = 0.25

#: messages from the worker: ready (its pid), an event, a task's end (clean?)
READY, EVENT, DONE = "ready", "event", "done"

#: multiprocessing preparation-data keys that re-run the main module in a child
MAIN_KEYS = ("init_main_from_name", "init_main_from_path")


# --- the task --------------------------------------------------------------------------


def make_task(spec: Any) -> tuple[str, tuple[str, ...], dict[str, str], bytes]:
    """A kernel task for a pool worker: its name, the manager's ``sys.path``,
    how to re-create the manager's main module and the pickled spec.

    The spec is pickled here, not by the connection, so the worker can first
    add the manager's import path (a fork-server worker started before a test
    directory or a plugin path was put on ``sys.path`` could otherwise not
    import the kernel classes the spec names) and, when the payload names
    ``__main__``, run the main module.
    """
    payload = pickle.dumps(spec, protocol=pickle.HIGHEST_PROTOCOL)
    return (spec.kernel.name, tuple(sys.path), _main_module_data(), payload)


def open_task(task: tuple[str, tuple[str, ...], dict[str, str], bytes]) -> Any:
    """Extend ``sys.path`` with the manager's missing entries, run the main
    module if the payload needs it, then unpickle."""
    _name, path, main, payload = task
    for entry in path:
        if entry not in sys.path:
            sys.path.append(entry)
    if main and b"__main__" in payload:
        from multiprocessing import spawn

        spawn.prepare(dict(main))  # a no-op once done
    return pickle.loads(payload)


def _task_name(task: Any) -> str:
    try:
        return str(task[0])
    except (TypeError, IndexError):
        return "?"


@functools.lru_cache(maxsize=4)
def _main_data_of(main: Any) -> tuple[tuple[str, str], ...]:
    from multiprocessing import spawn

    # outside starting_without_main() this is multiprocessing's full answer
    data = spawn.get_preparation_data(getattr(main, "__name__", "__main__"))
    return tuple((key, data[key]) for key in MAIN_KEYS if key in data)


def _main_module_data() -> dict[str, str]:
    """The preparation data by which multiprocessing re-creates this
    process's ``__main__`` in a child (empty for an interactive session)."""
    main = sys.modules.get("__main__")
    return {} if main is None else dict(_main_data_of(main))


# --- starting without the main module ---------------------------------------------------

_without_main = threading.local()
_install_lock = threading.Lock()
_ORIGINAL_PREPARATION: list[Any] = []  # multiprocessing's own, once replaced


def _filtered_preparation_data(name: str) -> dict[str, Any]:
    data = _ORIGINAL_PREPARATION[0](name)
    if getattr(_without_main, "active", False):
        for key in MAIN_KEYS:
            data.pop(key, None)
    return data


@contextmanager
def starting_without_main() -> Iterator[None]:
    """Processes this thread starts in the block skip multiprocessing's
    re-run of the main module (see the module docstring). Other threads,
    and this one outside the block, start processes as always."""
    from multiprocessing import spawn

    with _install_lock:
        if not _ORIGINAL_PREPARATION:
            _ORIGINAL_PREPARATION.append(spawn.get_preparation_data)
            spawn.get_preparation_data = _filtered_preparation_data
    _without_main.active = True
    try:
        yield
    finally:
        _without_main.active = False


# --- the worker process -----------------------------------------------------------------


class _ConnectionEvents:
    """Worker side of a lease: ``put(event)`` sends it to the manager."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def put(self, event: dict[str, Any]) -> None:
        self._conn.send((EVENT, event))


def pool_worker_main(
    parent: ParentInfo, conn: Any, control: ControlBlock, via_server: bool = False
) -> None:
    """Entry point of a pool worker: import once, warm up, then run one
    kernel per task until told to exit (``None``) or orphaned."""
    lifeline = Lifeline.arm(parent, via_server=via_server)
    preload()  # a no-op in a forkserver child: the server imported it all
    warm_up()
    # what is imported now lives as long as the worker: out of the collector's
    # sight, a full collection neither pauses a frame loop nor writes to (and
    # so copies) every page a forkserver child shares with its server
    gc.freeze()
    from shmpipeline.runtime import run_worker, wake_pipeline

    affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    events = _ConnectionEvents(conn)
    conn.send((READY, os.getpid()))
    while True:
        try:
            if not conn.poll(IDLE_POLL_S):
                lifeline.exit_if_orphaned()
                continue
            task = conn.recv()
        except (EOFError, OSError):
            return  # the pool is gone
        if task is None:
            return
        try:
            spec = open_task(task)
        except Exception as error:  # the kernel's module cannot be imported here
            events.put(failure_event(_task_name(task), "init", error))
            conn.send((DONE, False))
            return
        clean = run_worker(spec, control, events, lifeline)
        if affinity is not None:
            os.sched_setaffinity(0, affinity)
        conn.send((DONE, clean))
        if not clean:
            wake_pipeline(spec)
            return  # a failed worker is never reused


def warm_up() -> None:
    """Run once, before reporting ready, what a first task runs besides its
    streams: a task's unpickling, a kernel's validation and creation, a
    compute, a failure report (its traceback formatted). In a process
    forked from the server, a first run pays for copying the pages it
    writes and for specialising the bytecode it runs: about 2 ms, which a
    fresh worker's first kernel (and its failure report, the whole frame
    time of a fault scenario) would otherwise add to a run. Nothing here
    touches shared memory or the pipe."""
    import linecache

    import numpy as np

    from shmpipeline import runtime
    from shmpipeline.config import KernelConfig, SharedMemoryConfig
    from shmpipeline.kernel import KernelContext
    from shmpipeline.kernels.cpu.raise_error import RaiseErrorCpuKernel
    from shmpipeline.registry import KernelRegistry

    kind = RaiseErrorCpuKernel.kind
    spec = open_task(make_task(runtime.WorkerSpec(
        kernel=KernelConfig(
            name="warm_up", kind=kind, input="warm_in", output="warm_out",
            parameters={"message": "warm-up"},
        ),
        shared_memory={
            name: SharedMemoryConfig(name=name, shape=(4,), dtype="float32")
            for name in ("warm_in", "warm_out")
        },
        registry=KernelRegistry({kind: RaiseErrorCpuKernel}),
    )))
    kernel = spec.registry.create_from_context(KernelContext(spec.kernel, spec.shared_memory))
    frame = np.ones(4, np.float32)
    try:
        kernel.compute_into(frame, np.empty_like(frame), {})
    except RuntimeError as error:  # on purpose: what a failing kernel's report runs
        failure_event("warm_up", "compute", error)
    linecache.getlines(runtime.__file__)  # a failure's traceback quotes it


def preload_modules() -> list[str]:
    """Modules :func:`preload` imports (what a forkserver imports for us)."""
    import pkgutil

    import shmpipeline.kernels.cpu as cpu

    kernels = [f"{cpu.__name__}.{info.name}" for info in pkgutil.iter_modules(cpu.__path__)]
    return [*PRELOAD, "shmpipeline.pool", "shmpipeline.pool_worker", *kernels]


def preload() -> None:
    """Import what every worker needs, once: numpy, the runtime, the
    registry module and every built-in CPU kernel module (GPU kernels import
    torch: left to the task that needs them, so no server process touches
    CUDA). The default registry is not built: each task carries its
    kernel's class, and discovering entry points costs milliseconds."""
    import importlib

    for module in preload_modules():
        importlib.import_module(module)
