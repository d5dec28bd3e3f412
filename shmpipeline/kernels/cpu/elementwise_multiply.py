"""``cpu.elementwise_multiply``: out = in * aux."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels.cpu._elementwise import ElementwiseCpuKernel


class ElementwiseMultiplyCpuKernel(ElementwiseCpuKernel):
    """Compute ``input * auxiliary`` elementwise."""

    kind = "cpu.elementwise_multiply"
    ufunc = np.multiply
