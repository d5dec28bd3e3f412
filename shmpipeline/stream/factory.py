"""Create and open streams from their config (``SharedMemoryConfig``).

The manager and the worker runtime call these instead of choosing a class
by ``storage`` themselves:

- :func:`create_stream` makes a :class:`~shmpipeline.stream.SharedStream`
  (``storage: cpu``) or a :class:`~shmpipeline.stream.gpu.GpuSharedStream`
  (``storage: gpu``, on ``gpu_device``, with ``cpu_mirror``).
- :func:`open_stream` attaches to one *as seen by a reader of a given
  storage* (the kernel's), which is what mixed pipelines need: a cpu reader
  of a gpu stream reads its host mirror; a gpu reader of a cpu stream gets
  frames uploaded to its device.
- :func:`empty_frame` allocates a read buffer fitting a handle.

This module imports torch only when a GPU stream is involved.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import StreamLayoutError
from .stream import DEFAULT_SLOTS, SharedStream


def create_stream(
    spec: Any,
    *,
    namespace: str | None = None,
    slots: int = DEFAULT_SLOTS,
    exist_ok: bool = False,
) -> Any:
    """Create the stream ``spec`` describes (see :meth:`SharedStream.create`
    for ``namespace``, ``slots`` and ``exist_ok``). A gpu stream needs torch
    and CUDA (:class:`~shmpipeline.errors.GpuUnavailableError` otherwise)."""
    if spec.storage == "gpu":
        from .gpu import GpuSharedStream

        return GpuSharedStream.create(
            spec.name,
            spec.shape,
            spec.dtype,
            gpu_device=spec.gpu_device or "cuda",
            cpu_mirror=bool(spec.cpu_mirror),
            namespace=namespace,
            slots=slots,
            exist_ok=exist_ok,
        )
    return SharedStream.create(
        spec.name,
        spec.shape,
        spec.dtype,
        namespace=namespace,
        slots=slots,
        exist_ok=exist_ok,
    )


def open_stream(
    spec: Any,
    *,
    namespace: str | None = None,
    storage: str | None = None,
    gpu_device: str | None = None,
) -> Any:
    """Open the stream ``spec`` describes, for a reader/writer of ``storage``
    (default: the stream's own).

    ======== ========= ==============================================
    stream   storage   handle
    ======== ========= ==============================================
    cpu      cpu       ``SharedStream``
    gpu      gpu       ``GpuSharedStream`` (needs CUDA)
    gpu      cpu       ``SharedStream`` on the host mirror (needs
                       ``cpu_mirror: true``; works without torch)
    cpu      gpu       ``HostToDeviceStream`` uploading to
                       ``gpu_device`` (default ``'cuda'``)
    ======== ========= ==============================================

    ``gpu_device`` is where a host stream is uploaded to (a gpu kernel's
    device); a gpu stream is always opened on its own ``gpu_device``. Shape
    and dtype are checked against the segment's header.
    """
    storage = storage or spec.storage
    if storage not in ("cpu", "gpu"):
        raise ValueError(f"storage must be 'cpu' or 'gpu', got {storage!r}")
    if spec.storage == "gpu" and storage == "gpu":
        from .gpu import GpuSharedStream

        return GpuSharedStream.open(
            spec.name,
            namespace=namespace,
            shape=spec.shape,
            dtype=spec.dtype,
            gpu_device=spec.gpu_device,
        )
    host = SharedStream.open(
        spec.name, namespace=namespace, shape=spec.shape, dtype=spec.dtype
    )
    try:
        if storage == "gpu":
            from .device import HostToDeviceStream

            return HostToDeviceStream(host, gpu_device or "cuda")
        if spec.storage == "gpu" or _is_gpu_segment(host):
            from .gpu import gpu_descriptor

            descriptor = gpu_descriptor(host)
            if descriptor is not None and not descriptor["cpu_mirror"]:
                raise StreamLayoutError(
                    f"stream {spec.name!r} lives on cuda:"
                    f"{descriptor['device_index']} without a cpu mirror; a host "
                    "reader needs cpu_mirror: true on it"
                )
        return host
    except BaseException:
        host.close()
        raise


def empty_frame(handle: Any) -> Any:
    """A zeroed buffer for one frame of ``handle``: a device tensor for GPU
    handles, else an ndarray."""
    make = getattr(handle, "empty_frame", None)
    if make is not None:
        return make()
    return np.zeros(handle.shape, handle.dtype)


def _is_gpu_segment(host: SharedStream) -> bool:
    from ._gpu_descriptor import has_gpu_descriptor

    return has_gpu_descriptor(host)


__all__ = ["create_stream", "empty_frame", "open_stream"]
