"""Shared-memory streams: named, fixed-shape frames in POSIX shared memory.

:class:`SharedStream` is the handle (create/open, write/read, futex-woken
waits); the module functions manage segments by name (namespaces, listing,
stale cleanup). See ``docs/ARCHITECTURE.md`` ("Stream contract").
:class:`GpuSharedStream` keeps its frames on a CUDA device (torch, imported
only when one is created or opened); :func:`create_stream` /
:func:`open_stream` pick the class from a ``SharedMemoryConfig``.
"""

from __future__ import annotations

from ._admin import (
    CleanupReport,
    SegmentInfo,
    cleanup_segments,
    cleanup_stale,
    exists,
    list_segments,
    unlink,
)
from ._names import NAMESPACE_ENV, current_namespace, segment_name
from .device import HostToDeviceStream
from .factory import create_stream, empty_frame, open_stream
from .gpu import GpuSharedStream
from .stream import SharedStream

__all__ = [
    "SharedStream",
    "GpuSharedStream",
    "HostToDeviceStream",
    "create_stream",
    "open_stream",
    "empty_frame",
    "SegmentInfo",
    "list_segments",
    "cleanup_stale",
    "cleanup_segments",
    "CleanupReport",
    "current_namespace",
    "segment_name",
    "exists",
    "unlink",
    "NAMESPACE_ENV",
]
