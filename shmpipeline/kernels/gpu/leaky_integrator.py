"""``gpu.leaky_integrator``: state = leak * state + gain * in; out = state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels._ops import leaky_update
from shmpipeline.kernels.cpu.leaky_integrator import LeakyIntegratorCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


class LeakyIntegratorGpuKernel(GpuKernel):
    """Leaky integrator ``u_k = leak * u_{k-1} + gain * e_k`` (see
    ``cpu.leaky_integrator`` for the optional ``gain``/``leak``/
    ``override_enabled`` auxiliaries).

    The coefficients read from auxiliaries stay on the device: they are
    copied into 0-d float64 tensors and selected with ``torch.where`` against
    ``override_enabled``, so no frame reads a value back to the host.
    """

    kind = "gpu.leaky_integrator"
    cpu_twin = LeakyIntegratorCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        spec = context.output_spec
        self.state = self.empty(spec.shape, spec.dtype)
        self._scratch = self.empty(spec.shape, spec.dtype)
        s = self.settings
        self._dynamic = s.leak_alias is not None or s.gain_alias is not None
        if self._dynamic:
            f64 = torch.float64
            self._coef = {
                name: torch.zeros((), dtype=f64, device=self.device)
                for name in ("leak", "gain")
            }
            self._read = {
                name: torch.zeros((), dtype=f64, device=self.device)
                for name in ("leak", "gain")
            }
            self._static = {
                "leak": torch.tensor(s.leak, dtype=f64, device=self.device),
                "gain": torch.tensor(s.gain, dtype=f64, device=self.device),
            }
            self._coef["leak"].copy_(self._static["leak"])
            self._coef["gain"].copy_(self._static["gain"])
            self._enabled = torch.zeros((), dtype=torch.bool, device=self.device)

    def _coefficients(self, auxiliary_inputs: Mapping[str, Any]) -> tuple[Any, Any]:
        """``(leak, gain)`` for this frame: Python floats, or 0-d tensors
        when an auxiliary supplies them."""
        s = self.settings
        if not self._dynamic:
            return s.leak, s.gain
        enabled = None
        if s.override_alias is not None:
            enabled = self._enabled
            torch.ne(auxiliary_inputs[s.override_alias].reshape(()), 0, out=enabled)
        for name, alias in (("leak", s.leak_alias), ("gain", s.gain_alias)):
            if alias is None:
                continue
            value = auxiliary_inputs[alias].reshape(())
            if enabled is None:
                self._coef[name].copy_(value)
            else:
                self._read[name].copy_(value)
                torch.where(
                    enabled, self._read[name], self._static[name], out=self._coef[name]
                )
        return self._coef["leak"], self._coef["gain"]

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        leak, gain = self._coefficients(auxiliary_inputs)
        leaky_update(self.ops, self.state, trigger_input, leak, gain, self._scratch)
        output.copy_(self.state)

    def reset(self) -> None:
        """Zero the integrator state."""
        self.state.zero_()
