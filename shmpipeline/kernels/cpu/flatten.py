"""``cpu.flatten``: out (prod(in.shape),) = ravel(in)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels.cpu._base import CpuKernel, unary_streams


class FlattenCpuKernel(CpuKernel):
    """Copy the input in C order into a 1-D output of the same dtype."""

    kind = "cpu.flatten"
    auxiliary_arity = 0

    @classmethod
    def _settings(cls, config, shared_memory) -> None:
        source, target = unary_streams(config, shared_memory)
        v.require_shape(config, "output", target[1], (math.prod(source[1].shape),))
        v.require_same_dtype(config, source, target)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        # reshape is a view for the contiguous frames the runtime hands over
        np.copyto(output, np.reshape(trigger_input, -1))
