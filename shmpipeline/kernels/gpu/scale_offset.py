"""``gpu.scale_offset``: out = gain * in - aux."""

from __future__ import annotations

import torch

from shmpipeline.kernels.cpu.scale_offset import ScaleOffsetCpuKernel
from shmpipeline.kernels.gpu._scalar import ScalarGpuKernel


class ScaleOffsetGpuKernel(ScalarGpuKernel):
    """Compute ``gain * input - offset`` with the offset read from the one
    auxiliary stream (see ``cpu.scale_offset``)."""

    kind = "gpu.scale_offset"
    cpu_twin = ScaleOffsetCpuKernel
    op = torch.mul
