"""GPU streams: frames on a CUDA device, shared between processes by CUDA IPC.

A :class:`GpuSharedStream` is an ordinary stream segment (see
:mod:`shmpipeline.stream._header`) plus one CUDA buffer of ``slots`` device
slots allocated by the creating process with torch. The header keeps
everything that is not frame data: count, futex word, per-slot seqlocks,
frame ids and write times, so waiting, waking and consistency work exactly as
for host streams. The host payload slots hold the *CPU mirror*: with
``cpu_mirror: true`` every publish also copies the frame there, so host-side
readers (cpu kernels, tools without CUDA) open the same segment as a plain
:class:`~shmpipeline.stream.SharedStream`.

How the device buffer is shared. The creator allocates the buffer with
torch, synchronises, and calls ``UntypedStorage._share_cuda_()``, which
returns torch's CUDA IPC record (device, ``cudaIpcMemHandle`` of the
allocation, size and offset in it, torch's IPC ref-counter file and an IPC
event). The record is encoded with :mod:`struct` (never pickled) into the
header's GPU area; an opener decodes it and maps the buffer with
``UntypedStorage._new_shared_cuda`` -- what ``torch.multiprocessing``'s
``rebuild_cuda_tensor`` does -- and views it as ``slots`` frame tensors.

Rules that follow from CUDA IPC:

- The device memory belongs to the creating process: it stays valid while
  that process lives and has not unlinked the stream (closing its handle is
  not enough to free it, so it can reopen the stream). The manager creates
  streams and keeps them until shutdown, after its workers stopped.
- CUDA cannot map an IPC handle in the process that exported it; a stream
  opened in its creating process reuses the creator's tensor.
- torch's IPC ref counter counts one share; openers decrement it when they
  drop their mapping, which only matters after the creator frees the buffer.

Per frame: a writer computes into the next device slot (``write_view``) on the
device's current CUDA stream; publishing synchronises that stream (a reader
in another process must not see the count before the data), copies the slot
to the host mirror when there is one, then bumps the count and wakes
waiters. A reader copies the latest device slot, synchronises, and keeps the
copy only if the slot's seqlock did not move (the copy is asynchronous, so
the check must follow its completion).
"""

from __future__ import annotations

import math
import os
import struct
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _torch
from ..errors import (
    GpuUnavailableError,
    StreamClosedError,
    StreamError,
    StreamFrameError,
    StreamLayoutError,
)
from . import _header as H
from ._futex import NEEDS_FENCE, memory_fence
from ._process import process_alive
from .stream import (
    DEFAULT_SLOTS,
    SharedStream,
    _check_frame_id,
    _check_slots,
    _normalize_shape,
)

__all__ = ["GpuSharedStream", "HostToDeviceStream", "gpu_descriptor"]

#: device slots start on this many bytes (alignment for every dtype)
DEVICE_ALIGN = 512
_INIT_WAIT_S = 2.0

#: buffers this process created, by (segment name, inode): kept alive until
#: the stream is unlinked here (openers elsewhere map them by IPC)
_CREATED: dict[tuple[str, int], Any] = {}


# --- the IPC record ------------------------------------------------------------------


def _pack_bytes(value: Any) -> bytes:
    if value is None:
        return struct.pack("=H", 0xFFFF)
    value = bytes(value)
    return struct.pack("=H", len(value)) + value


def _unpack_bytes(raw: bytes, pos: int) -> tuple[bytes | None, int]:
    (length,) = struct.unpack_from("=H", raw, pos)
    pos += 2
    if length == 0xFFFF:
        return None, pos
    return raw[pos : pos + length], pos + length


def encode_record(share: Sequence[Any]) -> bytes:
    """Encode the tuple of ``UntypedStorage._share_cuda_()``: (device,
    handle, size bytes, offset bytes, ref-counter handle, ref-counter offset,
    event handle, event sync required)."""
    device, handle, size, offset, counter, counter_offset, event, sync = share
    return (
        struct.pack("=i", int(device))
        + _pack_bytes(handle)
        + struct.pack("=QQ", int(size), int(offset))
        + _pack_bytes(counter)
        + struct.pack("=Q", int(counter_offset))
        + _pack_bytes(event)
        + struct.pack("=B", 1 if sync else 0)
    )


