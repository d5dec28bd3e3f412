"""``gpu.scale``: out = in * factor."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.scale import ScaleCpuKernel
from shmpipeline.kernels.gpu._scalar import ScalarGpuKernel


class ScaleGpuKernel(ScalarGpuKernel):
    """Multiply the input by the ``factor`` parameter (see ``cpu.scale``)."""

    kind = "gpu.scale"
    cpu_twin = ScaleCpuKernel
    op = torch.mul
