"""``cpu.raise_error``: fail every frame (supervision and failure tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel


class RaiseErrorCpuKernel(CpuKernel):
    """Raise ``RuntimeError(parameters.message)`` from every ``compute_into``.

    A plain ``RuntimeError`` on purpose: it stands for any bug in user kernel
    code, which the runtime must wrap (``KernelExecutionError`` with the kernel
    name and traceback) like any other exception. Shapes are not checked and
    any number of auxiliaries is accepted, so the kernel can stand in for any
    stage.
    """

    kind = "cpu.raise_error"
    auxiliary_arity = None
    parameter_specs = (Parameter("message", "text"),)

    @classmethod
    def _settings(cls, config, shared_memory) -> str:
        return parse_parameters(cls.parameter_specs, config)["message"]

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        raise RuntimeError(self.settings)
