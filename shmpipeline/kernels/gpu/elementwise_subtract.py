"""``gpu.elementwise_subtract``: out = in - aux."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.elementwise_subtract import ElementwiseSubtractCpuKernel
from shmpipeline.kernels.gpu._elementwise import ElementwiseGpuKernel


class ElementwiseSubtractGpuKernel(ElementwiseGpuKernel):
    """Compute ``input - auxiliary`` elementwise."""

    kind = "gpu.elementwise_subtract"
    cpu_twin = ElementwiseSubtractCpuKernel
    op = torch.sub
