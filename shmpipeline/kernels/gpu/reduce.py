"""``gpu.reduce``: one-element output = sum / mean / max / min of the input."""

from __future__ import annotations

from typing import Any

import torch

from shmpipeline.kernels.cpu.reduce import ReduceCpuKernel, ReduceLaw
from shmpipeline.kernels.gpu._base import GpuKernel, require_gpu_dtype_kind


class ReduceGpuKernel(ReduceLaw, GpuKernel):
    """Reduce the whole input to one value (see ``cpu.reduce``).

    The reduction runs in the CPU twin's accumulator dtype (sum/mean promote
    input and output, integer means in float64, max/min in the input dtype),
    into a preallocated 0-d tensor, then is cast into the output. max/min of
    complex streams are refused on the GPU (torch does not order complex
    numbers).
    """

    kind = "gpu.reduce"
    cpu_twin = ReduceCpuKernel

    @classmethod
    def _gpu_rules(cls, config, shared_memory, settings) -> None:
        if settings in ("max", "min"):
            require_gpu_dtype_kind(
                config,
                "input",
                shared_memory[config.input],
                "biuf",
                f"torch has no {settings} of complex numbers",
            )

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        self._prepare_reduction(context)
        self._dims = tuple(range(len(context.trigger_input_spec.shape)))

    def _reduce(self, source: Any, acc: Any) -> None:
        operation = self.operation
        if operation == "max":
            torch.amax(source, dim=self._dims, out=acc)
        elif operation == "min":
            torch.amin(source, dim=self._dims, out=acc)
        else:
            torch.sum(source, dim=self._dims, dtype=acc.dtype, out=acc)
            if operation == "mean":
                acc.div_(self._count)
