"""Create, open, list and unlink named POSIX shared-memory segments.

On Linux a POSIX shm object *is* a file under ``/dev/shm``: we use it directly
(``os.open`` + ``posix_fallocate``/``ftruncate`` + ``mmap``). Nothing here
goes through ``multiprocessing.shared_memory``, so Python's
``resource_tracker`` never learns about our segments and cannot unlink them
when some reader process exits (the CPython < 3.13 pitfall). Elsewhere the
same is done with ``_posixshmem.shm_open`` (still without the tracker).

Every name is opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked to be a
regular file owned by the current user before it is mapped, so a symbolic
link, FIFO, directory or another user's file planted under our prefix is
refused with :class:`~shmpipeline.errors.SegmentAccessError` (naming it and
what to do) instead of being followed, blocking or mapped.
"""

from __future__ import annotations

import errno
import mmap
import os
import stat
import sys
from dataclasses import dataclass

from ..errors import SegmentAccessError

__all__ = [
    "Segment",
    "create_segment",
    "open_segment",
    "unlink_segment",
    "segment_exists",
    "list_segment_names",
    "read_prefix",
    "free_space",
    "SHM_DIR",
    "segment_problem",
]

SHM_DIR = "/dev/shm"
_USE_DEV_SHM = sys.platform.startswith("linux") and os.path.isdir(SHM_DIR)

if not _USE_DEV_SHM:  # pragma: no cover - non-Linux
    import _posixshmem  # type: ignore[import-not-found]


@dataclass(eq=False)
class Segment:
    """An open mapping of a segment plus the identity of its file."""

    name: str
    mm: mmap.mmap
    size: int
    inode: tuple[int, int]  # (st_dev, st_ino); (0, 0) where unknown


def _path(name: str) -> str:
    return os.path.join(SHM_DIR, name)


_REMEDY = (
    "remove it (as its owner) if it is left over, or use another namespace "
    "(SHMPIPELINE_NAMESPACE)"
)
_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


_REFUSED_ERRNOS = (errno.ELOOP, errno.EISDIR, errno.EACCES, errno.EPERM, errno.ENXIO)


def segment_problem(st: os.stat_result) -> str | None:
    """Why a file with this (l)stat may not be used as a segment, or None.

    Only regular files owned by the current (effective) user qualify.
    """
    for test, what in _KINDS:
        if test(st.st_mode):
            return f"{what}, not a shared-memory segment"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_uid != os.geteuid():
        return f"owned by uid {st.st_uid}, not by this user (uid {os.geteuid()})"
    return None


def _refusal(name: str, problem: str) -> SegmentAccessError:
    return SegmentAccessError(f"{_path(name)} is {problem}: refusing it; {_REMEDY}")


def _denied(name: str, exc: OSError) -> SegmentAccessError:
    """The error for an ``os.open`` refused by the kernel (a symlink under
    ``O_NOFOLLOW``, a directory, missing permissions)."""
    try:
        problem = segment_problem(os.lstat(_path(name)))
    except OSError:
        problem = None
    if problem is None:
        problem = f"not accessible ({exc.strerror or exc})"
    return _refusal(name, problem)


def _open_fd(name: str, flags: int, mode: int = 0o600) -> int:
    if not _USE_DEV_SHM:  # pragma: no cover - non-Linux
        return _posixshmem.shm_open("/" + name, flags, mode)
    flags |= os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(_path(name), flags, mode)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError as exc:
        if exc.errno in _REFUSED_ERRNOS:
            raise _denied(name, exc) from exc
        raise
    try:
        problem = segment_problem(os.fstat(fd))
        if problem is not None:
            raise _refusal(name, problem)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _identity(fd: int) -> tuple[tuple[int, int], int]:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino), st.st_size


def _reserve(fd: int, size: int) -> None:
    """Give the file its size, allocating tmpfs pages up front where possible
    so that running out of /dev/shm is an error now, not a SIGBUS later."""
    if hasattr(os, "posix_fallocate") and _USE_DEV_SHM:
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
    os.ftruncate(fd, size)


def create_segment(name: str, size: int) -> Segment:
    """Create a new segment of ``size`` bytes (zero filled).

    Raises ``FileExistsError`` if the name is taken, ``OSError`` (ENOSPC...)
    if it cannot be allocated; nothing is left behind on failure.
    """
    fd = _open_fd(name, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    try:
        inode, _ = _identity(fd)
        try:
            _reserve(fd, size)
            mm = mmap.mmap(fd, size)
        except BaseException:
            unlink_segment(name, inode)
            raise
    finally:
        os.close(fd)
    return Segment(name, mm, size, inode)


def open_segment(name: str) -> Segment:
    """Map an existing segment whole.

    ``FileNotFoundError`` if missing; ``ValueError`` if it is empty (not a
    stream, or one whose creator has not sized it yet);
    :class:`SegmentAccessError` if the name is not one of this user's
    regular files.
    """
    fd = _open_fd(name, os.O_RDWR)
    try:
        inode, size = _identity(fd)
        if size == 0:
            raise ValueError(f"segment {name!r} is empty")
        mm = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    return Segment(name, mm, size, inode)


def read_prefix(name: str, length: int) -> tuple[bytes, tuple[int, int]]:
    """Read up to ``length`` bytes from the start of a segment (no mapping
    kept), plus its identity. ``FileNotFoundError`` if missing,
    :class:`SegmentAccessError` if it is not one of this user's regular
    files (never blocks on a FIFO)."""
    fd = _open_fd(name, os.O_RDONLY)
    try:
        inode, size = _identity(fd)
        if size == 0:
            return b"", inode
        with mmap.mmap(fd, min(size, length), prot=mmap.PROT_READ) as mm:
            return bytes(mm), inode
    finally:
        os.close(fd)


def unlink_segment(name: str, inode: tuple[int, int] | None = None) -> bool:
    """Remove a segment's name; True if removed.

    With ``inode``, remove it only if the name still refers to that very
    segment, so a successor created under the same name is left alone.
    """
    if _USE_DEV_SHM:
        path = _path(name)
        if inode is not None and inode != (0, 0):
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return False
            if (st.st_dev, st.st_ino) != inode:
                return False
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:  # a directory, another user's file (sticky dir)
            raise _denied(name, exc) from exc
        return True
    try:  # pragma: no cover - non-Linux
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def segment_exists(name: str) -> bool:
    """Whether a segment of that name exists."""
    if _USE_DEV_SHM:
        return os.path.lexists(_path(name))
    try:  # pragma: no cover - non-Linux
        os.close(_open_fd(name, os.O_RDONLY))
    except FileNotFoundError:  # pragma: no cover
        return False
    return True  # pragma: no cover


def list_segment_names(prefix: str) -> list[str]:
    """Names of existing segments starting with ``prefix`` (sorted).

    Only Linux can enumerate POSIX shm; elsewhere this returns ``[]``.
    """
    if not _USE_DEV_SHM:  # pragma: no cover
        return []
    try:
        entries = os.listdir(SHM_DIR)
    except OSError:
        return []
    return sorted(e for e in entries if e.startswith(prefix))


def free_space() -> int | None:
    """Bytes available in /dev/shm, or None where unknown."""
    if not _USE_DEV_SHM:  # pragma: no cover
        return None
    try:
        st = os.statvfs(SHM_DIR)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize
