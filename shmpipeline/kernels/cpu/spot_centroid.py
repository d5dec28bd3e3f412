"""``cpu.spot_centroid``: out (2,) = centroid of one spot minus image centre."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel
from shmpipeline.kernels.cpu._centroid import check_centroid_streams

#: parameters of the spot centroid (also read by ``tip_tilt_controller``)
SPOT_CENTROID_PARAMETERS = (
    Parameter("threshold", "real", 0.0),
    Parameter("background", "real", 0.0),
    Parameter("weight_power", "real", 1.0, positive=True),
)


@dataclass(frozen=True)
class SpotCentroidSettings:
    threshold: float
    background: float
    weight_power: float


def parse_spot_centroid(config, shared_memory) -> SpotCentroidSettings:
    """Validate a spot-centroid config (shared with the GPU twin)."""
    check_centroid_streams(config, shared_memory)
    v.require_shape(config, "output", shared_memory[config.output], (2,))
    return SpotCentroidSettings(**parse_parameters(SPOT_CENTROID_PARAMETERS, config))


class SpotCentroidCpuKernel(CpuKernel):
    """Centroid of a single spot, relative to the image centre.

    With ``s = value - background``, pixels where ``s > threshold`` weigh
    ``s ** weight_power`` (others 0); the output is ``[delta_row, delta_col]``
    of the weighted centroid minus ``((H-1)/2, (W-1)/2)``, or ``[0, 0]`` when
    the total weight is <= 0. Computed in float64, then cast to the output.
    """

    kind = "cpu.spot_centroid"
    auxiliary_arity = 0
    parameter_specs = SPOT_CENTROID_PARAMETERS

    @classmethod
    def _settings(cls, config, shared_memory) -> SpotCentroidSettings:
        return parse_spot_centroid(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        height, width = context.trigger_input_spec.shape
        self.centroid = SpotCentroid(height, width, self.settings)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.centroid.compute_into(trigger_input, output)


class SpotCentroid:
    """The spot-centroid computation of one ``(height, width)`` image with
    preallocated float64 buffers (shared by ``spot_centroid`` and
    ``tip_tilt_controller``)."""

    def __init__(self, height: int, width: int, settings: SpotCentroidSettings):
        self.settings = settings
        self._work = np.zeros((height, width), np.float64)
        self._mask = np.zeros((height, width), np.bool_)
        self._rows = np.zeros(height, np.float64)
        self._cols = np.zeros(width, np.float64)
        self._row_index = np.arange(height, dtype=np.float64)
        self._col_index = np.arange(width, dtype=np.float64)
        self._centre = ((height - 1) / 2.0, (width - 1) / 2.0)
        self._result = np.zeros(2, np.float64)

    def compute_into(self, image: Any, output: np.ndarray) -> None:
        """Write ``[delta_row, delta_col]`` (or ``[0, 0]``) into ``output``."""
        s = self.settings
        work, mask = self._work, self._mask
        np.copyto(work, image)  # cast to float64 without a ufunc buffer
        np.subtract(work, s.background, out=work)
        np.greater(work, s.threshold, out=mask)
        np.logical_not(mask, out=mask)
        np.copyto(work, 0.0, where=mask)
        if s.weight_power != 1.0:
            np.power(work, s.weight_power, out=work)
        np.add.reduce(work, axis=1, out=self._rows)
        np.add.reduce(work, axis=0, out=self._cols)
        total = self._rows.sum()
        if not total > 0:  # also NaN: negative weights to a fractional power
            output[0] = 0
            output[1] = 0
            return
        result = self._result
        result[0] = self._rows.dot(self._row_index) / total - self._centre[0]
        result[1] = self._cols.dot(self._col_index) / total - self._centre[1]
        # cast like the other kernels (a Python float written into an integer
        # element raises on NaN or out of range, e.g. a negative uint8 delta)
        np.copyto(output, result, casting="unsafe")
