"""Shared base of the kernels combining the input with a scalar parameter
(``gpu.scale``, ``gpu.add_constant``, ``gpu.scale_offset``)."""

from __future__ import annotations

from typing import Any

import torch

from shmpipeline.kernels.cpu._base import scalar_operand
from shmpipeline.kernels.gpu._base import GpuKernel


class ScalarGpuKernel(GpuKernel):
    """Holds the scalar operand the way the CPU twin applies it.

    Like the CPU twin (:func:`~shmpipeline.kernels.cpu._base.scalar_operand`),
    an integer stream with a fractional or out-of-range parameter is computed
    in a float64 scratch tensor and cast back (toward zero); otherwise the
    parameter is a Python scalar combined in the stream's dtype.
    """

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        spec = context.output_spec
        self.operand, needs_scratch = scalar_operand(self.settings, spec.dtype)
        self._scratch = (
            torch.zeros(tuple(spec.shape), dtype=torch.float64, device=self.device)
            if needs_scratch
            else None
        )
