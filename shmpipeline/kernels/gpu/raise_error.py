"""``gpu.raise_error``: fail every frame (supervision and failure tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shmpipeline.kernels.cpu.raise_error import RaiseErrorCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


class RaiseErrorGpuKernel(GpuKernel):
    """Raise ``RuntimeError(parameters.message)`` from every ``compute_into``
    (see ``cpu.raise_error``)."""

    kind = "gpu.raise_error"
    cpu_twin = RaiseErrorCpuKernel

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        raise RuntimeError(self.settings)
