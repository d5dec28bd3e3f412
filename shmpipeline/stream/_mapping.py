"""One process's mapping of a stream segment: identity, layout, views, close.

:class:`StreamMapping` is the base of every stream handle: it holds what a
segment's static header says (name, shape, dtype, slots, creator), the views
the protocol works on (the header as u64/i64/u32 words, the payload slots as
ndarrays, the address of the futex word), and releases them on ``close``.
The waits (:class:`~shmpipeline.stream._waiting.StreamWaiting`) and the
seqlock writes and reads (:class:`~shmpipeline.stream.SharedStream`) build on
it; segments are found, created and validated in
:mod:`~shmpipeline.stream._attach`.

The members under "for handles layered on this one" are the contract a
wrapping handle (:class:`~shmpipeline.stream.GpuSharedStream`) uses instead
of this class's private state.
"""

from __future__ import annotations

import ctypes

import numpy as np

from ..errors import StreamClosedError
from . import _header as H
from ._header import Q_COUNT
from ._process import process_alive
from ._segment import Segment, unlink_segment

__all__ = ["StreamMapping"]


class StreamMapping:
    """A mapped stream segment (made by ``SharedStream.create``/``open``)."""

    def __init__(
        self, segment: Segment, static: dict, *, name: str, namespace: str | None
    ) -> None:
        self._name = name
        self._namespace = namespace
        self._segment_name = segment.name
        self._inode = segment.inode
        self._segment: Segment | None = segment
        self._shape: tuple[int, ...] = static["shape"]
        self._dtype = np.dtype(static["dtype_str"])
        self._strides = _c_strides(self._shape, self._dtype.itemsize)
        self._nbytes: int = static["nbytes"]
        self._nslots: int = static["nslots"]
        self._creator_pid: int = static["creator_pid"]
        self._creator_start: int = static["creator_start"]
        self._created_ns: int = static["created_ns"]
        self._closed = False

        mm = segment.mm
        header = memoryview(mm)[: H.HEADER_SIZE]
        self._h64 = header.cast("Q")
        self._hs64 = header.cast("q")
        self._h32 = header.cast("I")
        header.release()
        offset, stride = static["slot_offset"], static["slot_stride"]
        self._slots: tuple[np.ndarray, ...] = tuple(
            np.ndarray(self._shape, self._dtype, buffer=mm, offset=offset + i * stride)
            for i in range(self._nslots)
        )
        self._meta: tuple[int, ...] = tuple(
            H.slot_meta_index(i) for i in range(self._nslots)
        )
        self._futex_addr = _base_address(mm) + H.OFF_FUTEX

    # --- metadata --------------------------------------------------------------

    @property
    def name(self) -> str:
        """Stream name (without namespace)."""
        return self._name

    @property
    def namespace(self) -> str | None:
        """Namespace the stream lives in (None: none)."""
        return self._namespace

    @property
    def segment_name(self) -> str:
        """Name of the POSIX shared-memory segment."""
        return self._segment_name

    @property
    def shape(self) -> tuple[int, ...]:
        """Frame shape."""
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        """Frame dtype."""
        return self._dtype

    @property
    def nbytes(self) -> int:
        """Bytes of one frame."""
        return self._nbytes

    @property
    def slots(self) -> int:
        """Number of payload slots."""
        return self._nslots

    @property
    def creator_pid(self) -> int:
        """Pid of the process that created the segment."""
        return self._creator_pid

    @property
    def closed(self) -> bool:
        """Whether this handle is closed."""
        return self._closed

    @property
    def count(self) -> int:
        """Completed writes so far (0: nothing published yet)."""
        self._ensure_open()
        return self._h64[Q_COUNT]

    # --- for handles layered on this one (GpuSharedStream) ---------------------

    @property
    def segment(self) -> Segment:
        """The mapped segment (name, mapping, size, inode): a GPU stream
        writes and reads the header's GPU area through it. Closed with the
        handle (:class:`StreamClosedError` afterwards)."""
        segment = self._segment
        if segment is None:
            raise StreamClosedError(f"stream {self._name!r} is closed")
        return segment

    @property
    def segment_identity(self) -> tuple[str, tuple[int, int]]:
        """(segment name, (st_dev, st_ino)) of the segment this handle maps:
        a newer segment created under the same name has another; valid after
        :meth:`close`."""
        return self._segment_name, self._inode

    @property
    def slot_arrays(self) -> tuple[np.ndarray, ...]:
        """The payload slots as ndarrays viewing the segment, indexed like
        ``begin_write``'s result (a GPU stream's host mirror); empty once
        closed."""
        return self._slots

    @property
    def created_ns(self) -> int:
        """When the segment was created (ns since the epoch, ``time.time_ns``)."""
        return self._created_ns

    def creator_alive(self) -> bool:
        """Whether the process that created the segment still runs (pid and
        start time, so a reused pid does not count)."""
        return process_alive(self._creator_pid, self._creator_start)

    # --- lifecycle ---------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise StreamClosedError(f"stream {self._name!r} is closed")

    def close(self) -> None:
        """Release this handle (idempotent). The segment stays; see :meth:`unlink`."""
        if self._closed:
            return
        self._closed = True
        segment, self._segment = self._segment, None
        self._h64 = self._hs64 = self._h32 = None  # type: ignore[assignment]
        self._slots = ()
        try:
            segment.mm.close()  # type: ignore[union-attr]
        except BufferError:
            pass  # a view is still referenced somewhere: unmapped once it dies

    def unlink(self) -> None:
        """Remove the stream's name from the system (idempotent).

        Handles already open keep working until closed; a later ``create``
        makes a new stream. Only this very segment is removed, never a newer
        one created under the same name.
        """
        unlink_segment(self._segment_name, self._inode)


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides = []
    step = itemsize
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


def _base_address(mm) -> int:
    anchor = ctypes.c_char.from_buffer(mm)
    address = ctypes.addressof(anchor)
    del anchor  # releases its export of the mapping
    return address
