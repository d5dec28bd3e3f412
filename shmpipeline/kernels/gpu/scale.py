"""``gpu.scale``: out = in * factor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.scale import ScaleCpuKernel
from shmpipeline.kernels.gpu._scalar import ScalarGpuKernel


class ScaleGpuKernel(ScalarGpuKernel):
    """Multiply the input by the ``factor`` parameter (see ``cpu.scale``)."""

    kind = "gpu.scale"
    cpu_twin = ScaleCpuKernel

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.combine_into(torch.mul, trigger_input, output)
