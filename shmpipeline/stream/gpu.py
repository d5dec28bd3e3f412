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

Neighbours: the header's GPU area is read in
:mod:`~shmpipeline.stream._gpu_descriptor`, the IPC record and the CUDA calls
are in :mod:`~shmpipeline.stream._cuda_ipc`, and what every device-side handle
shares (and the host-to-device upload handle) in
:mod:`~shmpipeline.stream.device`.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
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
from ._cuda_ipc import CudaBackend, decode_record, encode_record
from ._futex import NEEDS_FENCE, memory_fence
from ._gpu_descriptor import (
    check_gpu_dtype,
    device_stride,
    gpu_descriptor,
    has_gpu_descriptor,
    wait_descriptor,
)
from .checks import (
    check_frame_id,
    check_out,
    check_slots,
    check_write_frame,
    normalize_shape,
)
from .device import DeviceFrames, HostToDeviceStream
from .stream import DEFAULT_SLOTS, SharedStream

__all__ = [
    "GpuSharedStream",
    "HostToDeviceStream",
    "decode_record",
    "encode_record",
    "gpu_descriptor",
    "has_gpu_descriptor",
]

#: buffers this process created, by (segment name, inode): kept alive until
#: the stream is unlinked here (openers elsewhere map them by IPC)
_CREATED: dict[tuple[str, int], Any] = {}


# --- forwarding to the host segment ---------------------------------------------------


def _host_property(name: str, doc: str | None = None, *, settable: bool = False) -> Any:
    """Property ``name`` of the host segment handle, read (and, when
    ``settable``, set) through; ``SharedStream``'s docstring by default."""

    def get(self: Any) -> Any:
        return getattr(self._host, name)

    def put(self: Any, value: Any) -> None:
        setattr(self._host, name, value)

    doc = doc if doc is not None else getattr(SharedStream, name).__doc__
    return property(get, put if settable else None, doc=doc)


def _host_method(name: str) -> Callable[..., Any]:
    """Method ``name`` of the host segment handle, called on it (same
    signature and docstring as ``SharedStream``'s)."""
    method = getattr(SharedStream, name)

    @functools.wraps(method)
    def forward(self: Any, *args: Any, **kwargs: Any) -> Any:
        return method(self._host, *args, **kwargs)

    return forward


# --- the write context ------------------------------------------------------------------


class _GpuWriteView:
    """Context of :meth:`GpuSharedStream.write_view` (one per handle)."""

    __slots__ = ("_stream", "frame_id", "_slot")

    def __init__(self, stream: GpuSharedStream) -> None:
        self._stream = stream
        self.frame_id: int | None = None
        self._slot = 0

    def __enter__(self) -> Any:
        self._slot = self._stream._host.begin_write()
        return self._stream._device_slots[self._slot]

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self._stream._publish(self._slot, self.frame_id, from_device=True)
        else:
            self._stream._host.abort_write()
        return False


# --- the stream ------------------------------------------------------------------------


