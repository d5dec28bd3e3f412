"""``cpu.add_constant``: out = in + constant."""

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


class AddConstantCpuKernel(CpuKernel):
    """Add the ``constant`` parameter (a real number) to the input.

    On integer streams a fractional constant is added in float64 and the
    result truncated toward zero.
    """

    kind = "cpu.add_constant"
    auxiliary_arity = 0
    parameter_names = frozenset({"constant"})

    @classmethod
    def _settings(cls, config, shared_memory) -> float:
        same_shape_and_dtype(config, shared_memory, numeric=True)
        return v.parse_number(config, "constant")

    def __init__(self, context) -> None:
        super().__init__(context)
        spec = context.output_spec
        self.constant, needs_scratch = scalar_operand(self.settings, spec.dtype)
        self._scratch = np.empty(spec.shape, np.float64) if needs_scratch else None

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        if self._scratch is None:
            np.add(trigger_input, self.constant, out=output)
        else:
            # cast first: a mixed-dtype ufunc would allocate a buffer per call
            np.copyto(self._scratch, trigger_input)
            np.add(self._scratch, self.constant, out=self._scratch)
            np.copyto(output, self._scratch, casting="unsafe")
