"""Stream handles whose frames are torch tensors on a device.

:class:`DeviceFrames` holds what every such handle offers (device, torch
dtype, ``empty_frame``, the context manager); :class:`HostToDeviceStream`
reads a host stream into device tensors (a gpu kernel's ``storage: cpu``
input). :class:`~shmpipeline.stream.gpu.GpuSharedStream`, whose frames live
on the device, builds on the same base.
"""

from __future__ import annotations

from typing import Any, Self

from .. import _torch
from ._cuda_ipc import device_text
from .stream import SharedStream

__all__ = ["DeviceFrames", "HostToDeviceStream"]


class DeviceFrames:
    """What the two device-side handles share: frames of the host segment
    ``_host`` as torch tensors of ``_torch_dtype`` on ``_device``."""

    _torch: Any
    _host: SharedStream
    _device: Any
    _torch_dtype: Any

    @property
    def torch_dtype(self) -> Any:
        """The frames' torch dtype."""
        return self._torch_dtype

    @property
    def device(self) -> Any:
        """The ``torch.device`` the frames live on."""
        return self._device

    @property
    def gpu_enabled(self) -> bool:
        """True: frames are device tensors (the published handles' flag)."""
        return True

    @property
    def gpu_device(self) -> str:
        """``'cuda:<index>'`` of the frames."""
        return device_text(self._device)

    def empty_frame(self) -> Any:
        """A zeroed tensor of one frame on :attr:`device` (a read buffer)."""
        return self._torch.zeros(
            self._host.shape, dtype=self._torch_dtype, device=self._device
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()  # type: ignore[attr-defined]  # each handle's own


class HostToDeviceStream(DeviceFrames):
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

    def read_into(self, out: Any) -> int:
        """Read the latest host frame and upload it into tensor ``out``."""
        self._uploaded.synchronize()  # the previous upload left the staging buffer
        count = self._host.read_into(self._staging_array)
        out.copy_(self._staging, non_blocking=True)
        self._uploaded.record(self._torch.cuda.current_stream(self._device))
        return count

    def read_new_into(self, out: Any, timeout: float | None = None) -> int:
        self._host.wait_unread(timeout)
        return self.read_into(out)

    def close(self) -> None:
        self._host.close()
