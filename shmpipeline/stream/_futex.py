"""Cross-process futex wait/wake on a 32-bit word in shared memory.

Linux: ``syscall(SYS_futex, ...)`` through ctypes with the *shared* (not
``FUTEX_PRIVATE_FLAG``) operations, so waiters and wakers may live in
different processes mapping the same segment. ctypes releases the GIL for the
call, so other threads of the waiting process keep running.

Elsewhere there is no futex: :func:`futex_wait` just sleeps a short slice
(callers re-check their condition after each return, and poll with their own
backoff) and :func:`futex_wake` does nothing. ``FUTEX_AVAILABLE`` tells which
one is in use.

Also here: :func:`memory_fence`, a full hardware fence needed on weakly
ordered CPUs (aarch64...) between the seqlock's plain loads and stores. On
x86-64 (total store order, the machine this project is measured on) plain
aligned 8-byte loads and stores made from separate interpreter steps are
already ordered as the seqlock needs, so ``NEEDS_FENCE`` is false there.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import sys
import time

__all__ = [
    "current_cpu",
    "FUTEX_AVAILABLE",
    "NEEDS_FENCE",
    "Timespec",
    "futex_wait",
    "futex_wake",
    "memory_fence",
    "timespec",
]

_FUTEX_WAIT = 0  # shared (non-private) ops: the word lives in a shared mapping
_FUTEX_WAKE = 1
_WAKE_ALL = 2**31 - 1

_MACHINE = platform.machine().lower()
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(_MACHINE)


class Timespec(ctypes.Structure):
    """``struct timespec`` (relative timeout of FUTEX_WAIT)."""

    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def timespec(seconds_ns: int) -> Timespec:
    """Build a :class:`Timespec` from a duration in nanoseconds."""
    seconds_ns = max(0, int(seconds_ns))
    return Timespec(seconds_ns // 1_000_000_000, seconds_ns % 1_000_000_000)


def _load_syscall():
    if not sys.platform.startswith("linux") or _SYS_FUTEX is None:
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        wait = libc["syscall"]  # each item lookup is a fresh function pointer
        wake = libc["syscall"]
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return None
    # Typed prototypes let ctypes convert plain ints without wrapper objects.
    # syscall(SYS_futex, uaddr, op, val, timeout | val2, uaddr2, val3): the
    # two uses differ in the types of ``val`` and the fourth argument.
    for call, val, fourth in (
        (wait, ctypes.c_uint32, ctypes.POINTER(Timespec)),
        (wake, ctypes.c_int, ctypes.c_void_p),
    ):
        call.restype = ctypes.c_long
        call.argtypes = [
            ctypes.c_long,
            ctypes.c_void_p,
            ctypes.c_int,
            val,
            fourth,
            ctypes.c_void_p,
            ctypes.c_int,
        ]
    return wait, wake


_SYSCALLS = _load_syscall()
FUTEX_AVAILABLE = _SYSCALLS is not None

if _SYSCALLS is not None:
    _wait_call, _wake_call = _SYSCALLS

    def futex_wait(address: int, expected: int, timeout: Timespec) -> None:
        """Sleep while the u32 at ``address`` equals ``expected``, at most
        ``timeout``. Returns on wake, value change, timeout or signal; the
        caller always re-checks its own condition."""
        _wait_call(_SYS_FUTEX, address, _FUTEX_WAIT, expected, timeout, None, 0)

    def futex_wake(address: int) -> None:
        """Wake every process/thread sleeping on the u32 at ``address``."""
        _wake_call(_SYS_FUTEX, address, _FUTEX_WAKE, _WAKE_ALL, None, None, 0)

else:  # pragma: no cover - exercised only off Linux

    def futex_wait(address: int, expected: int, timeout: Timespec) -> None:
        """Polling fallback: sleep a short slice (at most ``timeout``)."""
        limit = timeout.tv_sec + timeout.tv_nsec * 1e-9
        time.sleep(min(limit, 0.002))

    def futex_wake(address: int) -> None:
        """Polling fallback: waiters notice the change on their next poll."""


# --- memory fence for weakly ordered CPUs ------------------------------------

NEEDS_FENCE = _MACHINE not in ("x86_64", "amd64", "i386", "i686", "x86")


def _load_fence():
    if not NEEDS_FENCE:
        return None
    name = ctypes.util.find_library("atomic")
    if name is None:
        return None
    try:
        fence = ctypes.CDLL(name)["atomic_thread_fence"]
    except (OSError, AttributeError):
        return None
    fence.restype = None
    fence.argtypes = [ctypes.c_int]
    return fence


_FENCE = _load_fence()
_SEQ_CST = 5


def memory_fence() -> None:
    """Full hardware memory fence (a no-op where none is needed or available)."""
    if _FENCE is not None:
        _FENCE(_SEQ_CST)


# --- which CPU this thread runs on -------------------------------------------


def _load_getcpu():
    if not sys.platform.startswith("linux"):
        return None
    try:
        getcpu = ctypes.CDLL(None)["sched_getcpu"]
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        return None
    getcpu.restype = ctypes.c_int
    getcpu.argtypes = []
    return getcpu


_GETCPU = _load_getcpu()


def current_cpu() -> int:
    """The CPU the calling thread runs on now (-1 when unknown)."""
    return _GETCPU() if _GETCPU is not None else -1
