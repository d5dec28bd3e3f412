"""Find a stream's segment: create it, or open and validate an existing one.

What :meth:`SharedStream.create <shmpipeline.stream.SharedStream.create>` and
``open`` do before a handle exists. Both return the mapped
:class:`~shmpipeline.stream._segment.Segment` and its decoded static header
(:func:`shmpipeline.stream._header.unpack_static`), checked against this
layout version and, when asked, against a shape and dtype.

Creating writes the static header, then the magic last: an opener that finds
a segment without magic waits briefly (its creator may still be writing it)
before calling it foreign. A name held by a dead creator is reclaimed; one
held by a live creator is :class:`StreamExistsError` unless ``exist_ok``.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from ..errors import (
    StreamError,
    StreamExistsError,
    StreamLayoutError,
    StreamNotFoundError,
)
from . import _header as H
from ._names import make_segment_name
from ._process import process_alive, process_start_time
from ._segment import (
    Segment,
    create_segment,
    free_space,
    open_segment,
    read_prefix,
    unlink_segment,
)
from .checks import ALLOWED_KINDS

__all__ = ["create_stream_segment", "describe", "open_stream_segment"]

#: How long an opener waits for a creator still initialising the header.
INIT_WAIT_S = 2.0


def describe(name: str, namespace: str | None) -> str:
    """``'name'`` or ``'name' (namespace 'ns')``, for messages."""
    return repr(name) if namespace is None else f"{name!r} (namespace {namespace!r})"


def create_stream_segment(
    name: str,
    ns: str | None,
    seg_name: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    nslots: int,
    nbytes: int,
    *,
    exist_ok: bool,
) -> tuple[Segment, dict]:
    """Create (or, with ``exist_ok`` and a live creator, open) the segment
    of stream ``name`` (``seg_name``): arguments already normalised."""
    size = H.segment_size(nbytes, nslots)
    free = free_space()
    if free is not None and size > free:
        raise StreamError(
            f"cannot create stream {describe(name, ns)}: it needs {size} "
            f"bytes of shared memory and only {free} are free in /dev/shm"
        )
    for _attempt in range(8):
        try:
            segment = create_segment(seg_name, size)
        except FileExistsError:
            existing = _inspect(seg_name)
            if existing is None:
                continue  # vanished meanwhile: try again
            pid, start, inode, _valid = existing
            if pid and not process_alive(pid, start):
                unlink_segment(seg_name, inode)  # reclaim a dead creator's
                continue
            if exist_ok:
                return open_stream_segment(name, ns, shape, dtype)
            owner = (
                f"created by process {pid}, which is alive"
                if pid
                else "its creator is unknown: a foreign segment, or one "
                "still being created"
            )
            raise StreamExistsError(
                f"stream {describe(name, ns)} already exists (segment "
                f"{seg_name!r}; {owner}); pass exist_ok=True to attach to it"
            ) from None
        except OSError as exc:
            raise StreamError(
                f"cannot create stream {describe(name, ns)} (segment "
                f"{seg_name!r}): {exc.strerror or exc}"
            ) from exc
        pid = os.getpid()
        static = H.pack_static(
            shape=shape,
            dtype_str=dtype.str,
            itemsize=dtype.itemsize,
            nbytes=nbytes,
            nslots=nslots,
            creator_pid=pid,
            creator_start=process_start_time(pid),
            created_ns=time.time_ns(),
            namespace=ns or "",
            name=name,
        )
        segment.mm[H.OFF_VERSION : H.OFF_VERSION + len(static)] = static
        segment.mm[H.OFF_MAGIC : H.OFF_MAGIC + 8] = H.MAGIC  # last: now valid
        return segment, H.unpack_static(segment.mm[: H.HEADER_SIZE])
    raise StreamExistsError(
        f"stream {describe(name, ns)}: segment {seg_name!r} keeps being "
        "recreated by another process"
    )


def open_stream_segment(
    name: str,
    ns: str | None,
    shape: tuple[int, ...] | None,
    dtype: np.dtype | None,
) -> tuple[Segment, dict]:
    """Open the existing segment of stream ``name`` and validate its header
    (and, when given, its shape and dtype)."""
    seg_name = make_segment_name(name, ns)
    what = f"stream {describe(name, ns)} (segment {seg_name!r})"
    segment = _open_initialised(name, ns, seg_name, what)
    try:
        static = H.unpack_static(segment.mm[: H.HEADER_SIZE])
        _validate_static(static, segment.size, what)
        if shape is not None or dtype is not None:
            got_dtype = np.dtype(static["dtype_str"])
            if (shape is not None and static["shape"] != shape) or (
                dtype is not None and got_dtype != dtype
            ):
                want = (
                    f"shape {shape if shape is not None else static['shape']!r}"
                    f" dtype {dtype if dtype is not None else got_dtype!s}"
                )
                raise StreamLayoutError(
                    f"{what} has shape {static['shape']!r} dtype {got_dtype!s}"
                    f", expected {want}"
                )
    except BaseException:
        segment.mm.close()
        raise
    return segment, static


def _open_initialised(name: str, ns: str | None, seg_name: str, what: str) -> Segment:
    """The mapped segment once its magic is there (waiting up to
    :data:`INIT_WAIT_S` for a creator still writing the header)."""
    deadline = time.monotonic() + INIT_WAIT_S
    while True:
        try:
            segment = open_segment(seg_name)
        except FileNotFoundError:
            raise StreamNotFoundError(
                f"no stream {describe(name, ns)}: shared-memory segment "
                f"{seg_name!r} does not exist"
            ) from None
        except ValueError:
            segment = None  # empty: a creator may be sizing it
        except OSError as exc:
            raise StreamError(f"cannot open {what}: {exc.strerror or exc}") from exc
        if segment is not None and segment.size >= H.HEADER_SIZE:
            magic = segment.mm[: len(H.MAGIC)]
            if magic == H.MAGIC:
                return segment
            if magic != b"\0" * len(H.MAGIC):
                segment.mm.close()
                raise StreamLayoutError(
                    f"{what} is not a shmpipeline stream (bad magic {magic!r})"
                )
        elif segment is not None:
            size = segment.size
            segment.mm.close()
            raise StreamLayoutError(
                f"{what} is not a shmpipeline stream ({size} bytes, smaller "
                "than a stream header)"
            )
        # Zero magic or empty: maybe still being initialised by its creator.
        if segment is not None:
            segment.mm.close()
        if time.monotonic() >= deadline:
            raise StreamLayoutError(
                f"{what} is not a shmpipeline stream (no header; it may be "
                "foreign, or its creator died while creating it)"
            )
        time.sleep(0.001)


def _inspect(seg_name: str):
    """(creator pid, start time, inode, has magic) of an existing segment, or
    None if it vanished."""
    try:
        raw, inode = read_prefix(seg_name, H.HEADER_SIZE)
    except FileNotFoundError:
        return None
    except OSError:  # e.g. another user's segment: creator unknown
        return 0, 0, None, False
    pid, start = H.read_creator(raw)
    return pid, start, inode, raw[:8] == H.MAGIC


def _validate_static(static: dict, size: int, what: str) -> None:
    def bad(reason: str) -> StreamLayoutError:
        return StreamLayoutError(f"{what} has an invalid header: {reason}")

    if static["version"] != H.LAYOUT_VERSION:
        raise StreamLayoutError(
            f"{what} has layout version {static['version']}; this shmpipeline "
            f"reads version {H.LAYOUT_VERSION} (recreate the stream)"
        )
    if static["header_size"] != H.HEADER_SIZE:
        raise bad(f"header size {static['header_size']} != {H.HEADER_SIZE}")
    ndim = static["ndim"]
    if ndim > H.MAX_NDIM or any(d <= 0 for d in static["dims"][:ndim]):
        raise bad(f"shape {static['dims'][:ndim]!r}")
    try:
        dt = np.dtype(static["dtype_str"])
    except (TypeError, ValueError):
        raise bad(f"dtype {static['dtype_str']!r}") from None
    if dt.kind not in ALLOWED_KINDS or dt.itemsize != static["itemsize"]:
        raise bad(f"dtype {static['dtype_str']!r} with itemsize {static['itemsize']}")
    nbytes = math.prod(static["shape"]) * dt.itemsize
    if nbytes != static["nbytes"]:
        raise bad(f"nbytes {static['nbytes']} != {nbytes}")
    nslots = static["nslots"]
    if not H.MIN_SLOTS <= nslots <= H.MAX_SLOTS:
        raise bad(f"{nslots} slots")
    if static["slot_offset"] != H.HEADER_SIZE or static["slot_stride"] < nbytes:
        raise bad("slot geometry")
    need = static["slot_offset"] + nslots * static["slot_stride"]
    if size < need:
        raise bad(f"segment is {size} bytes, its header describes {need}")
