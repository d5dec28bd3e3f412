"""Declared kernel parameters: one declaration per parameter of a kind.

A kernel class lists its parameters in ``parameter_specs``; the base class
derives ``parameter_names`` (unknown keys are rejected) from it, the kernel's
validation parses values through :meth:`Parameter.parse`, and tools that
generate or mutate configurations (the Hypothesis strategies) read the same
declaration: its name, value type, default and limits.

Example::

    class GainCpuKernel(CpuKernel):
        kind = "acme.gain"
        parameter_specs = (Parameter("gain", "real"),)

        @classmethod
        def _settings(cls, config, shared_memory):
            return parse_parameters(cls.parameter_specs, config)["gain"]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from shmpipeline.config import KernelConfig
from shmpipeline.kernels import _validation as v

#: value types a parameter may declare
PARAMETER_TYPES = ("real", "integer", "positive_int", "boolean", "choice", "text")


@dataclass(frozen=True)
class Parameter:
    """One kernel parameter.

    ``type`` is one of :data:`PARAMETER_TYPES`; ``default`` is
    :data:`~shmpipeline.kernels._validation.REQUIRED` for a required
    parameter. Reals are finite unless ``finite=False`` and may be required
    ``positive``; a ``choice`` takes one of ``choices``. With
    ``optional_if_bound`` naming an auxiliary alias, the parameter is
    optional (parsed as ``None`` when absent) while that alias is bound.
    """

    name: str
    type: str
    default: Any = v.REQUIRED
    choices: tuple[str, ...] = ()
    positive: bool = False
    finite: bool = True
    optional_if_bound: str | None = None

    def __post_init__(self) -> None:
        if self.type not in PARAMETER_TYPES:
            raise ValueError(
                f"parameter {self.name!r}: type must be one of "
                f"{', '.join(PARAMETER_TYPES)}, got {self.type!r}"
            )
        if self.type == "choice" and not self.choices:
            raise ValueError(f"parameter {self.name!r}: a choice needs choices")

    @property
    def required(self) -> bool:
        """True when every config of the kind must set this parameter."""
        return self.default is v.REQUIRED and self.optional_if_bound is None

    def parse(self, config: KernelConfig) -> Any:
        """Return the value of this parameter in ``config`` (or its default);
        raise the kernel's ``ConfigValidationError`` naming the field."""
        default = self.default
        if self.optional_if_bound is not None and any(
            b.alias == self.optional_if_bound for b in config.auxiliary
        ):
            default = None
        if self.type == "real":
            return v.parse_number(
                config,
                self.name,
                default,
                finite=self.finite,
                positive=self.positive,
            )
        if self.type == "integer":
            return v.parse_integer(config, self.name, default)
        if self.type == "positive_int":
            return v.parse_positive_int(config, self.name, default)
        if self.type == "boolean":
            return v.parse_boolean(config, self.name, default)
        if self.type == "choice":
            return v.parse_choice(config, self.name, self.choices, default)
        return v.parse_text(config, self.name, default)


def parse_parameters(
    specs: Iterable[Parameter], config: KernelConfig
) -> dict[str, Any]:
    """Parse every declared parameter of ``config``, in declaration order."""
    return {spec.name: spec.parse(config) for spec in specs}


__all__ = ["PARAMETER_TYPES", "Parameter", "parse_parameters"]
