"""``gpu.elementwise_multiply``: out = in * aux."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.elementwise_multiply import ElementwiseMultiplyCpuKernel
from shmpipeline.kernels.gpu._elementwise import ElementwiseGpuKernel


class ElementwiseMultiplyGpuKernel(ElementwiseGpuKernel):
    """Compute ``input * auxiliary`` elementwise."""

    kind = "gpu.elementwise_multiply"
    cpu_twin = ElementwiseMultiplyCpuKernel
    op = torch.mul
