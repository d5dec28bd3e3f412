"""The conventions every ``shmpipeline`` CLI verb follows.

Exit codes, user errors reported as one ``shmpipeline: error: ...`` line each
(never a traceback), JSON on stdout, logs on stderr, SIGTERM handled like
Ctrl-C, and the clean shutdown of a manager. :mod:`shmpipeline.cli` (the
parser and dispatch) and :mod:`shmpipeline.cli_verbs` (the handlers) share
them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import ConfigValidationError, StreamExistsError, WorkerProcessError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "UsageError",
    "UserError",
    "emit_json",
    "exists_hint",
    "json_default",
    "load_valid_config",
    "logging_to_stderr",
    "one_line",
    "os_error_text",
    "print_error",
    "report_config_error",
    "shutdown_manager",
    "sigterm_as_interrupt",
]

PROG = "shmpipeline"
_log = logging.getLogger("shmpipeline.cli")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """A problem to report as ``shmpipeline: error: <line>`` lines, exit 1."""

    exit_code = 1

    def __init__(self, *lines: str) -> None:
        super().__init__(lines[0] if lines else "")
        self.lines = lines


class UsageError(UserError):
    """Options that argparse accepts one by one but not together: exit 2."""

    exit_code = 2


@contextlib.contextmanager
def logging_to_stderr(args: argparse.Namespace) -> Iterator[None]:
    """Route the package's log records to the current stderr for one call."""
    if args.log_level:
        level = getattr(logging, args.log_level)
    else:
        level = logging.INFO + 10 * (args.quiet - args.verbose)
        level = min(max(level, logging.DEBUG), logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("shmpipeline")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def print_error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line, without the details that follow
    a blank line (e.g. a worker's traceback, logged at debug level)."""
    summary = exc.summary if isinstance(exc, WorkerProcessError) else None
    text = (summary or str(exc)).strip() or type(exc).__name__
    head = text if summary else text.split("\n\n", 1)[0]
    return " ".join(line.strip() for line in head.splitlines())


def exists_hint(exc: StreamExistsError) -> str:
    """A live stream of the same name blocks this pipeline: say what a CLI
    user can do (the Python-level advice, ``exist_ok=True``, is not theirs)."""
    message = one_line(exc).split("; pass exist_ok=True", 1)[0]
    return (
        f"{message}; another pipeline is using these stream names: stop it, or "
        f"run this one in another namespace (e.g. SHMPIPELINE_NAMESPACE=mine "
        f"{PROG} ...); '{PROG} cleanup' removes what crashed pipelines left behind"
    )


def os_error_text(exc: OSError) -> str:
    if exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror}"
    return one_line(exc)


def report_config_error(exc: ConfigValidationError) -> None:
    errors = exc.errors if len(exc.errors) > 1 else (str(exc),)
    for message in errors:
        if exc.path and not str(message).startswith(str(exc.path)):
            message = f"{exc.path}: {message}"
        print_error(str(message))


def emit_json(document: Any) -> None:
    print(json.dumps(document, indent=2, default=json_default))


def json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


# --- helpers shared by commands --------------------------------------------------------


def load_valid_config(path: str):
    """Load ``path``; every validation error becomes a :class:`UserError`."""
    from .config import PipelineConfig
    from .pipeline_validation import validate_pipeline_config

    errors = validate_pipeline_config(path)
    if errors:
        raise UserError(*errors)
    return PipelineConfig.from_yaml(path)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM stop a long command like Ctrl-C does (clean shutdown)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def shutdown_manager(manager: Any) -> None:
    """Stop synthetic writers and workers and unlink the streams; a second
    Ctrl-C while doing so forces it."""
    try:
        try:
            manager.stop_all_synthetic_inputs()
        finally:
            manager.shutdown()
    except KeyboardInterrupt:
        _log.warning("interrupted again: forcing shutdown")
        manager.shutdown(force=True)
