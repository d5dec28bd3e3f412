"""``cpu.scale_offset``: out = gain * in - aux."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels.cpu._base import (
    CpuKernel,
    same_shape_and_dtype,
    scalar_operand,
)


class ScaleOffsetCpuKernel(CpuKernel):
    """Compute ``gain * input - offset`` with the offset read from the one
    auxiliary stream (same shape and dtype as input and output)."""

    kind = "cpu.scale_offset"
    auxiliary_arity = 1
    parameter_names = frozenset({"gain"})

    @classmethod
    def _settings(cls, config, shared_memory) -> float:
        same_shape_and_dtype(config, shared_memory, numeric=True)
        return v.parse_number(config, "gain")

    def __init__(self, context) -> None:
        super().__init__(context)
        spec = context.output_spec
        self.gain, needs_scratch = scalar_operand(self.settings, spec.dtype)
        self._alias = context.config.auxiliary[0].alias
        self._scratch = self._offset = None
        if needs_scratch:
            self._scratch = np.empty(spec.shape, np.float64)
            self._offset = np.empty(spec.shape, np.float64)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        offset = auxiliary_inputs[self._alias]
        if self._scratch is None:
            np.multiply(trigger_input, self.gain, out=output)
            np.subtract(output, offset, out=output)
        else:
            # cast first: a mixed-dtype ufunc would allocate a buffer per call
            np.copyto(self._scratch, trigger_input)
            np.copyto(self._offset, offset)
            np.multiply(self._scratch, self.gain, out=self._scratch)
            np.subtract(self._scratch, self._offset, out=self._scratch)
            np.copyto(output, self._scratch, casting="unsafe")
