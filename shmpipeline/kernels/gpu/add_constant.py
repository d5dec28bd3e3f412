"""``gpu.add_constant``: out = in + constant."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.add_constant import AddConstantCpuKernel
from shmpipeline.kernels.gpu._scalar import ScalarGpuKernel


class AddConstantGpuKernel(ScalarGpuKernel):
    """Add the ``constant`` parameter to the input (see ``cpu.add_constant``)."""

    kind = "gpu.add_constant"
    cpu_twin = AddConstantCpuKernel
    op = torch.add
