"""``gpu.reduce``: one-element output = sum / mean / max / min of the input."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from shmpipeline.kernels.cpu.reduce import ReduceCpuKernel, accumulator_dtype
from shmpipeline.kernels.gpu._base import GpuKernel, require_gpu_dtype_kind


class ReduceGpuKernel(GpuKernel):
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
        self.operation = self.settings
        source_spec = context.trigger_input_spec
        source = np.dtype(source_spec.dtype)
        target = np.dtype(context.output_spec.dtype)
        acc = accumulator_dtype(self.operation, source, target)
        self._dims = tuple(range(len(source_spec.shape)))
        self._count = math.prod(source_spec.shape)
        # cast the input into a preallocated copy, as the CPU twin does
        self._work = None if acc == source else self.empty(source_spec.shape, acc)
        self._acc = None if acc == target else self.empty((), acc)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        target = output.reshape(())
        acc = target if self._acc is None else self._acc
        source = trigger_input
        if self._work is not None:
            self._work.copy_(trigger_input)
            source = self._work
        operation = self.operation
        if operation == "max":
            torch.amax(source, dim=self._dims, out=acc)
        elif operation == "min":
            torch.amin(source, dim=self._dims, out=acc)
        else:
            torch.sum(source, dim=self._dims, dtype=acc.dtype, out=acc)
            if operation == "mean":
                acc.div_(self._count)
        if self._acc is not None:
            target.copy_(acc)
