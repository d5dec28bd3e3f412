"""``cpu.scale_offset``: out = gain * in - aux."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels._parameters import Parameter
from shmpipeline.kernels.cpu._scalar import ScalarCpuKernel


class ScaleOffsetCpuKernel(ScalarCpuKernel):
    """Compute ``gain * input - offset`` with the offset read from the one
    auxiliary stream (same shape and dtype as input and output)."""

    kind = "cpu.scale_offset"
    auxiliary_arity = 1
    parameter_specs = (Parameter("gain", "real"),)

    def __init__(self, context) -> None:
        super().__init__(context)
        self._alias = context.config.auxiliary[0].alias

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        offset = auxiliary_inputs[self._alias]
        self.combine_into(np.multiply, trigger_input, output, subtract=offset)
