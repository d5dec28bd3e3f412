"""Shared base of the kernels combining the input with a scalar parameter
(``gpu.scale``, ``gpu.add_constant``, ``gpu.scale_offset``)."""

from __future__ import annotations

from collections.abc import Mapping
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

    #: ``out = op(in, operand)`` (``torch.mul``, ``torch.add``), then minus
    #: the one auxiliary frame when the CPU twin ``subtracts_auxiliary``
    op: Any = None

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        spec = context.output_spec
        self.operand, needs_scratch = scalar_operand(self.settings, spec.dtype)
        self._scratch = (
            torch.zeros(tuple(spec.shape), dtype=torch.float64, device=self.device)
            if needs_scratch
            else None
        )
        self._subtrahend = None if self._scratch is None else torch.zeros_like(
            self._scratch
        )

    def combine_into(
        self, op: Any, source: Any, output: Any, subtract: Any = None
    ) -> None:
        """``output = op(source, operand) [- subtract]`` (``op``: ``torch.mul``
        or ``torch.add``), through the float64 scratch when needed."""
        scratch = self._scratch
        if scratch is None:
            op(source, self.operand, out=output)
            if subtract is not None:
                output.sub_(subtract)
            return
        scratch.copy_(source)
        op(scratch, self.operand, out=scratch)
        if subtract is not None:
            self._subtrahend.copy_(subtract)
            scratch.sub_(self._subtrahend)
        output.copy_(scratch)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        offset = None
        if self.cpu_twin.subtracts_auxiliary:
            offset = self.only_auxiliary(auxiliary_inputs)
        self.combine_into(self.op, trigger_input, output, subtract=offset)
