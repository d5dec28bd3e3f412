"""``cpu.scale``: out = in * factor."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels._parameters import Parameter
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

    ufunc = np.multiply
