"""``gpu.elementwise_divide``: out = in / aux."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.elementwise_divide import ElementwiseDivideCpuKernel
from shmpipeline.kernels.gpu._elementwise import ElementwiseGpuKernel


class ElementwiseDivideGpuKernel(ElementwiseGpuKernel):
    """Compute ``input / auxiliary`` elementwise (true division; floating or
    complex streams, as ``cpu.elementwise_divide``)."""

    kind = "gpu.elementwise_divide"
    cpu_twin = ElementwiseDivideCpuKernel
    op = torch.div
