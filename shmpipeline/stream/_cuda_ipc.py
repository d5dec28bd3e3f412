"""The CUDA side of GPU streams: torch's IPC record of a device buffer,
encoded for the stream header, and the few CUDA calls a GPU stream makes.

The record is the tuple of ``UntypedStorage._share_cuda_()`` (device,
``cudaIpcMemHandle`` of the allocation, size and offset in it, torch's IPC
ref-counter file and offset, IPC event handle, whether the event must be
waited on), packed with :mod:`struct` (never pickled). :class:`CudaBackend`
allocates and exports a buffer, maps an exported one and synchronises a
device; tests of the stream logic on machines without CUDA substitute a host
stand-in for it (``shmpipeline.stream.gpu._BACKEND``).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from .. import _torch
from ..errors import StreamError, StreamLayoutError

__all__ = ["CudaBackend", "decode_record", "device_text", "encode_record"]


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


class CudaBackend:
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


def device_text(device: Any) -> str:
    """``'cuda:<index>'`` of a CUDA device, else torch's name of it."""
    if device.type == "cuda":
        return f"cuda:{device.index}"
    return str(device)