class GpuSharedStream(DeviceFrames):
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
            torch.from_numpy(array) for array in host.slot_arrays
        )  # the mirror, as tensors sharing the segment's memory
        self._wv = _GpuWriteView(self)

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
        dt = check_gpu_dtype(dtype, name)
        shape_t = normalize_shape(shape)
        # Allocate and export the device buffer first (CUDA initialisation
        # may take seconds), so the segment gets its GPU descriptor right
        # after it appears and openers never wait long for it.
        stride = device_stride(math.prod(shape_t) * dt.itemsize)
        nslots = check_slots(slots)
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
        if host.creator_pid != os.getpid() or has_gpu_descriptor(host):
            # exist_ok found a live stream: attach to it like any opener
            ns = host.namespace
            host.close()
            return cls.open(
                name, namespace=ns, shape=shape_t, dtype=dt, gpu_device=str(device)
            )
        try:
            mm = host.segment.mm
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
            _CREATED[host.segment_identity] = buffer
            return cls(host, buffer, wait_descriptor(host), _token=_TOKEN)
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
            descriptor = wait_descriptor(host)
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
            buffer = _CREATED.get(host.segment_identity)
            if buffer is None:
                if not host.creator_alive():
                    raise StreamError(
                        f"{where}: its creator (process {host.creator_pid}) is "
                        f"gone, and its device memory with it{mirror_hint}"
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

    # --- metadata: the host segment's, plus the device -------------------------

    name = _host_property("name")
    namespace = _host_property("namespace")
    segment_name = _host_property("segment_name")
    shape = _host_property("shape")
    dtype = _host_property(
        "dtype", "Frame dtype (NumPy; :attr:`torch_dtype` is torch's)."
    )
    nbytes = _host_property("nbytes")
    slots = _host_property("slots")
    creator_pid = _host_property("creator_pid")
    closed = _host_property("closed")
    count = _host_property("count")
    frame_id = _host_property("frame_id")
    write_time_ns = _host_property("write_time_ns")
    write_time = _host_property("write_time")
    # one read state: reads of the device slots and of the mirror update it
    last_read_count = _host_property("last_read_count")
    last_frame_id = _host_property("last_frame_id")
    read_retries = _host_property("read_retries")
    writer_pid = _host_property("writer_pid")
    kick_count = _host_property("kick_count")
    wait_policy = _host_property("wait_policy", settable=True)

    @property
    def cpu_mirror(self) -> bool:
        """Whether publishes also update the host mirror."""
        return self._mirror

    @property
    def host_stream(self) -> SharedStream:
        """The underlying segment handle (its slots are the mirror)."""
        return self._host

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
        view.frame_id = None if frame_id is None else check_frame_id(frame_id)
        return view

    def write(self, frame: Any, *, frame_id: int | None = None) -> None:
        """Publish one frame: a tensor of the stream's shape and dtype (any
        device), or an array-like following ``SharedStream.write``'s rule."""
        torch = self._torch
        if self.closed:
            raise StreamClosedError(f"cannot write to stream {self.name!r}: closed")
        if isinstance(frame, torch.Tensor):
            if not self._fits(frame):
                raise StreamFrameError(
                    f"cannot write to stream {self.name!r} (shape {self.shape!r}, "
                    f"dtype {self.dtype!s}): tensor has shape {tuple(frame.shape)!r} "
                    f"dtype {frame.dtype}"
                )
            array = None
        else:
            checked = check_write_frame(frame, self.shape, self.dtype, self.name)
            array = np.ascontiguousarray(checked, self.dtype)
        if frame_id is not None:
            frame_id = check_frame_id(frame_id)
        slot = self._host.begin_write()
        try:
            if array is None:
                self._device_slots[slot].copy_(frame)
            else:
                self._device_slots[slot].copy_(torch.from_numpy(array))
                if self._mirror:
                    self._host.slot_arrays[slot][...] = array
        except BaseException:
            self._host.abort_write()
            raise
        self._publish(slot, frame_id, from_device=array is None)

    def _fits(self, tensor: Any) -> bool:
        """Whether a tensor has the frames' shape and torch dtype."""
        return tuple(tensor.shape) == self.shape and tensor.dtype == self._torch_dtype

    def _publish(self, slot: int, frame_id: int | None, *, from_device: bool) -> None:
        try:
            self._synchronize()
            if self._mirror and from_device:
                # pageable host memory: the copy returns once it is done
                self._host_slots[slot].copy_(self._device_slots[slot])
        except BaseException:
            self._host.abort_write()
            raise
        self._host.commit_write(frame_id)

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
                return self._host.read_into(out)
            check_out(out, self.shape, self.dtype, self.name)
            target = torch.from_numpy(out)
        elif isinstance(out, torch.Tensor):
            if not self._fits(out):
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
        return self._host.seqlock_read(target, self._device_slots, self._copy_whole)

    def _copy_whole(self, target: Any, slot: Any) -> None:
        """Copy a device slot into ``target`` and wait until it is there
        (the seqlock check must follow the copy's completion)."""
        target.copy_(slot)
        self._synchronize(target.device)

    def read(self) -> Any:
        """A consistent copy of the latest frame, as a tensor on the device."""
        out = self.empty_frame()
        self.read_into(out)
        return out

    def read_new_into(self, out: Any, timeout: float | None = None) -> int:
        """Wait for a frame newer than the last one this handle read, copy
        it into ``out``, return its count (``TimeoutError`` on timeout)."""
        self._host.wait_unread(timeout)
        return self.read_into(out)

    def read_new(self, timeout: float | None = None) -> Any:
        """Like :meth:`read_new_into`, returning a new device tensor."""
        out = self.empty_frame()
        self.read_new_into(out, timeout)
        return out

    # waiting and the writer: the host segment's
    wait_new = _host_method("wait_new")
    wait_for_count = _host_method("wait_for_count")
    wait_for_frame_id = _host_method("wait_for_frame_id")
    writer_alive = _host_method("writer_alive")
    claim_writer = _host_method("claim_writer")
    wake_waiters = _host_method("wake_waiters")
    # the same steps as the host stream's, over this handle's reads
    read_after = SharedStream.read_after

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
        _CREATED.pop(self._host.segment_identity, None)
        self._host.unlink()



# --- helpers -------------------------------------------------------------------------

_TOKEN = object()


#: the CUDA calls (tests substitute a host stand-in)
_BACKEND = CudaBackend()


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
