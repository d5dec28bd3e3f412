"""``cpu.elementwise_divide``: out = in / aux."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels.cpu._elementwise import ElementwiseCpuKernel


class ElementwiseDivideCpuKernel(ElementwiseCpuKernel):
    """Compute ``input / auxiliary`` elementwise (true division).

    Streams must be floating or complex: true division of integers has no
    integer result (use ``custom_operation`` to choose a conversion).
    """

    kind = "cpu.elementwise_divide"
    ufunc = np.divide

    @classmethod
    def _settings(cls, config, shared_memory) -> None:
        super()._settings(config, shared_memory)
        v.require_dtype_kind(config, "input", shared_memory[config.input], "inexact")
