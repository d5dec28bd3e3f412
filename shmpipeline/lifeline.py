"""Child processes that never outlive their parent.

A worker whose manager was SIGKILLed (a CI timeout, ``os._exit`` from a
test timeout) would otherwise be reparented to init and run forever. Two
mechanisms, both armed by :meth:`Lifeline.arm` first thing in the child:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``. The kernel kills the child
  the moment its parent *thread* (the one that started it) ends, so it is
  only armed when that thread was the parent's main thread (a manager
  started from a short-lived thread would otherwise lose its workers when
  the thread returns). Right after arming, the child checks the parent is
  still there: one that died before the call would never send the signal.
* Everywhere: :meth:`Lifeline.parent_alive`, a cheap ``getppid()``
  comparison that the worker's wait loop calls between waits (at least
  every quarter second), then exits.

A forkserver child's parent is the forkserver, not the manager, and the
forkserver only exits once the manager *and* every child it forked are gone
(they all hold its "alive" pipe). So a forkserver child watches the manager
itself (pid and start time, through ``/proc``) instead of its parent pid;
when the workers exit, the forkserver follows.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from dataclasses import dataclass

from shmpipeline.stream._process import process_alive, process_start_time

__all__ = ["EXIT_PARENT_DIED", "Lifeline", "ParentInfo"]

#: exit status of a child that ended because its parent died
EXIT_PARENT_DIED = 75
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ParentInfo:
    """Who the child must not outlive (picklable; made in the parent)."""

    pid: int
    #: whether the thread starting the child is the parent's main thread
    main_thread: bool
    #: process start time (ticks since boot, 0 unknown): pids are reused
    start_time: int = 0

    @classmethod
    def current(cls, *, via_server: bool = False) -> ParentInfo:
        """Describe the calling process and thread. ``via_server``: the
        child is forked by a server process (forkserver), whose main thread
        is its parent."""
        main = via_server or threading.current_thread() is threading.main_thread()
        pid = os.getpid()
        return cls(pid, main, process_start_time(pid))


class Lifeline:
    """The child's side: arm the death signal, then poll the parent."""

    def __init__(self, parent_pid: int, watched: ParentInfo | None = None) -> None:
        self._parent_pid = parent_pid
        self._watched = watched  # a grandparent to watch instead (forkserver)

    @classmethod
    def arm(cls, parent: ParentInfo, *, via_server: bool = False) -> Lifeline:
        """Call first thing in the child. Exits at once (status
        :data:`EXIT_PARENT_DIED`) when the parent is already gone."""
        if parent.main_thread:
            _set_parent_death_signal(signal.SIGKILL)
        ppid = os.getppid()
        if not via_server and ppid != parent.pid:
            os._exit(EXIT_PARENT_DIED)  # died before the signal was armed
        line = cls(ppid, parent if via_server else None)
        line.exit_if_orphaned()
        return line

    def parent_alive(self) -> bool:
        """Whether the process that started this one (for a forkserver
        child: the manager) is still alive."""
        watched = self._watched
        if watched is not None:
            return process_alive(watched.pid, watched.start_time)
        return os.getppid() == self._parent_pid

    def exit_if_orphaned(self) -> None:
        """End this process now if its parent died (nobody is left to tell)."""
        if not self.parent_alive():
            os._exit(EXIT_PARENT_DIED)


def _set_parent_death_signal(signum: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, signum)`` on Linux; false elsewhere."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return False
    prctl.restype = ctypes.c_int
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    return prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0
