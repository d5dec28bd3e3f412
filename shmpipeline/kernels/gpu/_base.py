"""Base class of the GPU (torch) kernel catalog.

Each ``gpu.<name>`` kernel is the twin of ``cpu.<name>``: it names its CPU
twin in ``cpu_twin`` and inherits from it, without copying, every validation
rule (the twin's ``_settings``: shapes, dtypes, parameters) and its arity /
parameter-name declarations. Only the storage differs (``gpu``; cpu streams
are accepted as inputs and uploaded by the worker) plus the few dtype limits
of torch on CUDA (:meth:`GpuKernel._gpu_rules`). So the same config is
rejected by both twins with the same field and the same words.

Device. A kernel computes on the device of its output stream
(``gpu_device``), allocating its temporaries there once in ``__init__``.
``__init__`` takes an optional ``device`` that overrides it: passing
``device="cpu"`` runs the very same torch code on torch's CPU device, which is
how the parity tests exercise every gpu kernel on machines without CUDA::

    kernel = ScaleGpuKernel(KernelContext(config, specs), device="cpu")
    kernel.compute_into(torch.from_numpy(x), out_tensor, {})

Validation of storage (``validate_config``) is separate from compute, so the
config keeps ``storage: gpu`` streams while the tensors live on the CPU.

Per frame, kernels only enqueue torch operations writing into the given
output tensor (``out=`` / in-place); nothing reads a device value back to the
host, so the per-frame path never synchronises with the GPU (publishing the
frame is the stream's job).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from shmpipeline import _torch
from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernel import KernelContext
from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._catalog import CatalogKernel
from shmpipeline.kernels._ops import ArrayOps


def _copy(dst: torch.Tensor, src: Any) -> torch.Tensor:
    return dst.copy_(src)


#: torch's in-place calls (see :mod:`shmpipeline.kernels._ops`)
TORCH_OPS = ArrayOps(
    copy=_copy, cast=_copy, add=torch.add, subtract=torch.sub,
    multiply=torch.mul, matvec=torch.mv, maximum=torch.maximum, minimum=torch.minimum,
)  # fmt: skip

_TWIN_RULES = (
    "input_arity",
    "auxiliary_arity",
    "output_arity",
    "parameter_specs",
    "parameter_names",
    "accepts_operation",
)


class GpuKernel(CatalogKernel):
    """A kernel over torch tensors on a CUDA device (or torch's CPU device
    when constructed with ``device="cpu"``).

    Subclasses set ``kind`` and ``cpu_twin``; the twin's arities, parameter
    declarations and ``accepts_operation`` are copied unless the subclass sets them.
    """

    storage: ClassVar[str] = "gpu"
    ops: ClassVar[ArrayOps] = TORCH_OPS
    #: cpu streams may feed a gpu kernel: the worker uploads each frame
    accepts_host_inputs: ClassVar[bool] = True
    #: the ``cpu.*`` kernel whose validation rules this kernel shares
    cpu_twin: ClassVar[type[CatalogKernel] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        twin = cls.__dict__.get("cpu_twin")
        if twin is None:
            return
        for attr in _TWIN_RULES:
            if attr not in cls.__dict__:
                setattr(cls, attr, getattr(twin, attr))

    def __init__(self, context: KernelContext, *, device: Any = None) -> None:
        super().__init__(context)
        self.device = kernel_device(context, device)

    @classmethod
    def _settings(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> Any:
        """Validate and parse with the CPU twin's rules."""
        twin = cls.cpu_twin
        if twin is None:
            return None
        return twin._settings(config, shared_memory)

    @classmethod
    def _validate_kind(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """The CPU twin's checks (same order, same messages), then the GPU's
        dtype limits and the kind's own (:meth:`_gpu_rules`)."""
        settings = cls._settings(config, shared_memory)
        check_gpu_dtypes(config, shared_memory)
        cls._gpu_rules(config, shared_memory, settings)

    @classmethod
    def _gpu_rules(
        cls,
        config: KernelConfig,
        shared_memory: Mapping[str, SharedMemoryConfig],
        settings: Any,
    ) -> None:
        """Extra limits of torch on CUDA (none by default)."""
        return None

    # helpers for subclasses ---------------------------------------------------

    def empty(self, shape: Any, dtype: Any) -> torch.Tensor:
        """A zeroed tensor on the kernel's device (NumPy or torch ``dtype``)."""
        return zeros_on(self.device, shape, dtype)


def kernel_device(context: KernelContext, device: Any = None) -> torch.device:
    """The device a kernel computes on: ``device`` when given, else the
    output stream's ``gpu_device`` (checked to exist), else torch's CPU
    device (a context of host streams, as in tests)."""
    if device is not None:
        return torch.device(device)
    spec = context.output_spec
    if spec.storage == "gpu" and spec.gpu_device:
        return _torch.cuda_device(
            spec.gpu_device, f"kernel {context.config.name!r} ({context.config.kind})"
        )
    return torch.device("cpu")


def check_gpu_dtypes(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
) -> None:
    """Every bound stream's dtype must be one torch computes with on CUDA."""
    for field, name in v.bindings(config):
        dtype = np.dtype(shared_memory[name].dtype)
        if not _torch.gpu_dtype_supported(dtype):
            raise v.error(
                config,
                field,
                f"dtype {dtype.name} of stream {name!r} is not supported by gpu "
                f"kernels (torch); use one of {', '.join(_torch.GPU_DTYPES)}",
            )


def require_gpu_dtype_kind(
    config: KernelConfig,
    field: str,
    spec: SharedMemoryConfig,
    kinds: str,
    why: str,
) -> None:
    """A GPU-only dtype limit: the stream's NumPy dtype kind must be in
    ``kinds`` (e.g. ``"fc"``); ``why`` explains the limit."""
    dtype = np.dtype(spec.dtype)
    if dtype.kind not in kinds:
        raise v.error(
            config,
            field,
            f"dtype {dtype.name} of stream {spec.name!r} is not supported by "
            f"{config.kind}: {why}",
        )


def zeros_on(device: torch.device, shape: Any, dtype: Any) -> torch.Tensor:
    """A zeroed tensor of ``shape`` on ``device`` (NumPy or torch ``dtype``)."""
    if not isinstance(dtype, torch.dtype):
        dtype = _torch.torch_dtype(dtype)
    return torch.zeros(tuple(shape), dtype=dtype, device=device)


def scalar_on(value: Any, dtype: Any, device: torch.device) -> torch.Tensor:
    """A 0-d tensor holding ``value`` in NumPy ``dtype`` on ``device``."""
    return torch.tensor(value, dtype=_torch.torch_dtype(dtype), device=device)


__all__ = [
    "TORCH_OPS",
    "GpuKernel",
    "check_gpu_dtypes",
    "kernel_device",
    "require_gpu_dtype_kind",
    "scalar_on",
    "zeros_on",
]
