"""``cpu.scale``: out = in * factor."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import same_shape_and_dtype
from shmpipeline.kernels.cpu._scalar import ScalarCpuKernel


class ScaleCpuKernel(ScalarCpuKernel):
    """Multiply the input by the ``factor`` parameter (a real number).

    Integer streams with an integral factor are scaled exactly (wrapping like
    NumPy on overflow); a fractional factor is applied in float64 and the
    result truncated toward zero.
    """

    kind = "cpu.scale"
    auxiliary_arity = 0
    parameter_specs = (Parameter("factor", "real"),)

    @classmethod
    def _settings(cls, config, shared_memory) -> float:
        same_shape_and_dtype(config, shared_memory, numeric=True)
        return parse_parameters(cls.parameter_specs, config)["factor"]

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.combine_into(np.multiply, trigger_input, output)
