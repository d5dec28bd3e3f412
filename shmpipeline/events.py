"""Worker -> manager event records (plain JSON-friendly dicts).

Every event has ``type`` ('started', 'failed', 'exited'), ``kernel``,
``pid`` and ``time`` (epoch seconds). Failures add ``where`` ('init',
'open', 'compute', 'process'), ``error_type``, ``message``, ``traceback``
and, for dead processes, ``exitcode``.
"""

from __future__ import annotations

import os
import time
import traceback as tb
from typing import Any

from shmpipeline.errors import KernelExecutionError, WorkerProcessError


def started(kernel: str) -> dict[str, Any]:
    return {"type": "started", "kernel": kernel, "pid": os.getpid(), "time": time.time()}


def exited(kernel: str) -> dict[str, Any]:
    return {"type": "exited", "kernel": kernel, "pid": os.getpid(), "time": time.time()}


def failed(kernel: str, where: str, error: BaseException) -> dict[str, Any]:
    """Describe an exception raised in a worker (call inside ``except``)."""
    return {
        "type": "failed",
        "kernel": kernel,
        "pid": os.getpid(),
        "time": time.time(),
        "where": where,
        "error_type": type(error).__name__,
        "message": str(error),
        "traceback": "".join(tb.format_exception(error)),
        "exitcode": None,
    }


def died(kernel: str, pid: int | None, exitcode: int | None) -> dict[str, Any]:
    """A worker process that ended without reporting (crash, signal)."""
    if exitcode is not None and exitcode < 0:
        message = f"worker process killed by signal {-exitcode}"
    else:
        message = f"worker process exited unexpectedly with code {exitcode}"
    return {
        "type": "failed",
        "kernel": kernel,
        "pid": pid,
        "time": time.time(),
        "where": "process",
        "error_type": "WorkerProcessError",
        "message": message,
        "traceback": "",
        "exitcode": exitcode,
    }


def to_exception(event: dict[str, Any]) -> WorkerProcessError:
    """The exception ``raise_if_failed`` raises for a failure event."""
    cls = KernelExecutionError if event.get("where") == "compute" else WorkerProcessError
    where = {
        "init": "while initialising the kernel",
        "open": "while opening its streams",
        "compute": "while computing a frame",
        "process": "",
    }.get(event.get("where", ""), "")
    text = f"kernel {event['kernel']!r} failed {where}: {event['error_type']}: {event['message']}"
    if event.get("where") == "process":
        text = f"kernel {event['kernel']!r}: {event['message']}"
    report = text
    if event.get("traceback"):
        report += "\n\nworker traceback:\n" + event["traceback"]
    return cls(
        report,
        kernel=event["kernel"],
        traceback=event.get("traceback") or None,
        exitcode=event.get("exitcode"),
        summary=text,
    )


__all__ = ["started", "exited", "failed", "died", "to_exception"]
