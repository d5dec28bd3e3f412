"""``cpu.scale_offset``: out = gain * in - aux."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels._parameters import Parameter
from shmpipeline.kernels.cpu._scalar import ScalarCpuKernel


class ScaleOffsetCpuKernel(ScalarCpuKernel):
    """Compute ``gain * input - offset`` with the offset read from the one
    auxiliary stream (same shape and dtype as input and output)."""

    kind = "cpu.scale_offset"
    auxiliary_arity = 1
    parameter_specs = (Parameter("gain", "real"),)

    ufunc = np.multiply
    subtracts_auxiliary = True
