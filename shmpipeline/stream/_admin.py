"""Segment administration by name: list streams, find and remove stale ones.

A segment is *stale* when the process that created it is gone (checked by pid
and process start time, so a reused pid does not keep it alive). Segments
whose creator is unknown (foreign files under our prefix) are listed but never
removed automatically. Names that are not this user's regular files (FIFOs,
directories, symbolic links, other users' segments) are listed with the
``problem`` that makes them unusable, and skipped by the cleanup: never
opened for reading, so never blocked on.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field

import numpy as np

from ..errors import SegmentAccessError
from . import _header as H
from ._names import PREFIX, check_name, make_segment_name, resolve_namespace
from ._process import process_alive
from ._segment import (
    SHM_DIR,
    list_segment_names,
    read_prefix,
    segment_exists,
    unlink_segment,
)

__all__ = [
    "CleanupReport",
    "SegmentInfo",
    "cleanup_segments",
    "cleanup_stale",
    "exists",
    "list_segments",
    "unlink",
]

_log = logging.getLogger("shmpipeline.stream")


@dataclass(frozen=True)
class SegmentInfo:
    """What the header of one segment under the ``shmp.`` prefix says.

    ``valid`` is False for segments that are not (or not yet) shmpipeline
    streams; then only ``segment_name``, ``size`` and possibly
    ``creator_pid`` are meaningful. ``creator_alive`` is None when the
    creator is unknown. ``problem`` says why a name cannot be used at all
    (a FIFO, a directory, a symbolic link, another user's file, ...) and
    what to do; such entries are never removed.
    """

    segment_name: str
    name: str | None
    namespace: str | None
    valid: bool
    size: int
    creator_pid: int
    creator_alive: bool | None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    count: int | None = None
    problem: str | None = None

    @property
    def stale(self) -> bool:
        """True when the creator is known and dead."""
        return self.creator_alive is False

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "segment_name": self.segment_name,
            "name": self.name,
            "namespace": self.namespace,
            "valid": self.valid,
            "size": self.size,
            "creator_pid": self.creator_pid,
            "creator_alive": self.creator_alive,
            "stale": self.stale,
            "shape": None if self.shape is None else list(self.shape),
            "dtype": self.dtype,
            "count": self.count,
            "problem": self.problem,
        }


def _info(seg_name: str) -> tuple[SegmentInfo, tuple[int, int]] | None:
    try:
        raw, inode = read_prefix(seg_name, H.HEADER_SIZE)
    except (FileNotFoundError, ValueError):
        return None
    except OSError as exc:  # SegmentAccessError, or any other refusal
        if isinstance(exc, SegmentAccessError):
            problem = str(exc)
        else:
            problem = f"{os.path.join(SHM_DIR, seg_name)}: {exc.strerror or exc}"
        info = SegmentInfo(
            seg_name, None, None, False, _size(seg_name), 0, None, problem=problem
        )
        return info, (0, 0)
    size = len(raw)
    size = _size(seg_name, size)
    pid, start = H.read_creator(raw)
    alive = process_alive(pid, start) if pid else None
    if len(raw) < H.HEADER_SIZE or raw[:8] != H.MAGIC:
        return SegmentInfo(seg_name, None, None, False, size, pid, alive), inode
    static = H.unpack_static(raw)
    try:
        dtype = str(np.dtype(static["dtype_str"]))
    except (TypeError, ValueError):
        dtype = static["dtype_str"]
    count = int.from_bytes(raw[H.OFF_COUNT : H.OFF_COUNT + 8], sys.byteorder)
    info = SegmentInfo(
        segment_name=seg_name,
        name=static["name"] or None,
        namespace=static["namespace"] or None,
        valid=static["version"] == H.LAYOUT_VERSION,
        size=size,
        creator_pid=pid,
        creator_alive=alive,
        shape=static["shape"],
        dtype=dtype,
        count=count,
    )
    return info, inode


def _size(seg_name: str, default: int = 0) -> int:
    try:
        return os.lstat(os.path.join(SHM_DIR, seg_name)).st_size
    except OSError:
        return default


def _scan(namespace: str | None) -> list[tuple[SegmentInfo, tuple[int, int]]]:
    ns = resolve_namespace(namespace)
    prefix = f"{PREFIX}." if ns is None else f"{PREFIX}.{ns}."
    found = []
    for seg_name in list_segment_names(prefix):
        entry = _info(seg_name)
        if entry is None:
            continue
        info = entry[0]
        # "shmp.a.b" may be stream "a.b" without namespace rather than stream
        # "b" of namespace "a": trust the header where there is one.
        if ns is not None and info.valid and info.namespace != ns:
            continue
        found.append(entry)
    return found


def list_segments(namespace: str | None = None) -> list[SegmentInfo]:
    """Describe the stream segments of ``namespace``.

    ``namespace=None`` means ``$SHMPIPELINE_NAMESPACE``; when that is unset
    too, every segment under the ``shmp.`` prefix is listed. Only Linux can
    enumerate shared memory; elsewhere the list is empty.
    """
    return [info for info, _ in _scan(namespace)]


@dataclass(frozen=True)
class CleanupReport:
    """What :func:`cleanup_segments` removed, kept and skipped.

    ``removed``: stale segments unlinked (or, in a dry run, that would be);
    ``kept``: live or foreign segments left alone; ``skipped``:
    ``(segment name, problem)`` for names that are not this user's regular
    files, or that could not be removed.
    """

    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()
    segments: tuple[SegmentInfo, ...] = field(default=(), repr=False)


def cleanup_segments(
    namespace: str | None = None, *, dry_run: bool = False
) -> CleanupReport:
    """Unlink the stale segments of ``namespace`` (as in :func:`list_segments`)
    and report what was removed, kept and skipped; never raises for one bad
    name and never blocks on a special file."""
    removed: list[str] = []
    kept: list[str] = []
    skipped: list[tuple[str, str]] = []
    entries = _scan(namespace)
    for info, inode in entries:
        if info.problem is not None:
            skipped.append((info.segment_name, info.problem))
        elif not info.stale:
            kept.append(info.segment_name)
        elif dry_run:
            removed.append(info.segment_name)
        else:
            try:
                if unlink_segment(info.segment_name, inode):
                    removed.append(info.segment_name)
            except OSError as exc:
                skipped.append((info.segment_name, str(exc)))
    return CleanupReport(
        tuple(removed),
        tuple(kept),
        tuple(skipped),
        tuple(info for info, _ in entries),
    )


def cleanup_stale(namespace: str | None = None) -> list[str]:
    """Unlink the segments (of ``namespace``, as in :func:`list_segments`)
    whose creator process is dead; return their segment names. Names that
    cannot be used (see :class:`SegmentInfo.problem`) are skipped with a
    warning."""
    report = cleanup_segments(namespace)
    for name, problem in report.skipped:
        _log.warning("cleanup skipped %s: %s", name, problem)
    return list(report.removed)


def exists(name: str, *, namespace: str | None = None) -> bool:
    """Whether a segment for stream ``name`` exists."""
    return segment_exists(
        make_segment_name(check_name(name), resolve_namespace(namespace))
    )


def unlink(name: str, *, namespace: str | None = None) -> bool:
    """Remove stream ``name``'s segment by name; True if there was one."""
    return unlink_segment(
        make_segment_name(check_name(name), resolve_namespace(namespace))
    )
