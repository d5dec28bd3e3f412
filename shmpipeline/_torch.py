"""Optional PyTorch access for the GPU kernels and GPU streams.

torch is an optional dependency (``pip install 'shmpipeline[gpu]'``):
``import shmpipeline`` never imports it, and this module imports it only
inside its functions. Everything that needs torch or CUDA goes through
:func:`import_torch` / :func:`cuda_device`, so a missing torch or a machine
without CUDA always gives the same clear :class:`GpuUnavailableError`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shmpipeline.errors import GpuUnavailableError

#: how to get torch, quoted by every "no torch" message
INSTALL_HINT = "install the GPU extra: pip install 'shmpipeline[gpu]'"

#: NumPy dtypes GPU streams and kernels support: torch has these dtypes with
#: arithmetic on CUDA (torch's uint16/32/64 have almost no kernels)
GPU_DTYPES: tuple[str, ...] = (
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)


def import_torch(what: str = "this feature") -> Any:
    """Return the ``torch`` module, or raise :class:`GpuUnavailableError`
    saying that ``what`` needs it and how to install it."""
    try:
        import torch
    except ImportError:
        raise GpuUnavailableError(
            f"{what} needs PyTorch, which is not installed; {INSTALL_HINT}"
        ) from None
    return torch


def gpu_dtype_supported(dtype: Any) -> bool:
    """Whether NumPy ``dtype`` can live in a GPU stream / GPU kernel."""
    dt = np.dtype(dtype)
    return dt.isnative and dt.name in GPU_DTYPES


def torch_dtype(dtype: Any) -> Any:
    """The torch dtype of NumPy ``dtype`` (one of :data:`GPU_DTYPES`)."""
    torch = import_torch("a GPU dtype")
    dt = np.dtype(dtype)
    if not gpu_dtype_supported(dt):
        raise TypeError(
            f"dtype {dt.name} is not supported on the GPU; use one of "
            f"{', '.join(GPU_DTYPES)}"
        )
    return getattr(torch, dt.name)


def cuda_device(gpu_device: Any, what: str = "this GPU stream") -> Any:
    """Return ``torch.device(gpu_device)`` (``'cuda'`` or ``'cuda:<n>'``)
    after checking that torch sees that CUDA device; otherwise raise
    :class:`GpuUnavailableError` naming ``what``."""
    torch = import_torch(what)
    device = torch.device(gpu_device)
    if device.type != "cuda":
        raise GpuUnavailableError(f"{what}: device {gpu_device!r} is not a CUDA device")
    if not torch.cuda.is_available():
        raise GpuUnavailableError(
            f"{what} needs CUDA device {str(gpu_device)!r}, but torch "
            f"{torch.__version__} sees no CUDA device (torch.cuda.is_available() "
            "is False: no GPU, no driver, or a CPU-only torch build)"
        )
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise GpuUnavailableError(
            f"{what} needs CUDA device {str(gpu_device)!r}, but torch sees only "
            f"{torch.cuda.device_count()} CUDA device(s)"
        )
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


__all__ = [
    "GPU_DTYPES",
    "INSTALL_HINT",
    "cuda_device",
    "gpu_dtype_supported",
    "import_torch",
    "torch_dtype",
]
