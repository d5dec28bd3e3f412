"""``gpu.copy``: out = in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shmpipeline.kernels.cpu.copy import CopyCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


class CopyGpuKernel(GpuKernel):
    """Copy the input frame into the output (same shape and dtype)."""

    kind = "gpu.copy"
    cpu_twin = CopyCpuKernel

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        output.copy_(trigger_input)
