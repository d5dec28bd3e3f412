"""``cpu.elementwise_subtract``: out = in - aux."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels.cpu._elementwise import ElementwiseCpuKernel


class ElementwiseSubtractCpuKernel(ElementwiseCpuKernel):
    """Compute ``input - auxiliary`` elementwise."""

    kind = "cpu.elementwise_subtract"
    ufunc = np.subtract
