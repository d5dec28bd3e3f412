"""``cpu.leaky_integrator``: state = leak * state + gain * in; out = state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._ops import leaky_update
from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel

#: auxiliary aliases the integrator understands
DYNAMIC_ALIASES = ("gain", "leak", "override_enabled")
#: a bound ``leak``/``gain`` auxiliary makes its parameter optional
LEAKY_INTEGRATOR_PARAMETERS = (
    Parameter("leak", "real", optional_if_bound="leak"),
    Parameter("gain", "real", optional_if_bound="gain"),
)


@dataclass(frozen=True)
class LeakyIntegratorSettings:
    """Parsed parameters: the static ``leak``/``gain`` and bound aliases."""

    leak: float
    gain: float
    gain_alias: str | None
    leak_alias: str | None
    override_alias: str | None


def parse_leaky_integrator(config, shared_memory) -> LeakyIntegratorSettings:
    """Validate a leaky-integrator config (shared with the GPU twin)."""
    aliases = [b.alias for b in config.auxiliary]
    for binding in config.auxiliary:
        field = f"auxiliary.{binding.alias}"
        if binding.alias not in DYNAMIC_ALIASES:
            hint = v.closest(binding.alias, DYNAMIC_ALIASES)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            raise v.error(
                config,
                field,
                f"unknown alias (leaky_integrator reads only {', '.join(DYNAMIC_ALIASES)}){extra}",
            )
        spec = shared_memory[binding.name]
        v.require_size(config, field, spec, 1)
        v.require_dtype_kind(config, field, spec, "real")
    # A bound alias replaces its parameter, which then is only the fallback
    # used while ``override_enabled`` reads 0 (default 0.0, as published).
    values = parse_parameters(LEAKY_INTEGRATOR_PARAMETERS, config)
    leak, gain = values["leak"], values["gain"]
    return LeakyIntegratorSettings(
        leak=0.0 if leak is None else leak,
        gain=0.0 if gain is None else gain,
        gain_alias="gain" if "gain" in aliases else None,
        leak_alias="leak" if "leak" in aliases else None,
        override_alias="override_enabled" if "override_enabled" in aliases else None,
    )


class LeakyIntegratorCpuKernel(CpuKernel):
    """Leaky integrator control law ``u_k = leak * u_{k-1} + gain * e_k``.

    Input and output share shape and a floating/complex dtype; the state
    starts at zero and :meth:`reset` zeroes it again.

    Optional one-element auxiliaries ``gain`` and ``leak`` (aliases) override
    the parameters at run time, read every frame. With an ``override_enabled``
    auxiliary as well, they apply only while it is nonzero; otherwise the
    ``leak``/``gain`` parameters are used (0.0 when absent). This matches the
    published package, so existing files behave the same. A parameter is
    required unless its auxiliary is bound.
    """

    kind = "cpu.leaky_integrator"
    auxiliary_arity = (0, 3)
    parameter_specs = LEAKY_INTEGRATOR_PARAMETERS

    @classmethod
    def _settings(cls, config, shared_memory) -> LeakyIntegratorSettings:
        same_shape_and_dtype_io(config, shared_memory)
        return parse_leaky_integrator(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        spec = context.output_spec
        self.state = np.zeros(spec.shape, dtype=spec.dtype)
        self._scratch = np.zeros(spec.shape, dtype=spec.dtype)

    def coefficients(self, auxiliary_inputs: Mapping[str, Any]) -> tuple[float, float]:
        """Return the ``(leak, gain)`` in force for this frame."""
        s = self.settings
        leak, gain = s.leak, s.gain
        if s.override_alias is not None:
            if auxiliary_inputs[s.override_alias].flat[0] == 0:
                return leak, gain
        if s.leak_alias is not None:
            leak = float(auxiliary_inputs[s.leak_alias].flat[0])
        if s.gain_alias is not None:
            gain = float(auxiliary_inputs[s.gain_alias].flat[0])
        return leak, gain

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        leak, gain = self.coefficients(auxiliary_inputs)
        leaky_update(self.ops, self.state, trigger_input, leak, gain, self._scratch)
        np.copyto(output, self.state)

    def reset(self) -> None:
        """Zero the integrator state."""
        self.state.fill(0)


def same_shape_and_dtype_io(config, shared_memory) -> None:
    """Input and output share shape and a floating/complex dtype."""
    source = ("input", shared_memory[config.input])
    target = ("output", shared_memory[config.output])
    v.require_same_shape(config, source, target)
    v.require_same_dtype(config, source, target)
    v.require_dtype_kind(config, *source, "inexact")


__all__ = [
    "LeakyIntegratorCpuKernel",
    "LeakyIntegratorSettings",
    "parse_leaky_integrator",
]
