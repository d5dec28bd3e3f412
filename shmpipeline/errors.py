"""The one exception hierarchy of shmpipeline.

Every error the package raises on purpose derives from :class:`ShmPipelineError`,
so callers can catch the whole family in one clause. Each class also derives
from the closest built-in exception (``ValueError``, ``RuntimeError``...) so
code written against plain Python idioms keeps working.
"""

from __future__ import annotations


class ShmPipelineError(Exception):
    """Base class of every error raised by shmpipeline."""


# --- configuration ---------------------------------------------------------


class ConfigValidationError(ShmPipelineError, ValueError):
    """A pipeline config (YAML or mapping) is invalid.

    The message names the entry and field at fault; when loaded from a file it
    also carries ``path`` and ``line``. ``errors`` lists every problem found
    when several were collected at once. Where one field of one entry is at
    fault, ``field`` names it and ``problem`` says what is wrong with it
    (the message without the entry and field), for callers that report the
    problem at their own location.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        errors: tuple[str, ...] | list[str] | None = None,
        field: str | None = None,
        problem: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.errors = tuple(errors) if errors else (message,)
        self.field = field
        self.problem = problem
        super().__init__(self._render())

    def _render(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class ScenarioError(ConfigValidationError):
    """A scenario file of the test harness is invalid."""


# --- runtime ----------------------------------------------------------------


class StateTransitionError(ShmPipelineError, RuntimeError):
    """A manager operation was called in a state that does not allow it."""


class BenchmarkError(ShmPipelineError, RuntimeError):
    """A benchmark cannot run on this pipeline (nothing to drive or time) or
    a frame did not arrive in time."""


class WorkerProcessError(ShmPipelineError, RuntimeError):
    """A worker process failed: raised in ``__init__``, while opening its
    streams, or died (signal / non-zero exit).

    ``str()`` is the whole report (the worker's traceback appended);
    ``summary`` is the one-line account without it (``kernel 'x' failed
    while computing a frame: ValueError: ...``), kept apart so nobody has to
    split the text again.
    """

    def __init__(
        self,
        message: str,
        *,
        kernel: str | None = None,
        traceback: str | None = None,
        exitcode: int | None = None,
        summary: str | None = None,
    ) -> None:
        self.kernel = kernel
        self.traceback = traceback
        self.exitcode = exitcode
        self.summary = message if summary is None else summary
        super().__init__(message)


class KernelExecutionError(WorkerProcessError):
    """A kernel raised while computing a frame (``compute_into``)."""


# --- streams ----------------------------------------------------------------


class StreamError(ShmPipelineError):
    """Base class of shared-memory stream errors."""


class StreamNotFoundError(StreamError, FileNotFoundError):
    """No shared-memory segment of that name exists."""


class StreamExistsError(StreamError, FileExistsError):
    """A live segment of that name already exists."""


class SegmentAccessError(StreamError, PermissionError):
    """A name under ``/dev/shm`` is not one of this user's segments: a FIFO,
    directory, symbolic link or other non-regular file, another user's file,
    or one we may not open. The message names it and says what to do."""


class StreamLayoutError(StreamError, ValueError):
    """A segment is foreign, of another layout version, or its shape/dtype
    disagrees with what the caller expected."""


class StreamClosedError(StreamError, ValueError):
    """The stream handle was closed."""


class StreamFrameError(StreamError, ValueError):
    """An array given to ``write`` does not match the stream's shape/dtype or
    layout; the stream is left untouched and usable."""


class StreamWriterDiedError(StreamError, RuntimeError):
    """A reader waiting without a timeout for a new frame found that the
    stream's writer process (its creator, before anyone wrote) is dead, so no
    frame can come."""


class GpuUnavailableError(ShmPipelineError, RuntimeError):
    """A GPU kind or GPU stream was used without torch or without CUDA."""


# --- harness ----------------------------------------------------------------


class GoldenError(ShmPipelineError):
    """Base class of the golden-file errors of the test harness."""


class GoldenMismatchError(GoldenError, AssertionError):
    """Captured scenario outputs differ from the recorded golden file."""


class GoldenFileError(GoldenMismatchError):
    """A file named as a golden cannot be used as one: unreadable, not a
    golden of this format, over the size limits, or a file recording would
    have to overwrite although it is no golden."""


class GoldenMissingError(GoldenError, FileNotFoundError):
    """A scenario's golden file does not exist yet; the message says how to
    record it."""


class DeviceTimeoutError(ShmPipelineError, TimeoutError):
    """A (fake) device stopped responding: fault injection with
    ``stop_after`` and ``on_stop: raise``."""


__all__ = [
    "ShmPipelineError",
    "ConfigValidationError",
    "ScenarioError",
    "StateTransitionError",
    "WorkerProcessError",
    "KernelExecutionError",
    "StreamError",
    "StreamNotFoundError",
    "StreamExistsError",
    "StreamLayoutError",
    "StreamClosedError",
    "StreamFrameError",
    "StreamWriterDiedError",
    "GpuUnavailableError",
    "GoldenError",
    "GoldenMismatchError",
    "GoldenFileError",
    "GoldenMissingError",
    "DeviceTimeoutError",
]
