"""Shared base of the ``gpu.elementwise_*`` kernels: out = in (op) aux."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from shmpipeline.kernels.gpu._base import GpuKernel


class ElementwiseGpuKernel(GpuKernel):
    """Apply ``op(input, auxiliary, out=output)``; the rules (same shape and
    dtype everywhere) are the CPU twin's."""

    op: ClassVar[Callable[..., Any]]

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        type(self).op(trigger_input, self.only_auxiliary(auxiliary_inputs), out=output)
