"""``cpu.elementwise_add``: out = in + aux."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels.cpu._elementwise import ElementwiseCpuKernel


class ElementwiseAddCpuKernel(ElementwiseCpuKernel):
    """Compute ``input + auxiliary`` elementwise."""

    kind = "cpu.elementwise_add"
    ufunc = np.add
