"""Shared base of the kernels combining the input with a scalar parameter
(``cpu.scale``, ``cpu.add_constant``, ``cpu.scale_offset``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from shmpipeline.kernels._parameters import parse_parameters
from shmpipeline.kernels.cpu._base import (
    CpuKernel,
    same_shape_and_dtype,
    scalar_operand,
)


class ScalarCpuKernel(CpuKernel):
    """Holds the scalar operand (``self.operand``) and applies it.

    An integer stream with a fractional or out-of-range parameter is computed
    in a float64 scratch and cast back toward zero
    (:func:`~shmpipeline.kernels.cpu._base.scalar_operand`); otherwise the
    parameter is a Python scalar combined in the stream's dtype. The GPU
    twins share the same rule (:mod:`shmpipeline.kernels.gpu._scalar`).

    A subclass declares its one real parameter in ``parameter_specs`` and,
    for ``out = ufunc(in, operand)``, the ``ufunc``.
    """

    #: ``out = ufunc(in, operand)`` (``np.multiply``, ``np.add``)
    ufunc: Any = None
    #: then subtract the one auxiliary frame (``cpu.scale_offset``); the GPU
    #: twins read it from here
    subtracts_auxiliary: ClassVar[bool] = False

    @classmethod
    def _settings(cls, config, shared_memory) -> float:
        """The one real parameter; input and output alike and numeric."""
        same_shape_and_dtype(config, shared_memory, numeric=True)
        name = cls.parameter_specs[0].name
        return parse_parameters(cls.parameter_specs, config)[name]

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

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        offset = (
            self.only_auxiliary(auxiliary_inputs) if self.subtracts_auxiliary else None
        )
        self.combine_into(self.ufunc, trigger_input, output, subtract=offset)


__all__ = ["ScalarCpuKernel"]
