"""``gpu.elementwise_add``: out = in + aux."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.elementwise_add import ElementwiseAddCpuKernel
from shmpipeline.kernels.gpu._elementwise import ElementwiseGpuKernel


class ElementwiseAddGpuKernel(ElementwiseGpuKernel):
    """Compute ``input + auxiliary`` elementwise."""

    kind = "gpu.elementwise_add"
    cpu_twin = ElementwiseAddCpuKernel
    op = torch.add
