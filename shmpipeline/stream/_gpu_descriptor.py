"""The GPU area of a stream segment's header, as GPU streams read it.

A GPU stream's creator writes a descriptor into its header (device index,
slot stride, buffer size, the CUDA IPC record; layout in
:mod:`shmpipeline.stream._header`), the magic last. These functions probe for
it, read it, and wait briefly for a creator still writing it; the stride and
dtype rules of the device slots live here too.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import _torch
from ..errors import StreamClosedError, StreamLayoutError
from . import _header as H
from .stream import SharedStream

__all__ = [
    "DEVICE_ALIGN",
    "check_gpu_dtype",
    "device_stride",
    "gpu_descriptor",
    "has_gpu_descriptor",
    "wait_descriptor",
]

#: device slots start on this many bytes (alignment for every dtype)
DEVICE_ALIGN = 512
#: how long an opener waits for a creator still writing the descriptor
_INIT_WAIT_S = 2.0


def gpu_descriptor(stream: SharedStream) -> dict | None:
    """The GPU descriptor of an open stream segment (``None``: a host
    stream, or a GPU stream still being initialised by its creator)."""
    if stream.closed:
        raise StreamClosedError(f"stream {stream.name!r} is closed")
    return H.unpack_gpu_descriptor(stream.segment.mm[: H.HEADER_SIZE])


def has_gpu_descriptor(host: SharedStream) -> bool:
    """Whether an open stream segment carries a complete GPU descriptor (its
    creator wrote the magic last), without decoding it."""
    magic = host.segment.mm[H.OFF_GPU_MAGIC : H.OFF_GPU_MAGIC + 8]
    return bytes(magic) == H.GPU_MAGIC


def device_stride(nbytes: int) -> int:
    """Bytes from one device slot to the next: ``nbytes`` rounded up to
    :data:`DEVICE_ALIGN`."""
    return max(DEVICE_ALIGN, -(-nbytes // DEVICE_ALIGN) * DEVICE_ALIGN)


def check_gpu_dtype(dtype: Any, name: str) -> np.dtype:
    """The dtype of GPU stream ``name``: one torch computes with on CUDA."""
    dt = np.dtype(dtype)
    if not _torch.gpu_dtype_supported(dt):
        raise StreamLayoutError(
            f"GPU stream {name!r}: dtype {dt.name} is not supported on the GPU; "
            f"use one of {', '.join(_torch.GPU_DTYPES)}"
        )
    return dt


def wait_descriptor(host: SharedStream) -> dict:
    """The GPU descriptor, waiting briefly for a creator that created the
    segment moments ago and is still writing it."""
    deadline_ns = host.created_ns + int(_INIT_WAIT_S * 1e9)
    while True:
        descriptor = gpu_descriptor(host)
        if descriptor is not None:
            break
        if time.time_ns() >= deadline_ns or not host.creator_alive():
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
