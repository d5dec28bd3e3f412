"""``gpu.scale_offset``: out = gain * in - aux."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.scale_offset import ScaleOffsetCpuKernel
from shmpipeline.kernels.gpu._scalar import ScalarGpuKernel


class ScaleOffsetGpuKernel(ScalarGpuKernel):
    """Compute ``gain * input - offset`` with the offset read from the one
    auxiliary stream (see ``cpu.scale_offset``)."""

    kind = "gpu.scale_offset"
    cpu_twin = ScaleOffsetCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        self._alias = context.config.auxiliary[0].alias

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        offset = auxiliary_inputs[self._alias]
        self.combine_into(torch.mul, trigger_input, output, subtract=offset)
