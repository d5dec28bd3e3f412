"""``cpu.add_constant``: out = in + constant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import same_shape_and_dtype
from shmpipeline.kernels.cpu._scalar import ScalarCpuKernel


class AddConstantCpuKernel(ScalarCpuKernel):
    """Add the ``constant`` parameter (a real number) to the input.

    On integer streams a fractional constant is added in float64 and the
    result truncated toward zero.
    """

    kind = "cpu.add_constant"
    auxiliary_arity = 0
    parameter_specs = (Parameter("constant", "real"),)

    @classmethod
    def _settings(cls, config, shared_memory) -> float:
        same_shape_and_dtype(config, shared_memory, numeric=True)
        return parse_parameters(cls.parameter_specs, config)["constant"]

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.combine_into(np.add, trigger_input, output)
