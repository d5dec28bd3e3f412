"""``cpu.add_constant``: out = in + constant."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels._parameters import Parameter
from shmpipeline.kernels.cpu._scalar import ScalarCpuKernel


class AddConstantCpuKernel(ScalarCpuKernel):
    """Add the ``constant`` parameter (a real number) to the input.

    On integer streams a fractional constant is added in float64 and the
    result truncated toward zero.
    """

    kind = "cpu.add_constant"
    auxiliary_arity = 0
    parameter_specs = (Parameter("constant", "real"),)

    ufunc = np.add
