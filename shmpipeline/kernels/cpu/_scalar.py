"""Shared base of the kernels combining the input with a scalar parameter
(``cpu.scale``, ``cpu.add_constant``, ``cpu.scale_offset``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from shmpipeline.kernels.cpu._base import CpuKernel, scalar_operand


class ScalarCpuKernel(CpuKernel):
    """Holds the scalar operand (``self.operand``) and applies it.

    An integer stream with a fractional or out-of-range parameter is computed
    in a float64 scratch and cast back toward zero
    (:func:`~shmpipeline.kernels.cpu._base.scalar_operand`); otherwise the
    parameter is a Python scalar combined in the stream's dtype. The GPU
    twins share the same rule (:mod:`shmpipeline.kernels.gpu._scalar`).
    """

    def __init__(self, context) -> None:
        super().__init__(context)
        spec = context.output_spec
        self.operand, needs_scratch = scalar_operand(self.settings, spec.dtype)
        self._scratch = np.empty(spec.shape, np.float64) if needs_scratch else None
        self._subtrahend = np.empty(spec.shape, np.float64) if needs_scratch else None

    def combine_into(
        self, ufunc: Any, source: Any, output: Any, subtract: Any = None
    ) -> None:
        """``output = ufunc(source, operand) [- subtract]`` without allocating."""
        scratch = self._scratch
        if scratch is None:
            ufunc(source, self.operand, out=output)
            if subtract is not None:
                np.subtract(output, subtract, out=output)
            return
        # cast first: a mixed-dtype ufunc would allocate a buffer per call
        np.copyto(scratch, source)
        ufunc(scratch, self.operand, out=scratch)
        if subtract is not None:
            np.copyto(self._subtrahend, subtract)
            np.subtract(scratch, self._subtrahend, out=scratch)
        np.copyto(output, scratch, casting="unsafe")


__all__ = ["ScalarCpuKernel"]
