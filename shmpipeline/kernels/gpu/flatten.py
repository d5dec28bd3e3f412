"""``gpu.flatten``: out (prod(in.shape),) = ravel(in)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shmpipeline.kernels.cpu.flatten import FlattenCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


class FlattenGpuKernel(GpuKernel):
    """Copy the input in C order into a 1-D output of the same dtype."""

    kind = "gpu.flatten"
    cpu_twin = FlattenCpuKernel

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        # a view for the contiguous frames the runtime hands over
        output.copy_(trigger_input.reshape(-1))
