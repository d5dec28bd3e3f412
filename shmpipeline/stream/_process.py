"""Process identity for stale-segment detection: a pid plus its start time.

A bare pid is not enough to tell whether a segment's creator is still alive,
because pids are reused. On Linux the start time of a process (field 22 of
``/proc/<pid>/stat``, clock ticks since boot) is fixed for its life, so
(pid, start time) identifies one process. Elsewhere the start time is 0
(unknown) and liveness falls back to the pid alone.
"""

from __future__ import annotations

import os

__all__ = ["CURRENT_PID", "process_start_time", "process_alive"]

_HAVE_PROC = os.path.exists("/proc/self/stat")

#: this process's pid as a one-item list, kept current across fork (a forked
#: writer registers anew); cheaper per frame than ``os.getpid()``
CURRENT_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: CURRENT_PID.__setitem__(0, os.getpid()))


def process_start_time(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot; 0 when unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return 0
    # The command name (field 2) is in parentheses and may contain spaces or
    # ')' itself, so split after the last ')'; field 3 is then the first.
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22 overall
    except (IndexError, ValueError):
        return 0


def process_alive(pid: int, start_time: int = 0) -> bool:
    """Whether the process (``pid``, ``start_time``) still runs.

    ``start_time`` 0 means unknown: then any live process with that pid
    counts. A zombie (exited, not yet reaped) counts as dead.
    """
    if not 0 < pid < 2**31:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    except OSError:
        return False
    if not _HAVE_PROC:
        return True  # not Linux: the signal probe is all we have
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    fields = stat[stat.rfind(b")") + 2 :].split()
    if fields and fields[0] in (b"Z", b"X"):
        return False
    if start_time:
        try:
            return int(fields[19]) == start_time
        except (IndexError, ValueError):
            return True
    return True
