"""``gpu.add_constant``: out = in + constant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.add_constant import AddConstantCpuKernel
from shmpipeline.kernels.gpu._scalar import ScalarGpuKernel


class AddConstantGpuKernel(ScalarGpuKernel):
    """Add the ``constant`` parameter to the input (see ``cpu.add_constant``)."""

    kind = "gpu.add_constant"
    cpu_twin = AddConstantCpuKernel

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.combine_into(torch.add, trigger_input, output)
