"""``gpu.concatenate``: out = the trigger frames joined along ``axis``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.concatenate import ConcatenateCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


class ConcatenateGpuKernel(GpuKernel):
    """Join the trigger frames along ``parameters.axis`` in one ``torch.cat``
    (see ``cpu.concatenate``)."""

    kind = "gpu.concatenate"
    cpu_twin = ConcatenateCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        self.axis = self.settings

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        torch.cat(tuple(trigger_input), dim=self.axis, out=output)