def decode_record(raw: bytes) -> tuple[Any, ...]:
    """Inverse of :func:`encode_record`."""
    (device,) = struct.unpack_from("=i", raw, 0)
    handle, pos = _unpack_bytes(raw, 4)
    size, offset = struct.unpack_from("=QQ", raw, pos)
    counter, pos = _unpack_bytes(raw, pos + 16)
    (counter_offset,) = struct.unpack_from("=Q", raw, pos)
    event, pos = _unpack_bytes(raw, pos + 8)
    (sync,) = struct.unpack_from("=B", raw, pos)
    return (device, handle, size, offset, counter, counter_offset, event, bool(sync))


def gpu_descriptor(stream: SharedStream) -> dict | None:
    """The GPU descriptor of an open stream segment (``None``: a host
    stream, or a GPU stream still being initialised by its creator)."""
    if stream.closed:
        raise StreamClosedError(f"stream {stream.name!r} is closed")
    return H.unpack_gpu_descriptor(stream._mm[: H.HEADER_SIZE])


def _device_stride(nbytes: int) -> int:
    return max(DEVICE_ALIGN, -(-nbytes // DEVICE_ALIGN) * DEVICE_ALIGN)


def _check_gpu_dtype(dtype: Any, name: str) -> np.dtype:
    dt = np.dtype(dtype)
    if not _torch.gpu_dtype_supported(dt):
        raise StreamLayoutError(
            f"GPU stream {name!r}: dtype {dt.name} is not supported on the GPU; "
            f"use one of {', '.join(_torch.GPU_DTYPES)}"
        )
    return dt


# --- the write context ------------------------------------------------------------------


class _GpuWriteView:
    """Context of :meth:`GpuSharedStream.write_view` (one per handle)."""

    __slots__ = ("_stream", "frame_id", "_slot")

    def __init__(self, stream: GpuSharedStream) -> None:
        self._stream = stream
        self.frame_id: int | None = None
        self._slot = 0

    def __enter__(self) -> Any:
        self._slot = self._stream._begin_write()
        return self._stream._device_slots[self._slot]

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._stream._publish(self._slot, self.frame_id, from_device=True)
        else:
            self._stream._host._abort_write()
        return False


# --- the stream ------------------------------------------------------------------------


class GpuSharedStream:
    """A named stream of frames living on a CUDA device.

    Same interface as :class:`~shmpipeline.stream.SharedStream` (``count``,
    ``frame_id``, ``write``/``write_view``, ``read_into``/``read_new_into``,
    ``wait_new``, ``wake_waiters``, ``close``/``unlink``), with torch tensors
    on :attr:`device` as frames; ``read_into`` also fills host ndarrays (from
    the mirror when there is one) and ``write`` also takes ndarrays.
    Build with :meth:`create` or :meth:`open`.
    """

    storage = "gpu"

    def __init__(
        self,
        host: SharedStream,
        buffer: Any,
        descriptor: dict,
        *,
        _token: object = None,
    ) -> None:
        if _token is not _TOKEN:
            raise TypeError(
                "use GpuSharedStream.create(...) or GpuSharedStream.open(...)"
            )
        torch = _torch.import_torch("a GPU stream")
        self._torch = torch
        self._host = host
        self._buffer = buffer
        self._device = buffer.device
        self._mirror = bool(descriptor["cpu_mirror"])
        self._torch_dtype = _torch.torch_dtype(host.dtype)
        stride = descriptor["device_stride"]
        nbytes = host.nbytes
        self._device_slots = tuple(
            buffer[i * stride : i * stride + nbytes]
            .view(self._torch_dtype)
            .view(host.shape)
            for i in range(host.slots)
        )
        self._host_slots = tuple(
            torch.from_numpy(array) for array in host._slots
        )  # the mirror, as tensors sharing the segment's memory
        self._wv = _GpuWriteView(self)
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
        gpu_device: str = "cuda",
        cpu_mirror: bool = False,
        namespace: str | None = None,
        slots: int = DEFAULT_SLOTS,
        exist_ok: bool = False,
    ) -> GpuSharedStream:
        """Create GPU stream ``name`` on ``gpu_device`` (zero filled).

        Raises :class:`GpuUnavailableError` without torch or CUDA. With
        ``exist_ok`` an existing live stream is opened instead (it must have
        this shape, dtype and device).
        """
        what = f"GPU stream {name!r}"
        torch = _torch.import_torch(what)
        device = _BACKEND.device(gpu_device, what)
        dt = _check_gpu_dtype(dtype, name)
        shape_t = _normalize_shape(shape)
        # Allocate and export the device buffer first (CUDA initialisation
        # may take seconds), so the segment gets its GPU descriptor right
        # after it appears and openers never wait long for it.
        stride = _device_stride(math.prod(shape_t) * dt.itemsize)
        nslots = _check_slots(slots)
        buffer, record = _BACKEND.allocate(torch, device, stride * nslots)
        if len(record) > H.GPU_RECORD_LEN:
            raise StreamError(
                f"{what}: torch's CUDA IPC record is {len(record)} bytes, more "
                f"than the {H.GPU_RECORD_LEN} the header holds (expandable "
                "segments? set PYTORCH_CUDA_ALLOC_CONF=expandable_segments:False)"
            )
        host = SharedStream.create(
            name, shape_t, dt, namespace=namespace, slots=nslots, exist_ok=exist_ok
        )
        if host.creator_pid != os.getpid() or _has_descriptor(host):
            # exist_ok found a live stream: attach to it like any opener
            ns = host.namespace
            host.close()
            return cls.open(
                name, namespace=ns, shape=shape_t, dtype=dt, gpu_device=str(device)
            )
        try:
            mm = host._mm
            start = H.OFF_GPU_RECORD
            mm[start : start + len(record)] = record
            fields = H.pack_gpu_descriptor(
                flags=H.GPU_FLAG_MIRROR if cpu_mirror else 0,
                device_index=device.index or 0,
                record_len=len(record),
                device_stride=stride,
                buffer_bytes=stride * nslots,
            )
            mm[H.OFF_GPU_FIELDS : H.OFF_GPU_FIELDS + len(fields)] = fields
            if NEEDS_FENCE:
                memory_fence()
            mm[H.OFF_GPU_MAGIC : H.OFF_GPU_MAGIC + 8] = H.GPU_MAGIC  # last
            _CREATED[(host.segment_name, host._inode)] = buffer
            return cls(host, buffer, _wait_descriptor(host), _token=_TOKEN)
        except BaseException:
            host.unlink()
            host.close()
            raise

    @classmethod
    def open(
        cls,
        name: str,
        *,
        namespace: str | None = None,
        shape: Sequence[int] | int | None = None,
        dtype: Any = None,
        gpu_device: str | None = None,
    ) -> GpuSharedStream:
        """Attach to GPU stream ``name`` and map its device buffer.

        :class:`GpuUnavailableError` when this process has no torch or no
        CUDA (host readers open the mirror with ``SharedStream.open``);
        :class:`StreamLayoutError` when the stream is a host stream or lives
        on another device than ``gpu_device``; :class:`StreamError` when its
        creator died (its device memory died with it).
        """
        host = SharedStream.open(name, namespace=namespace, shape=shape, dtype=dtype)
        try:
            descriptor = _wait_descriptor(host)
            where = f"GPU stream {name!r} (on cuda:{descriptor['device_index']})"
            mirror_hint = (
                "; its cpu_mirror can be read on the host with SharedStream.open"
                if descriptor["cpu_mirror"]
                else ""
            )
            try:
                torch = _torch.import_torch(where)
                device = _BACKEND.device(f"cuda:{descriptor['device_index']}", where)
            except GpuUnavailableError as exc:
                raise GpuUnavailableError(f"{exc}{mirror_hint}") from None
            if gpu_device is not None:
                wanted = _BACKEND.device(gpu_device, where)
                if wanted != device:
                    raise StreamLayoutError(
                        f"{where} is on {device}, not on {gpu_device!r}"
                    )
            buffer = _CREATED.get((host.segment_name, host._inode))
            if buffer is None:
                pid, start = host._creator_pid, host._creator_start
                if not process_alive(pid, start):
                    raise StreamError(
                        f"{where}: its creator (process {pid}) is gone, and its "
                        f"device memory with it{mirror_hint}"
                    )
                buffer = _BACKEND.map(torch, device, descriptor, where)
            return cls(host, buffer, descriptor, _token=_TOKEN)
        except BaseException:
            host.close()
            raise

    def __reduce__(self):
        """Pickle as "open the same stream" (the receiving process maps the
        device buffer itself)."""
        return (
            _reopen,
            (self.name, self.namespace, self.shape, self.dtype.str, self.gpu_device),
        )

    # --- metadata --------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._host.name

    @property
    def namespace(self) -> str | None:
        return self._host.namespace

    @property
    def segment_name(self) -> str:
        return self._host.segment_name

    @property
    def shape(self) -> tuple[int, ...]:
        return self._host.shape

    @property
    def dtype(self) -> np.dtype:
        """Frame dtype (NumPy; :attr:`torch_dtype` is torch's)."""
        return self._host.dtype

    @property
    def torch_dtype(self) -> Any:
        return self._torch_dtype

    @property
    def nbytes(self) -> int:
        return self._host.nbytes

    @property
    def slots(self) -> int:
        return self._host.slots

    @property
    def device(self) -> Any:
        """The ``torch.device`` the frames live on."""
        return self._device

    @property
    def gpu_device(self) -> str:
        """``'cuda:<index>'`` of the frames."""
        return _device_text(self._device)

    @property
    def cpu_mirror(self) -> bool:
        """Whether publishes also update the host mirror."""
        return self._mirror

    @property
    def host_stream(self) -> SharedStream:
        """The underlying segment handle (its slots are the mirror)."""
        return self._host

    @property
    def creator_pid(self) -> int:
        return self._host.creator_pid

    @property
    def closed(self) -> bool:
        return self._host.closed

    @property
    def count(self) -> int:
        return self._host.count

    @property
    def frame_id(self) -> int:
        return self._host.frame_id

    @property
    def write_time_ns(self) -> int:
        return self._host.write_time_ns

    @property
    def write_time(self) -> float:
        return self._host.write_time

    @property
    def last_read_count(self) -> int:
        return self._last_read_count

    @property
    def last_frame_id(self) -> int:
        return self._last_frame_id

    @property
    def read_retries(self) -> int:
        return self._read_retries + self._host.read_retries

    def empty_frame(self) -> Any:
        """A zeroed tensor of one frame on :attr:`device` (a read buffer)."""
        return self._torch.zeros(
            self.shape, dtype=self._torch_dtype, device=self._device
        )

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"count={self.count}"
        mirror = ", cpu_mirror" if self._mirror else ""
        return (
            f"GpuSharedStream({self.name!r}, shape={self.shape!r}, "
            f"dtype={self.dtype!s}, device={self.gpu_device!r}{mirror}, {state})"
        )

    # --- writing ---------------------------------------------------------------------

    def write_view(self, *, frame_id: int | None = None) -> _GpuWriteView:
        """Zero-copy write: ``with s.write_view() as t: compute into t``.

        ``t`` is the next device slot (a tensor holding an old frame);
        enqueue work on the device's current CUDA stream. On a clean exit
        the stream is synchronised, the mirror updated and the frame
        published; if the block raises, the frame is discarded.
        """
        if self.closed:
            raise StreamClosedError(f"stream {self.name!r} is closed")
        view = self._wv
        view.frame_id = None if frame_id is None else _check_frame_id(frame_id)
        return view

    def write(self, frame: Any, *, frame_id: int | None = None) -> None:
        """Publish one frame: a tensor of the stream's shape and dtype (any
        device), or an array-like following ``SharedStream.write``'s rule."""
        torch = self._torch
        if self.closed:
            raise StreamClosedError(f"cannot write to stream {self.name!r}: closed")
        if isinstance(frame, torch.Tensor):
            if tuple(frame.shape) != self.shape or frame.dtype != self._torch_dtype:
                raise StreamFrameError(
                    f"cannot write to stream {self.name!r} (shape {self.shape!r}, "
                    f"dtype {self.dtype!s}): tensor has shape {tuple(frame.shape)!r} "
                    f"dtype {frame.dtype}"
                )
            array = None
        else:
            array = np.ascontiguousarray(self._host._check_frame(frame), self.dtype)
        if frame_id is not None:
            frame_id = _check_frame_id(frame_id)
        slot = self._begin_write()
        try:
            if array is None:
                self._device_slots[slot].copy_(frame)
            else:
                self._device_slots[slot].copy_(torch.from_numpy(array))
                if self._mirror:
                    self._host._slots[slot][...] = array
        except BaseException:
            self._host._abort_write()
            raise
        self._publish(slot, frame_id, from_device=array is None)

    def _begin_write(self) -> int:
        self._host._begin_write()  # seqlock: the slot is now odd
        return self._host._w_count % self._host.slots

    def _publish(self, slot: int, frame_id: int | None, *, from_device: bool) -> None:
        try:
            self._synchronize()
            if self._mirror and from_device:
                # pageable host memory: the copy returns once it is done
                self._host_slots[slot].copy_(self._device_slots[slot])
        except BaseException:
            self._host._abort_write()
            raise
        self._host._commit_write(frame_id)

    def _synchronize(self, other: Any = None) -> None:
        """Wait for work queued on this device's current CUDA stream (and
        on ``other``'s device when it is another CUDA device)."""
        _BACKEND.synchronize(self._torch, self._device)
        if other is not None and other.type == "cuda" and other != self._device:
            _BACKEND.synchronize(self._torch, other)

    # --- reading ---------------------------------------------------------------------

    def read_into(self, out: Any) -> int:
        """Copy the latest frame into ``out`` and return its count (0:
        nothing written yet; ``out`` then holds zeros).

        ``out``: a tensor of the frame's shape and dtype on any device, or a
        writeable ndarray (read from the mirror when there is one).
        """
        torch = self._torch
        if self.closed:
            raise StreamClosedError(f"cannot read stream {self.name!r}: closed")
        if isinstance(out, np.ndarray):
            if self._mirror:
                got = self._host.read_into(out)
                self._last_read_count = got
                self._last_frame_id = self._host.last_frame_id
                return got
            self._host._check_out(out)
            target = torch.from_numpy(out)
        elif isinstance(out, torch.Tensor):
            if tuple(out.shape) != self.shape or out.dtype != self._torch_dtype:
                raise StreamFrameError(
                    f"out has shape {tuple(out.shape)!r} dtype {out.dtype}; stream "
                    f"{self.name!r} frames are shape {self.shape!r} dtype "
                    f"{self._torch_dtype}"
                )
            target = out
        else:
            raise StreamFrameError(
                f"out must be a torch.Tensor or numpy.ndarray of shape "
                f"{self.shape!r}, got {type(out).__name__}"
            )
        host = self._host
        h, hs, meta, n = host._h64, host._hs64, host._meta, host.slots
        slots = self._device_slots
        while True:
            count = h[H.Q_COUNT]
            slot = (count - 1) % n
            m = meta[slot]
            seq = h[m]
            if NEEDS_FENCE:
                memory_fence()
            target.copy_(slots[slot])
            self._synchronize(target.device)  # the copy is done before the check
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

    def read(self) -> Any:
        """A consistent copy of the latest frame, as a tensor on the device."""
        out = self.empty_frame()
        self.read_into(out)
        return out

    def read_new_into(self, out: Any, timeout: float | None = None) -> int:
        """Wait for a frame newer than the last one this handle read, copy
        it into ``out``, return its count (``TimeoutError`` on timeout)."""
        last = self._last_read_count
        if self.closed:
            raise StreamClosedError(f"cannot read stream {self.name!r}: closed")
        if self._host.count == last:
            self._host._wait_changed(last, timeout)
        return self.read_into(out)

    def read_new(self, timeout: float | None = None) -> Any:
        """Like :meth:`read_new_into`, returning a new device tensor."""
        out = self.empty_frame()
        self.read_new_into(out, timeout)
        return out

    def wait_new(self, last_count: int, timeout: float | None = None) -> int:
        """See :meth:`SharedStream.wait_new`."""
        return self._host.wait_new(last_count, timeout)

    def wait_for_count(self, after: int, timeout: float | None = None) -> int:
        """See :meth:`SharedStream.wait_for_count`."""
        return self._host.wait_for_count(after, timeout)

    def wait_for_frame_id(self, target: int, timeout: float | None = None) -> int:
        """See :meth:`SharedStream.wait_for_frame_id`."""
        return self._host.wait_for_frame_id(target, timeout)

    def read_after(self, after: int, timeout: float | None = None, *, out: Any = None) -> Any:
        """See :meth:`SharedStream.read_after` (a device tensor)."""
        self._host.wait_for_count(after, timeout)
        if out is None:
            return self.read()
        self.read_into(out)
        return out

    @property
    def wait_policy(self) -> Any:
        """See :attr:`SharedStream.wait_policy`."""
        return self._host.wait_policy

    @wait_policy.setter
    def wait_policy(self, value: Any) -> None:
        self._host.wait_policy = value

    @property
    def writer_pid(self) -> int:
        """See :attr:`SharedStream.writer_pid`."""
        return self._host.writer_pid

    def writer_alive(self) -> bool:
        """See :meth:`SharedStream.writer_alive`."""
        return self._host.writer_alive()

    def claim_writer(self) -> None:
        """See :meth:`SharedStream.claim_writer`."""
        self._host.claim_writer()

    def wake_waiters(self) -> None:
        """See :meth:`SharedStream.wake_waiters`."""
        self._host.wake_waiters()

    # --- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        """Release this handle (idempotent). In the creating process the
        device buffer stays allocated until :meth:`unlink`."""
        if self.closed:
            return
        # drop the tensors viewing the segment first, so it can be unmapped
        self._device_slots = ()
        self._host_slots = ()
        self._buffer = None
        self._host.close()

    def unlink(self) -> None:
        """Remove the stream's name (idempotent). In the creating process
        this also releases the device buffer once every handle is closed."""
        _CREATED.pop((self._host.segment_name, self._host._inode), None)
        self._host.unlink()

    def __enter__(self) -> GpuSharedStream:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


class HostToDeviceStream:
    """A host stream read into device tensors: what a gpu kernel uses for a
    ``storage: cpu`` input.

    ``read_into(tensor)`` reads the latest frame into a pinned staging
    buffer and enqueues its upload on the device's current CUDA stream; an
    event guards the staging buffer, so the host never waits for the upload
    unless the next read comes before it finished. Waiting and metadata are
    the host stream's.
    """

    def __init__(self, host: SharedStream, gpu_device: str = "cuda") -> None:
        torch = _torch.import_torch(f"uploading stream {host.name!r} to the GPU")
        self._torch = torch
        self._device = _torch.cuda_device(gpu_device, f"stream {host.name!r}")
        self._host = host
        self._torch_dtype = _torch.torch_dtype(host.dtype)
        self._staging = torch.zeros(
            host.shape, dtype=self._torch_dtype, pin_memory=True
        )
        self._staging_array = self._staging.numpy()
        self._uploaded = torch.cuda.Event()

    def __getattr__(self, name: str) -> Any:
        # metadata, waiting and lifecycle: the host stream's
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._host, name)

    @property
    def device(self) -> Any:
        return self._device

    @property
    def gpu_device(self) -> str:
        return _device_text(self._device)

    def empty_frame(self) -> Any:
        """A zeroed tensor of one frame on the device."""
        return self._torch.zeros(
            self._host.shape, dtype=self._torch_dtype, device=self._device
        )

    def read_into(self, out: Any) -> int:
        """Read the latest host frame and upload it into tensor ``out``."""
        self._uploaded.synchronize()  # the previous upload left the staging buffer
        count = self._host.read_into(self._staging_array)
        out.copy_(self._staging, non_blocking=True)
        self._uploaded.record(self._torch.cuda.current_stream(self._device))
        return count

    def read_new_into(self, out: Any, timeout: float | None = None) -> int:
        last = self._host.last_read_count
        if self._host.count == last:
            self._host._wait_changed(last, timeout)
        return self.read_into(out)

    def close(self) -> None:
        self._host.close()

    def __enter__(self) -> HostToDeviceStream:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


# --- helpers -------------------------------------------------------------------------

_TOKEN = object()


def _has_descriptor(host: SharedStream) -> bool:
    magic = host._mm[H.OFF_GPU_MAGIC : H.OFF_GPU_MAGIC + 8]
    return bytes(magic) == H.GPU_MAGIC


def _wait_descriptor(host: SharedStream) -> dict:
    """The GPU descriptor, waiting briefly for a creator that created the
    segment moments ago and is still writing it."""
    deadline_ns = host._created_ns + int(_INIT_WAIT_S * 1e9)
    while True:
        descriptor = gpu_descriptor(host)
        if descriptor is not None:
            break
        if time.time_ns() >= deadline_ns or not process_alive(
            host._creator_pid, host._creator_start
        ):
            raise StreamLayoutError(
                f"stream {host.name!r} is a host (storage: cpu) stream, not a "
                "GPU stream"
            )
        time.sleep(0.001)
    if descriptor["version"] != H.GPU_DESCRIPTOR_VERSION:
        raise StreamLayoutError(
            f"GPU stream {host.name!r} has GPU descriptor version "
            f"{descriptor['version']}; this shmpipeline reads version "
            f"{H.GPU_DESCRIPTOR_VERSION}"
        )
    stride = descriptor["device_stride"]
    if (
        stride < host.nbytes
        or descriptor["buffer_bytes"] < stride * host.slots
        or descriptor["record_len"] > H.GPU_RECORD_LEN
    ):
        raise StreamLayoutError(f"GPU stream {host.name!r} has an invalid descriptor")
    return descriptor


class _CudaBackend:
    """The CUDA calls of GPU streams, in one place (tests of the stream
    logic on machines without CUDA substitute a host stand-in)."""

    def device(self, gpu_device: str, what: str) -> Any:
        return _torch.cuda_device(gpu_device, what)

    def allocate(self, torch: Any, device: Any, nbytes: int) -> tuple[Any, bytes]:
        """A zeroed uint8 buffer on ``device`` and its encoded IPC record."""
        with torch.cuda.device(device):
            buffer = torch.zeros(nbytes, dtype=torch.uint8, device=device)
            torch.cuda.synchronize(device)  # zeros are there before sharing
            return buffer, encode_record(buffer.untyped_storage()._share_cuda_())

    def map(self, torch: Any, device: Any, descriptor: dict, where: str) -> Any:
        """Map the creator's device buffer from the IPC record."""
        try:
            record = decode_record(descriptor["record"])
        except struct.error:
            raise StreamLayoutError(f"{where}: unreadable CUDA IPC record") from None
        size = record[2]
        if size < descriptor["buffer_bytes"]:
            raise StreamLayoutError(
                f"{where}: CUDA IPC record of {size} bytes is short"
            )
        torch.cuda.init()
        try:
            with torch.cuda.device(device):
                storage = torch.UntypedStorage._new_shared_cuda(*record)
                buffer = torch.empty(0, dtype=torch.uint8, device=device)
                buffer.set_(storage, 0, (size,), (1,))
        except RuntimeError as exc:
            raise StreamError(
                f"{where}: cannot map the CUDA IPC buffer: {exc}"
            ) from exc
        return buffer

    def synchronize(self, torch: Any, device: Any) -> None:
        """Wait for the work queued on ``device``'s current CUDA stream."""
        torch.cuda.current_stream(device).synchronize()


_BACKEND = _CudaBackend()


def _device_text(device: Any) -> str:
    if device.type == "cuda":
        return f"cuda:{device.index}"
    return str(device)


def _reopen(
    name: str, namespace: str | None, shape, dtype_str: str, gpu_device: str
) -> GpuSharedStream:
    return GpuSharedStream.open(
        name,
        namespace=namespace,
        shape=tuple(shape),
        dtype=np.dtype(dtype_str),
        gpu_device=gpu_device,
    )
