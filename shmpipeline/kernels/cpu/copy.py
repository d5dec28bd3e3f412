"""``cpu.copy``: out = in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels.cpu._base import CpuKernel, same_shape_and_dtype


class CopyCpuKernel(CpuKernel):
    """Copy the input frame into the output (same shape and dtype)."""

    kind = "cpu.copy"
    auxiliary_arity = 0

    @classmethod
    def _settings(cls, config, shared_memory) -> None:
        same_shape_and_dtype(config, shared_memory)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        np.copyto(output, trigger_input)
