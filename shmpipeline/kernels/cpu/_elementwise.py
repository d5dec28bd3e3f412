"""Shared base of the ``cpu.elementwise_*`` kernels: out = in (op) aux."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from shmpipeline.kernels.cpu._base import CpuKernel, same_shape_and_dtype


class ElementwiseCpuKernel(CpuKernel):
    """Apply ``ufunc(input, auxiliary)`` into the output; input, the one
    auxiliary and the output share shape and dtype."""

    auxiliary_arity = 1
    ufunc: ClassVar[np.ufunc]

    @classmethod
    def _settings(cls, config, shared_memory) -> None:
        same_shape_and_dtype(config, shared_memory, numeric=True)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        type(self).ufunc(trigger_input, self.only_auxiliary(auxiliary_inputs), out=output)
