"""Shared-memory streams: named, fixed-shape frames in POSIX shared memory.

:class:`SharedStream` is the handle (create/open, write/read, futex-woken
waits); the module functions manage segments by name (namespaces, listing,
stale cleanup). See ``docs/ARCHITECTURE.md`` ("Stream contract").
"""

from __future__ import annotations

from ._admin import SegmentInfo, cleanup_stale, exists, list_segments, unlink
from ._names import NAMESPACE_ENV, current_namespace, segment_name
from .stream import SharedStream

__all__ = [
    "SharedStream",
    "SegmentInfo",
    "list_segments",
    "cleanup_stale",
    "current_namespace",
    "segment_name",
    "exists",
    "unlink",
    "NAMESPACE_ENV",
]
