"""``cpu.scale``: out = in * factor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels.cpu._base import (
    CpuKernel,
    same_shape_and_dtype,
    scalar_operand,
)


class ScaleCpuKernel(CpuKernel):
    """Multiply the input by the ``factor`` parameter (a real number).

    Integer streams with an integral factor are scaled exactly (wrapping like
    NumPy on overflow); a fractional factor is applied in float64 and the
    result truncated toward zero.
    """

    kind = "cpu.scale"
    auxiliary_arity = 0
    parameter_names = frozenset({"factor"})

    @classmethod
    def _settings(cls, config, shared_memory) -> float:
        same_shape_and_dtype(config, shared_memory, numeric=True)
        return v.parse_number(config, "factor")

    def __init__(self, context) -> None:
        super().__init__(context)
        spec = context.output_spec
        self.factor, needs_scratch = scalar_operand(self.settings, spec.dtype)
        self._scratch = np.empty(spec.shape, np.float64) if needs_scratch else None

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        if self._scratch is None:
            np.multiply(trigger_input, self.factor, out=output)
        else:
            # cast first: a mixed-dtype ufunc would allocate a buffer per call
            np.copyto(self._scratch, trigger_input)
            np.multiply(self._scratch, self.factor, out=self._scratch)
            np.copyto(output, self._scratch, casting="unsafe")
