"""``cpu.tip_tilt_controller``: spot centroid -> leaky integrator -> 2x2
rotation plus bias, fused in one kernel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._ops import ArrayOps, leaky_update
from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel
from shmpipeline.kernels.cpu._centroid import check_centroid_streams
from shmpipeline.kernels.cpu.spot_centroid import (
    SPOT_CENTROID_PARAMETERS,
    SpotCentroid,
    SpotCentroidSettings,
)

#: the integrator's parameters (``state = leak * state + control_gain * c``)
INTEGRATOR_PARAMETERS = (
    Parameter("leak", "real", 1.0),
    Parameter("control_gain", "real", 1.0),
)


@dataclass(frozen=True)
class TipTiltSettings:
    """Parsed parameters and the aliases of the matrix and bias streams."""

    centroid: SpotCentroidSettings
    leak: float
    control_gain: float
    matrix_alias: str
    bias_alias: str


def parse_tip_tilt(config, shared_memory) -> TipTiltSettings:
    """Validate a tip/tilt controller config (shared with the GPU twin)."""
    values = parse_parameters(SPOT_CENTROID_PARAMETERS + INTEGRATOR_PARAMETERS, config)
    check_centroid_streams(config, shared_memory)
    aliases = [b.alias for b in config.auxiliary]
    if set(aliases) == {"matrix", "bias"}:
        matrix_alias, bias_alias = "matrix", "bias"
    else:
        matrix_alias, bias_alias = aliases
    by_alias = config.auxiliary_by_alias
    matrix = (f"auxiliary.{matrix_alias}", shared_memory[by_alias[matrix_alias]])
    bias = (f"auxiliary.{bias_alias}", shared_memory[by_alias[bias_alias]])
    output = ("output", shared_memory[config.output])
    v.require_shape(config, *matrix, (2, 2))
    v.require_shape(config, *bias, (2,))
    v.require_shape(config, *output, (2,))
    v.require_dtype_kind(config, *output, "floating")
    v.require_same_dtype(config, output, matrix, bias)
    centroid = SpotCentroidSettings(
        **{p.name: values[p.name] for p in SPOT_CENTROID_PARAMETERS}
    )
    return TipTiltSettings(
        centroid, values["leak"], values["control_gain"], matrix_alias, bias_alias
    )


class TipTiltLaw:
    """The per-frame steps of ``tip_tilt_controller``, written once over
    ``self.ops`` (this kernel computes them with NumPy, the GPU twin with
    torch): needs ``settings``, ``spot``, ``_centroid`` and ``state``."""

    settings: TipTiltSettings
    ops: ArrayOps
    spot: Any
    _centroid: Any
    state: Any

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        s, ops = self.settings, self.ops
        centroid, state = self._centroid, self.state
        self.spot.compute_into(trigger_input, centroid)
        leaky_update(ops, state, centroid, s.leak, s.control_gain, centroid)
        ops.matvec(auxiliary_inputs[s.matrix_alias], state, out=output)
        ops.add(output, auxiliary_inputs[s.bias_alias], out=output)

    def reset(self) -> None:
        """Zero the integrator state."""
        self.state[...] = 0


class TipTiltControllerCpuKernel(TipTiltLaw, CpuKernel):
    """Closed-loop tip/tilt from a spot image, in one stage.

    Per frame: ``c`` = the spot centroid of the 2-D input (parameters
    ``threshold``, ``background``, ``weight_power`` as ``cpu.spot_centroid``);
    ``state = leak * state + control_gain * c`` (``leak`` and
    ``control_gain`` default 1.0); ``out = M @ state + bias`` with ``M`` (2, 2)
    and ``bias`` (2,) the auxiliaries, bound as aliases ``matrix``/``bias`` or
    first and second. ``M``, ``bias`` and the output share one floating
    dtype, in which the state is kept; :meth:`reset` zeroes it.
    """

    kind = "cpu.tip_tilt_controller"
    auxiliary_arity = 2
    parameter_specs = SPOT_CENTROID_PARAMETERS + INTEGRATOR_PARAMETERS

    @classmethod
    def _settings(cls, config, shared_memory) -> TipTiltSettings:
        return parse_tip_tilt(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        s = self.settings
        height, width = context.trigger_input_spec.shape
        dtype = context.output_spec.dtype
        self.spot = SpotCentroid(height, width, s.centroid)
        self._centroid = np.zeros(2, dtype)
        self.state = np.zeros(2, dtype)


__all__ = [
    "INTEGRATOR_PARAMETERS",
    "TipTiltControllerCpuKernel",
    "TipTiltLaw",
    "TipTiltSettings",
    "parse_tip_tilt",
]
