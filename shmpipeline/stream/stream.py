"""`SharedStream`: one named stream of fixed-shape frames in POSIX shared memory.

Design (layout in :mod:`shmpipeline.stream._header`):

* **Slots + per-slot seqlock.** Write number ``k`` (1-based) goes to slot
  ``(k - 1) % slots``. A slot's sequence is odd while it is written; a reader
  copies the latest slot and keeps the copy only if the sequence was even and
  unchanged around the copy, otherwise it retries on the then-latest frame.
  With ``slots >= 2`` the writer never touches the latest published slot, so
  a reader conflicts only when lapped, and a slow reader of big frames under
  a full-speed writer still gets most of them (it has ``slots - 1`` write
  periods to finish its copy). A writer that dies mid-write never blocks
  readers.
* **Publish.** After the slot is complete the global ``count`` is bumped,
  then a 32-bit futex word. Waiters first spin on ``count`` as their wait
  policy says (:mod:`shmpipeline.stream.wait_policy`: adaptive by default,
  ``spin:<µs>``, ``busy`` or ``sleep``), then raise a *waiters* flag,
  re-check, and ``FUTEX_WAIT`` on the word; the writer issues ``FUTEX_WAKE``
  only when the flag is up, so a stream nobody sleeps on costs no syscall
  per write. Each sleep is capped at a short slice as a safety net
  (lost-wake-up window of the unfenced flag, closed handles).
* **Dead writers.** Each writing handle records its process in the header
  on its first write. A wait without a timeout checks, once per sleep
  slice, that this process (the creator's, before any write) is alive, and
  raises :class:`StreamWriterDiedError` when it is not: a frame can then
  never come. Waits with a timeout just time out.
* **One writer.** A stream has ONE writer at a time (any process). Readers
  are unlimited. One handle may be shared by one writer thread and reader
  threads; readers of one handle share its ``last_read_count``.

Write dtype rule: an ndarray is accepted when its dtype equals the stream's,
or has the same kind and converts without loss (``numpy.can_cast(...,
'safe')``: another byte order, or a widening such as int16 -> int32 or
float32 -> float64). Other array-likes (lists, scalars) are converted with
NumPy's ``same_kind`` casting, so ``[1, 2]`` fits a float stream but
``[1.5]`` does not fit an int stream. The shape must match exactly (no
broadcasting) and ndarrays must be C-contiguous. Anything else raises
:class:`StreamFrameError` and leaves the stream untouched.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import (
    StreamClosedError,
    StreamError,
    StreamExistsError,
    StreamFrameError,
    StreamLayoutError,
    StreamNotFoundError,
    StreamWriterDiedError,
)
from . import _header as H
from ._futex import (
    FUTEX_AVAILABLE,
    NEEDS_FENCE,
    current_cpu,
    futex_wait,
    futex_wake,
    memory_fence,
    timespec,
)
from ._names import check_name, make_segment_name, resolve_namespace
from ._process import process_alive, process_start_time
from ._segment import (
    Segment,
    create_segment,
    free_space,
    open_segment,
    read_prefix,
    unlink_segment,
)
from .checks import (
    ALLOWED_KINDS,
    check_after,
    check_frame_id,
    check_slots,
    frame_bytes,
    normalize_dtype,
    normalize_shape,
    timeout_ns,
)
from .wait_policy import WaitPolicy, parse_wait_policy

__all__ = ["SharedStream"]

DEFAULT_SLOTS = 3

#: Longest single futex sleep; a waiter re-checks its condition after it.
SLICE_NS = 50_000_000
#: Adaptive policy: the spin is ``_SPIN_ARRIVAL_FACTOR`` times the last
#: frame's arrival delay plus ``_SPIN_MIN_NS``, decaying by 1/8 per wait
#: when arrivals get quicker (see :mod:`shmpipeline.stream.wait_policy`).
_SPIN_MIN_NS = 5_000
_SPIN_ARRIVAL_FACTOR = 4
#: How often (ns) a wait without a timeout checks that the writer lives.
_WRITER_CHECK_NS = 50_000_000
#: How long ``open`` waits for a creator still initialising the header.
_INIT_WAIT_S = 2.0

_U32 = 0xFFFFFFFF
_mono_ns = time.monotonic_ns

_Q_COUNT = H.Q_COUNT
_Q_KICK = H.Q_KICK
_Q_WRITER_PID = H.Q_WRITER_PID
_Q_WRITER_START = H.Q_WRITER_START
_Q_WRITER_CPU = H.Q_WRITER_CPU
_MODE_ADAPTIVE, _MODE_SPIN, _MODE_BUSY, _MODE_SLEEP = 0, 1, 2, 3
_MODE_CODES = {"adaptive": 0, "spin": 1, "busy": 2, "sleep": 3}

#: this process's pid, kept current across fork (a forked writer registers anew)
_PID = [os.getpid()]
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))
_I_FUTEX = H.I_FUTEX
_I_WAITERS = H.I_WAITERS


# --- layout arguments ----------------------------------------------------------


def _c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides = []
    step = itemsize
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


def _describe(name: str, namespace: str | None) -> str:
    return repr(name) if namespace is None else f"{name!r} (namespace {namespace!r})"


# --- the write context -------------------------------------------------------------


class _WriteView:
    """Context of :meth:`SharedStream.write_view` (one reusable instance per
    handle, so a zero-copy write allocates nothing)."""

    __slots__ = ("_stream", "frame_id")

    def __init__(self, stream: SharedStream) -> None:
        self._stream = stream
        self.frame_id: int | None = None

    def __enter__(self) -> np.ndarray:
        return self._stream._begin_write()

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._stream._commit_write(self.frame_id)
        else:
            self._stream._abort_write()
        return False


# --- the stream ----------------------------------------------------------------


class SharedStream:
    """A named stream of frames of one fixed shape and dtype in shared memory.

    Build with :meth:`create` (allocates the segment) or :meth:`open`
    (attaches to an existing one). ``close()`` releases this handle;
    ``unlink()`` removes the name (the creator's job). See the module
    docstring for the consistency model and the write dtype rule.
    """

    def __init__(
        self,
        segment: Segment,
        static: dict,
        *,
        name: str,
        namespace: str | None,
        _token: object = None,
    ) -> None:
        if _token is not _TOKEN:
            raise TypeError("use SharedStream.create(...) or SharedStream.open(...)")
        self._name = name
        self._namespace = namespace
        self._segment_name = segment.name
        self._inode = segment.inode
        self._mm = segment.mm
        self._size = segment.size
        self._shape: tuple[int, ...] = static["shape"]
        self._dtype = np.dtype(static["dtype_str"])
        self._strides = _c_strides(self._shape, self._dtype.itemsize)
        self._nbytes: int = static["nbytes"]
        self._nslots: int = static["nslots"]
        self._creator_pid: int = static["creator_pid"]
        self._creator_start: int = static["creator_start"]
        self._created_ns: int = static["created_ns"]

        mm = self._mm
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
        self._slice_ts = timespec(SLICE_NS)
        self._writer_pid = 0  # the pid this handle registered as writer
        self.wait_policy = None  # the process default, see wait_policy

        self._closed = False
        self._writing = False
        self._w_count = 0
        self._w_meta = 0
        self._w_seq = 0
        self._wv = _WriteView(self)
        self._out_ok: Any = None  # the last ``out`` array validated by read_into
        self._last_read_count = 0
        self._last_frame_id = 0
        self._read_retries = 0

    # --- construction ------------------------------------------------------------

    @classmethod
    def create(
        cls,
        name: str,
        shape: Sequence[int] | int,
        dtype: Any,
        *,
        namespace: str | None = None,
        slots: int = DEFAULT_SLOTS,
        exist_ok: bool = False,
    ) -> SharedStream:
        """Create stream ``name`` of frames ``shape``/``dtype`` (zero filled,
        ``count`` 0).

        If the name exists and its creator process is dead, the stale segment
        is reclaimed (unlinked and created anew). If its creator is alive,
        :class:`StreamExistsError` is raised, unless ``exist_ok`` is true:
        then the existing stream is opened and must have this shape and
        dtype (:class:`StreamLayoutError` otherwise). ``slots`` (2..32) is the
        number of payload buffers; more slots give slow readers more time.
        """
        name = check_name(name)
        ns = resolve_namespace(namespace)
        seg_name = make_segment_name(name, ns)
        shape_t = normalize_shape(shape)
        dt = normalize_dtype(dtype)
        nslots = check_slots(slots)
        nbytes = frame_bytes(shape_t, dt)
        size = H.segment_size(nbytes, nslots)
        free = free_space()
        if free is not None and size > free:
            raise StreamError(
                f"cannot create stream {_describe(name, ns)}: it needs {size} "
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
                    return cls._open(name, ns, shape_t, dt)
                owner = (
                    f"created by process {pid}, which is alive"
                    if pid
                    else "its creator is unknown: a foreign segment, or one "
                    "still being created"
                )
                raise StreamExistsError(
                    f"stream {_describe(name, ns)} already exists (segment "
                    f"{seg_name!r}; {owner}); pass exist_ok=True to attach to it"
                ) from None
            except OSError as exc:
                raise StreamError(
                    f"cannot create stream {_describe(name, ns)} (segment "
                    f"{seg_name!r}): {exc.strerror or exc}"
                ) from exc
            pid = os.getpid()
            static = H.pack_static(
                shape=shape_t,
                dtype_str=dt.str,
                itemsize=dt.itemsize,
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
            return cls(
                segment,
                H.unpack_static(segment.mm[: H.HEADER_SIZE]),
                name=name,
                namespace=ns,
                _token=_TOKEN,
            )
        raise StreamExistsError(
            f"stream {_describe(name, ns)}: segment {seg_name!r} keeps being "
            "recreated by another process"
        )

    @classmethod
    def open(
        cls,
        name: str,
        *,
        namespace: str | None = None,
        shape: Sequence[int] | int | None = None,
        dtype: Any = None,
    ) -> SharedStream:
        """Attach to existing stream ``name``.

        :class:`StreamNotFoundError` if there is none; :class:`StreamLayoutError`
        if the segment is not a shmpipeline stream of this layout version, or
        (when given) its shape or dtype differ.
        """
        name = check_name(name)
        ns = resolve_namespace(namespace)
        shape_t = None if shape is None else normalize_shape(shape)
        dt = None if dtype is None else normalize_dtype(dtype)
        return cls._open(name, ns, shape_t, dt)

    @classmethod
    def _open(
        cls,
        name: str,
        ns: str | None,
        shape: tuple[int, ...] | None,
        dtype: np.dtype | None,
    ) -> SharedStream:
        seg_name = make_segment_name(name, ns)
        what = f"stream {_describe(name, ns)} (segment {seg_name!r})"
        deadline = time.monotonic() + _INIT_WAIT_S
        while True:
            try:
                segment = open_segment(seg_name)
            except FileNotFoundError:
                raise StreamNotFoundError(
                    f"no stream {_describe(name, ns)}: shared-memory segment "
                    f"{seg_name!r} does not exist"
                ) from None
            except ValueError:
                segment = None  # empty: a creator may be sizing it
            except OSError as exc:
                raise StreamError(f"cannot open {what}: {exc.strerror or exc}") from exc
            if segment is not None and segment.size >= H.HEADER_SIZE:
                magic = segment.mm[: len(H.MAGIC)]
                if magic == H.MAGIC:
                    break
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
        return cls(segment, static, name=name, namespace=ns, _token=_TOKEN)

    def __reduce__(self):
        """Pickle as "open the same stream" (e.g. to hand it to a spawned
        worker); the receiving process gets its own handle."""
        return (_reopen, (self._name, self._namespace, self._shape, self._dtype.str))

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
        return self._h64[_Q_COUNT]

    def _latest_meta(self, field: int) -> int:
        self._ensure_open()
        h, hs, meta, n = self._h64, self._hs64, self._meta, self._nslots
        while True:
            m = meta[(h[_Q_COUNT] - 1) % n]
            seq = h[m]
            value = hs[m + field]
            if not seq & 1 and h[m] == seq:
                return value

    @property
    def frame_id(self) -> int:
        """Frame id of the latest published frame (0 before the first write)."""
        return self._latest_meta(H.SLOT_FRAME_ID)

    @property
    def write_time_ns(self) -> int:
        """CLOCK_MONOTONIC time (ns) of the latest write (0 before any)."""
        return self._latest_meta(H.SLOT_WRITE_NS)

    @property
    def write_time(self) -> float:
        """CLOCK_MONOTONIC time (s, as ``time.monotonic()``) of the latest write."""
        return self._latest_meta(H.SLOT_WRITE_NS) * 1e-9

    @property
    def gpu_enabled(self) -> bool:
        """False: frames are host arrays (the published handles' flag)."""
        return False

    @property
    def last_read_count(self) -> int:
        """Count of the frame this handle last read (0: none yet)."""
        return self._last_read_count

    @property
    def last_frame_id(self) -> int:
        """Frame id of the frame this handle last read (0: none yet)."""
        return self._last_frame_id

    @property
    def read_retries(self) -> int:
        """Reads of this handle that had to start over because the writer
        overwrote the slot being copied (diagnostic of a reader too slow)."""
        return self._read_retries

    @property
    def wait_policy(self) -> WaitPolicy:
        """How this handle's waits spin and sleep (settable: a
        :class:`WaitPolicy`, text such as ``"busy"`` or ``"spin:50"``, or
        ``None`` for the process default)."""
        return self._wait_policy

    @wait_policy.setter
    def wait_policy(self, value: WaitPolicy | str | None) -> None:
        policy = parse_wait_policy(value, source=f"stream {self._name!r}: wait_policy")
        self._wait_policy = policy
        self._mode = _MODE_CODES[policy.mode]
        self._spin_cap_ns = policy.spin_ns
        # adaptive starts at its cap: the first frames after a start are the
        # ones a driver waits on most closely
        self._spin_ns = 0 if policy.mode == "sleep" else policy.spin_ns

    @property
    def spin_ns(self) -> int:
        """The spin budget of this handle's next wait, in ns (diagnostic:
        what the adaptive policy has learnt)."""
        return self._spin_ns if self._mode != _MODE_BUSY else -1

    @property
    def writer_pid(self) -> int:
        """Pid of the process that last started writing this stream (0 before
        any write)."""
        self._ensure_open()
        return self._h64[_Q_WRITER_PID]

    def writer_alive(self) -> bool:
        """Whether a frame can still come: the registered writer's process
        (the creator's before any write) is alive."""
        self._ensure_open()
        h = self._h64
        pid, start = h[_Q_WRITER_PID], h[_Q_WRITER_START]
        if not pid:
            pid, start = self._creator_pid, self._creator_start
        return pid == _PID[0] or process_alive(pid, start)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"count={self.count}"
        ns = "" if self._namespace is None else f", namespace={self._namespace!r}"
        return (
            f"SharedStream({self._name!r}, shape={self._shape!r}, "
            f"dtype={self._dtype!s}{ns}, {state})"
        )

    # --- writing -------------------------------------------------------------------

    def write(self, array: Any, *, frame_id: int | None = None) -> None:
        """Publish one frame (a copy of ``array``).

        ``frame_id`` is stored with the frame (default: the new count).
        :class:`StreamFrameError` if ``array`` does not fit (see the module
        docstring for the rule); the stream is then unchanged.
        """
        if (
            type(array) is not np.ndarray
            or array.dtype is not self._dtype
            or array.shape != self._shape
            or array.strides != self._strides
        ):
            array = self._check_frame(array)
        if frame_id is not None:
            frame_id = check_frame_id(frame_id)
        slot = self._begin_write()
        try:
            slot[...] = array
        except BaseException:
            self._abort_write()
            raise
        self._commit_write(frame_id)

    def write_view(self, *, frame_id: int | None = None) -> _WriteView:
        """Zero-copy write: ``with s.write_view() as buf: fill buf in place``.

        ``buf`` is the next slot's ndarray (its content is an old frame). The
        frame is published on a clean exit and discarded if the block raises.
        Do not keep ``buf`` past the block.
        """
        if self._closed:
            raise StreamClosedError(f"stream {self._name!r} is closed")
        if self._writing:
            raise StreamError(
                f"stream {self._name!r}: a write_view is already open on this handle"
            )
        view = self._wv
        view.frame_id = None if frame_id is None else check_frame_id(frame_id)
        return view

    def _check_frame(self, array: Any) -> Any:
        """Full validation of a frame to write; returns what to copy."""
        if self._closed:
            raise StreamClosedError(f"cannot write to stream {self._name!r}: closed")
        what = f"cannot write to stream {self._name!r} (shape {self._shape!r}, dtype {self._dtype!s})"
        if isinstance(array, np.ndarray):
            if array.shape != self._shape:
                raise StreamFrameError(f"{what}: array has shape {array.shape!r}")
            src = array.dtype
            if src != self._dtype and not (
                src.kind == self._dtype.kind and np.can_cast(src, self._dtype, "safe")
            ):
                raise StreamFrameError(
                    f"{what}: array has dtype {src!s}, which does not convert to "
                    f"{self._dtype!s} without loss; convert it explicitly "
                    f"(array.astype({str(self._dtype)!r}))"
                )
            if not array.flags.c_contiguous:
                raise StreamFrameError(
                    f"{what}: array is not C-contiguous; pass "
                    "numpy.ascontiguousarray(array)"
                )
            return array
        try:
            converted = np.asarray(array)
        except Exception as exc:  # noqa: BLE001 - any conversion failure is bad input
            raise StreamFrameError(
                f"{what}: cannot convert {type(array).__name__} to an array ({exc})"
            ) from None
        if converted.dtype.kind not in ALLOWED_KINDS:
            raise StreamFrameError(
                f"{what}: got {type(array).__name__} of dtype {converted.dtype!s}"
            )
        if converted.shape != self._shape:
            raise StreamFrameError(
                f"{what}: {type(array).__name__} has shape {converted.shape!r}"
            )
        if not np.can_cast(converted.dtype, self._dtype, "same_kind"):
            raise StreamFrameError(
                f"{what}: {type(array).__name__} of {converted.dtype!s} values "
                f"cannot be stored as {self._dtype!s}"
            )
        return converted

    def _begin_write(self) -> np.ndarray:
        if self._closed:
            raise StreamClosedError(f"cannot write to stream {self._name!r}: closed")
        if self._writing:
            raise StreamError(
                f"stream {self._name!r}: a write_view is already open on this handle"
            )
        h = self._h64
        if self._writer_pid != _PID[0]:
            self._register_writer()
        count = h[_Q_COUNT]
        slot = count % self._nslots
        m = self._meta[slot]
        seq = h[m]
        if seq & 1:  # a previous writer died mid-write: restore the parity
            seq += 1
        h[m] = seq + 1
        if NEEDS_FENCE:
            memory_fence()
        self._writing = True
        self._w_count = count
        self._w_meta = m
        self._w_seq = seq
        return self._slots[slot]

    def claim_writer(self) -> None:
        """Record this process as the stream's writer now, before its first
        write (a worker does so when it starts, so readers waiting without a
        timeout track the new writer, not the one before a restart)."""
        self._ensure_open()
        self._register_writer()

    def _register_writer(self) -> None:
        """Record this process as the stream's writer (once per handle and
        process), so readers can tell when it dies."""
        pid = _PID[0]
        h = self._h64
        h[_Q_WRITER_PID] = 0  # a reader never pairs a pid with a stale start
        h[_Q_WRITER_START] = process_start_time(pid)
        h[_Q_WRITER_PID] = pid
        self._writer_pid = pid

    def _commit_write(self, frame_id: int | None) -> None:
        h, hs = self._h64, self._hs64
        m = self._w_meta
        count = self._w_count + 1
        if NEEDS_FENCE:
            memory_fence()
        h[m + 1] = count
        hs[m + 2] = count if frame_id is None else frame_id
        hs[m + 3] = _mono_ns()
        if NEEDS_FENCE:
            memory_fence()
        h[m] = self._w_seq + 2
        h[_Q_COUNT] = count
        h[_Q_WRITER_CPU] = current_cpu() + 1  # see wait_new: no spin on our CPU
        self._writing = False
        h32 = self._h32
        if NEEDS_FENCE:
            memory_fence()
        if h32[_I_WAITERS]:
            # Clear the flag *before* bumping the word: a waiter that sees the
            # new word also sees the cleared flag, so its own flag survives.
            h32[_I_WAITERS] = 0
            h32[_I_FUTEX] = (h32[_I_FUTEX] + 1) & _U32
            futex_wake(self._futex_addr)
        else:
            h32[_I_FUTEX] = (h32[_I_FUTEX] + 1) & _U32

    def _abort_write(self) -> None:
        if not self._writing:
            return
        h = self._h64
        m = self._w_meta
        h[m + 1] = 0  # the old frame there is partly overwritten: invalidate it
        if NEEDS_FENCE:
            memory_fence()
        h[m] = self._w_seq + 2
        self._writing = False

    # --- reading ---------------------------------------------------------------------

    def _check_out(self, out: Any) -> None:
        if not isinstance(out, np.ndarray):
            raise StreamFrameError(
                f"out must be a numpy.ndarray of shape {self._shape!r} and dtype "
                f"{self._dtype!s}, got {type(out).__name__}"
            )
        if out.shape != self._shape or out.dtype != self._dtype:
            raise StreamFrameError(
                f"out has shape {out.shape!r} dtype {out.dtype!s}; stream "
                f"{self._name!r} frames are shape {self._shape!r} dtype {self._dtype!s}"
            )
        if not out.flags.writeable:
            raise StreamFrameError("out is read-only")
        self._out_ok = out

    def read_into(self, out: np.ndarray) -> int:
        """Copy the latest frame into ``out`` (same shape and dtype, any
        strides); return its count (0: nothing written yet, ``out`` zeroed)."""
        if self._out_ok is not out:
            self._check_out(out)
        if self._closed:
            raise StreamClosedError(f"cannot read stream {self._name!r}: closed")
        return self._read_latest(out, self._slots, _assign)

    def _read_latest(
        self, out: Any, slots: Sequence[Any], copy: Callable[[Any, Any], Any]
    ) -> int:
        """The seqlock read: ``copy(out, slots[i])`` from the latest slot
        until a copy is consistent; record and return its count.

        ``slots`` are this stream's payload slots or views parallel to them
        (a GPU stream's device slots, whose ``copy`` must be complete when it
        returns: the seqlock check follows it).
        """
        h, hs, meta, n = self._h64, self._hs64, self._meta, self._nslots
        while True:
            count = h[_Q_COUNT]
            slot = (count - 1) % n
            m = meta[slot]
            seq = h[m]
            if NEEDS_FENCE:
                memory_fence()
            copy(out, slots[slot])
            got = h[m + 1]
            frame_id = hs[m + 2]
            if NEEDS_FENCE:
                memory_fence()
            if h[m] == seq and not seq & 1 and got >= count:
                break
            self._read_retries += 1
        self._last_read_count = got
        self._last_frame_id = frame_id
        return got

    def read(self) -> np.ndarray:
        """A consistent copy of the latest frame."""
        out = np.empty(self._shape, self._dtype)
        self.read_into(out)
        return out

    def read_new_into(self, out: np.ndarray, timeout: float | None = None) -> int:
        """Wait for a frame newer than the last one this handle read, copy the
        latest into ``out`` and return its count.

        A fresh handle has read nothing, so any published frame counts.
        ``TimeoutError`` if none arrives within ``timeout`` seconds (None:
        wait as long as the writer lives; :class:`StreamWriterDiedError`
        once its process is dead).
        """
        if self._closed:
            raise StreamClosedError(f"cannot read stream {self._name!r}: closed")
        if self._out_ok is not out:
            self._check_out(out)
        self._wait_unread(timeout)
        return self.read_into(out)

    def read_new(self, timeout: float | None = None) -> np.ndarray:
        """Like :meth:`read_new_into`, returning a new array."""
        out = np.empty(self._shape, self._dtype)
        self.read_new_into(out, timeout)
        return out

    def _wait_unread(self, timeout: float | None) -> None:
        """Wait until a frame this handle has not read is published
        (``TimeoutError`` on timeout); at once when there is one."""
        if self._closed:
            raise StreamClosedError(f"cannot read stream {self._name!r}: closed")
        last = self._last_read_count
        if self._h64[_Q_COUNT] == last:
            self._wait_changed(last, timeout)

    def _wait_changed(self, last: int, timeout: float | None) -> None:
        """Wait until count != last, ignoring kicks; TimeoutError on timeout."""
        if timeout is None:
            while self.wait_new(last, None) == last:
                pass
            return
        deadline = _mono_ns() + timeout_ns(timeout)
        while True:
            if self.wait_new(last, max(0, deadline - _mono_ns()) * 1e-9) != last:
                return
            if _mono_ns() >= deadline:
                raise TimeoutError(
                    f"no new frame on stream {self._name!r} within {timeout} s"
                )

    # --- waiting ---------------------------------------------------------------------

    def wait_new(self, last_count: int, timeout: float | None = None) -> int:
        """Wait until ``count != last_count``; return the current count.

        Returns early (count possibly unchanged) on timeout or when someone
        calls :meth:`wake_waiters`. Spins as :attr:`wait_policy` says, then
        sleeps on the futex in slices of ``SLICE_NS``. Without a timeout,
        :class:`StreamWriterDiedError` when the writer process is dead.
        """
        h = self._h64
        if self._closed:
            raise StreamClosedError(f"cannot wait on stream {self._name!r}: closed")
        count = h[_Q_COUNT]
        if count != last_count:
            return count
        kick = h[_Q_KICK]
        began = _mono_ns()
        deadline = None if timeout is None else began + timeout_ns(timeout)
        mode = self._mode
        if mode == _MODE_BUSY:
            return self._busy_wait(last_count, kick, deadline)
        spin = self._spin_ns
        if spin and h[_Q_WRITER_CPU] == current_cpu() + 1:
            # The writer last published from this very CPU (the scheduler
            # likes to wake a sleeper on its waker's CPU): a spin here would
            # only keep it from running. Sleep at once; the futex wake-up
            # preempts a busy writer promptly, where a yield would not.
            spin = 0
        spin_end = began + spin
        if deadline is not None and deadline < spin_end:
            spin_end = deadline
        while spin:
            count = h[_Q_COUNT]
            if count != last_count or h[_Q_KICK] != kick:
                if mode == _MODE_ADAPTIVE and count != last_count:
                    self._learn(_mono_ns() - began)
                return count
            if _mono_ns() >= spin_end:
                break
        h32 = self._h32
        address = self._futex_addr
        slice_ts = self._slice_ts
        nap = 50e-6
        next_check = began + _WRITER_CHECK_NS
        while True:
            if self._closed:
                raise StreamClosedError(f"stream {self._name!r} closed while waiting")
            word = h32[_I_FUTEX]
            h32[_I_WAITERS] = 1
            if NEEDS_FENCE:
                memory_fence()
            count = h[_Q_COUNT]
            if count != last_count or h[_Q_KICK] != kick:
                if mode == _MODE_ADAPTIVE and count != last_count:
                    # learn from the publish time, not from our wake-up
                    self._learn(self._latest_meta(H.SLOT_WRITE_NS) - began)
                return count
            if deadline is None:
                ts = slice_ts
                now = _mono_ns()
                if now >= next_check:
                    next_check = now + _WRITER_CHECK_NS
                    self._check_writer()
            else:
                remaining = deadline - _mono_ns()
                if remaining <= 0:
                    return count
                ts = slice_ts if remaining >= SLICE_NS else timespec(remaining)
            if FUTEX_AVAILABLE:
                futex_wait(address, word, ts)
            else:  # pragma: no cover - polling with backoff off Linux
                time.sleep(min(nap, ts.tv_sec + ts.tv_nsec * 1e-9))
                nap = min(nap * 2, 0.002)

    def _learn(self, arrival_ns: int) -> None:
        """Adaptive policy: spin a few times the last arrival delay next time
        (decaying slowly); halve the spin after a frame later than the cap
        (one preempted peer does not stop the spinning; a slow peer is slept
        on after a few frames)."""
        cap = self._spin_cap_ns
        if arrival_ns > cap:
            spin = self._spin_ns >> 1
            self._spin_ns = spin if spin >= _SPIN_MIN_NS else 0
            return
        want = _SPIN_ARRIVAL_FACTOR * max(arrival_ns, 0) + _SPIN_MIN_NS
        decayed = self._spin_ns - (self._spin_ns >> 3)
        self._spin_ns = min(cap, max(want, decayed))

    def _busy_wait(self, last_count: int, kick: int, deadline: int | None) -> int:
        """The ``busy`` policy: spin until a frame, a kick or the deadline."""
        h = self._h64
        next_check = _mono_ns() + _WRITER_CHECK_NS
        while True:
            for _ in range(256):
                count = h[_Q_COUNT]
                if count != last_count or h[_Q_KICK] != kick:
                    return count
            now = _mono_ns()
            if deadline is not None and now >= deadline:
                return count
            if self._closed:
                raise StreamClosedError(f"stream {self._name!r} closed while waiting")
            if deadline is None and now >= next_check:
                next_check = now + _WRITER_CHECK_NS
                self._check_writer()

    def _check_writer(self) -> None:
        if not self.writer_alive():
            h = self._h64
            pid = h[_Q_WRITER_PID] or self._creator_pid
            who = "writer" if h[_Q_WRITER_PID] else "creator (nobody wrote yet)"
            raise StreamWriterDiedError(
                f"stream {self._name!r}: its {who} process {pid} is dead; no "
                "new frame can come (count stays "
                f"{h[_Q_COUNT]})"
            )

    def wait_for_count(self, after: int, timeout: float | None = None) -> int:
        """Wait until ``count > after`` and return the count.

        Level-triggered: a frame published before the call counts, so a
        request/reply exchange cannot miss its reply. ``TimeoutError`` when
        no such frame comes within ``timeout`` seconds (None: wait forever,
        or :class:`StreamWriterDiedError` once the writer is dead);
        ``ValueError`` if ``after`` is not a non-negative integer.
        """
        baseline = check_after(after)

        def past(count: int) -> int | None:
            return count if count > baseline else None

        def late(count: int) -> str:
            return (
                f"no frame past count {baseline} on stream {self._name!r} "
                f"within {timeout} s (count {count})"
            )

        return self._wait_until(past, timeout, late)

    def read_after(
        self, after: int, timeout: float | None = None, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Wait until ``count > after``, then read the latest frame (into
        ``out`` when given); its count is :attr:`last_read_count` afterwards.

        Same waiting rules as :meth:`wait_for_count`.
        """
        self.wait_for_count(after, timeout)
        if out is None:
            return self.read()
        self.read_into(out)
        return out

    def wait_for_frame_id(
        self, target: int, timeout: float | None = None, *, interruptible: bool = False
    ) -> int:
        """Wait until the latest published frame id is at least ``target``
        (and something was published); return that frame id.

        ``TimeoutError`` after ``timeout`` seconds (None: wait forever, or
        :class:`StreamWriterDiedError` once the writer is dead).
        ``interruptible``: also return when :meth:`wake_waiters` is called,
        with the latest frame id then (possibly below ``target``; 0 before
        any write), so a worker can re-read its command.
        """
        target = check_frame_id(target)

        def at_target(count: int) -> int | None:
            latest = self.frame_id if count else None
            return latest if latest is not None and latest >= target else None

        def late(count: int) -> str:
            return (
                f"stream {self._name!r} did not publish frame id {target} "
                f"within {timeout} s (latest id {self.frame_id if count else None})"
            )

        def latest_id() -> int:
            return self.frame_id if self._h64[_Q_COUNT] else 0

        kicked = latest_id if interruptible else None
        return self._wait_until(at_target, timeout, late, kicked)

    def _wait_until(
        self,
        reached: Callable[[int], int | None],
        timeout: float | None,
        late: Callable[[int], str],
        kicked: Callable[[], int] | None = None,
    ) -> int:
        """Wait, waking on each publish, until ``reached(count)`` gives a
        value (not None) and return it; ``TimeoutError(late(count))`` after
        ``timeout`` seconds. With ``kicked``, a :meth:`wake_waiters` call
        returns ``kicked()`` instead. Without a timeout the wait lasts while
        the writer lives (:class:`StreamWriterDiedError` once it is dead)."""
        deadline = None if timeout is None else _mono_ns() + timeout_ns(timeout)
        self._ensure_open()
        h = self._h64
        kick = h[_Q_KICK]
        while True:
            if kicked is not None and h[_Q_KICK] != kick:
                return kicked()
            count = h[_Q_COUNT]
            value = reached(count)
            if value is not None:
                return value
            if deadline is None:
                self.wait_new(count, None)
                continue
            remaining = deadline - _mono_ns()
            if remaining <= 0:
                raise TimeoutError(late(count))
            self.wait_new(count, remaining * 1e-9)

    def wake_waiters(self) -> None:
        """Make every current :meth:`wait_new` on this stream (any process)
        return now, even without a new frame."""
        if self._closed:
            raise StreamClosedError(f"stream {self._name!r} is closed")
        h, h32 = self._h64, self._h32
        h[_Q_KICK] = h[_Q_KICK] + 1
        h32[_I_WAITERS] = 0
        h32[_I_FUTEX] = (h32[_I_FUTEX] + 1) & _U32
        if NEEDS_FENCE:
            memory_fence()
        futex_wake(self._futex_addr)

    # --- lifecycle ---------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise StreamClosedError(f"stream {self._name!r} is closed")

    def close(self) -> None:
        """Release this handle (idempotent). The segment stays; see :meth:`unlink`.

        An unfinished ``write_view`` is discarded. Arrays obtained from
        ``write_view`` must not be used afterwards.
        """
        if self._closed:
            return
        self._abort_write()
        self._closed = True
        mm, self._mm = self._mm, None
        self._h64 = self._hs64 = self._h32 = None  # type: ignore[assignment]
        self._slots = ()
        self._out_ok = None
        try:
            mm.close()
        except BufferError:
            pass  # a view is still referenced somewhere: unmapped once it dies

    def unlink(self) -> None:
        """Remove the stream's name from the system (idempotent).

        Handles already open keep working until closed; a later ``create``
        makes a new stream. Only this very segment is removed, never a newer
        one created under the same name.
        """
        unlink_segment(self._segment_name, self._inode)

    def __enter__(self) -> SharedStream:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


# --- helpers -------------------------------------------------------------------------

_TOKEN = object()


def _reopen(name: str, namespace: str | None, shape, dtype_str: str) -> SharedStream:
    return SharedStream._open(name, namespace, tuple(shape), np.dtype(dtype_str))


def _assign(out: Any, frame: Any) -> None:
    """The host read's copy (``np.copyto`` costs twice as much per call)."""
    out[...] = frame


def _base_address(mm) -> int:
    import ctypes

    anchor = ctypes.c_char.from_buffer(mm)
    address = ctypes.addressof(anchor)
    del anchor  # releases its export of the mapping
    return address


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
