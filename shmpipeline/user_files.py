"""Reading files that users name, without blocking, exhausting memory or escaping.

Pipelines, scenarios, goldens and ``file:`` inputs are all paths taken from a
user's document or command line. Every one of them goes through this module so
the same rules hold everywhere:

- the path is ``stat``-ed before it is opened, and only a regular file is read:
  a FIFO, a character device such as ``/dev/zero``, a socket or a directory is
  refused at once, never opened (opening a FIFO for reading would block);
- the file is opened with ``O_NONBLOCK`` and checked again with ``fstat`` on the
  open descriptor, so a path swapped for a FIFO between the two checks still
  cannot block or be read;
- a file larger than a limit (64 MiB unless the caller says otherwise) is
  refused before any of it is read, and at most ``limit + 1`` bytes are ever
  read, so a file growing under us cannot exhaust memory;
- a relative path from a user file resolves inside that file's directory tree
  unless the caller explicitly allows otherwise (:func:`resolve_inside`).

Each function takes an ``error`` factory so the caller raises its own member
of the :mod:`shmpipeline.errors` hierarchy with its own location prefix.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

#: Largest user file read by default (pipelines, scenarios, ``file:`` inputs).
MAX_USER_FILE_BYTES = 64 * 1024 * 1024

ErrorFactory = Callable[[str], Exception]


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def check_regular_file(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: ErrorFactory,
    max_bytes: int = MAX_USER_FILE_BYTES,
) -> Path:
    """Return ``path`` when it names a regular file of at most ``max_bytes``.

    Raises ``error(message)`` naming ``what`` (e.g. ``"pipeline file"``) and
    the path when it is missing, not a regular file, or too large. Nothing is
    opened.
    """
    target = Path(path)
    try:
        info = os.stat(target)
    except FileNotFoundError:
        raise error(f"{what} {str(target)!r} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {str(target)!r} cannot be read: {exc.strerror}") from None
    _check_info(info, target, what=what, error=error, max_bytes=max_bytes)
    return target


def _check_info(
    info: os.stat_result,
    target: Path,
    *,
    what: str,
    error: ErrorFactory,
    max_bytes: int,
) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise error(
            f"{what} {str(target)!r} is {_kind_of(info.st_mode)}, not a regular file"
        )
    if info.st_size > max_bytes:
        raise error(
            f"{what} {str(target)!r} is {info.st_size} bytes, over the "
            f"{max_bytes}-byte limit"
        )


def read_user_bytes(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: ErrorFactory,
    max_bytes: int = MAX_USER_FILE_BYTES,
) -> bytes:
    """Read a regular file of at most ``max_bytes`` without ever blocking."""
    target = check_regular_file(path, what=what, error=error, max_bytes=max_bytes)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise error(f"{what} {str(target)!r} cannot be read: {exc.strerror}") from None
    try:
        _check_info(os.fstat(fd), target, what=what, error=error, max_bytes=max_bytes)
        chunks: list[bytes] = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise error(f"{what} {str(target)!r} grew past the {max_bytes}-byte limit")
    return data


def read_user_text(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: ErrorFactory,
    max_bytes: int = MAX_USER_FILE_BYTES,
) -> str:
    """Read a UTF-8 text file with the rules of :func:`read_user_bytes`."""
    data = read_user_bytes(path, what=what, error=error, max_bytes=max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {str(path)!r} is not UTF-8 text (byte {exc.start})"
        ) from None


def resolve_inside(
    base_dir: str | os.PathLike[str],
    relative: str | os.PathLike[str],
    *,
    what: str,
    error: ErrorFactory,
    allow_outside: bool = False,
) -> Path:
    """Resolve ``relative`` against ``base_dir`` and keep it inside that tree.

    Absolute paths and ``..`` components that leave ``base_dir`` (after
    resolving symlinks) raise ``error(...)`` unless ``allow_outside`` is true.
    """
    base = Path(base_dir).resolve()
    candidate = Path(relative)
    resolved = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not allow_outside and not resolved.is_relative_to(base):
        raise error(
            f"{what} {str(relative)!r} resolves outside {str(base)!r}; paths in "
            "a scenario stay inside its directory"
        )
    return resolved


__all__ = [
    "MAX_USER_FILE_BYTES",
    "check_regular_file",
    "read_user_bytes",
    "read_user_text",
    "resolve_inside",
]
