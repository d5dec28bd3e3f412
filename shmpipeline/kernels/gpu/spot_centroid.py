"""``gpu.spot_centroid``: out (2,) = centroid of one spot minus image centre."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.spot_centroid import SpotCentroidCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel


class SpotCentroidGpuKernel(GpuKernel):
    """Centroid of a single spot relative to the image centre (see
    ``cpu.spot_centroid``), computed in float64 on the device.

    The "[0, 0] unless the total weight is > 0" rule is a mask applied on
    the device, so no frame reads the total back to the host.
    """

    kind = "gpu.spot_centroid"
    cpu_twin = SpotCentroidCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        height, width = context.trigger_input_spec.shape
        f64 = torch.float64
        self._work = self.empty((height, width), f64)
        self._mask = self.empty((height, width), torch.bool)
        self._rows = self.empty((height,), f64)
        self._cols = self.empty((width,), f64)
        self._row_index = torch.arange(height, dtype=f64, device=self.device)
        self._col_index = torch.arange(width, dtype=f64, device=self.device)
        self._centre = torch.tensor(
            [(height - 1) / 2.0, (width - 1) / 2.0], dtype=f64, device=self.device
        )
        self._numerator = self.empty((2,), f64)
        self._total = self.empty((), f64)
        self._empty = self.empty((), torch.bool)
        self._result = self.empty((2,), f64)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        s = self.settings
        work, mask = self._work, self._mask
        work.copy_(trigger_input)
        work.sub_(s.background)
        torch.gt(work, s.threshold, out=mask)  # NaN compares False: left out
        torch.logical_not(mask, out=mask)
        work.masked_fill_(mask, 0.0)
        if s.weight_power != 1.0:
            work.pow_(s.weight_power)
        torch.sum(work, dim=1, out=self._rows)
        torch.sum(work, dim=0, out=self._cols)
        torch.sum(self._rows, dim=0, out=self._total)
        torch.dot(self._rows, self._row_index, out=self._numerator[0])
        torch.dot(self._cols, self._col_index, out=self._numerator[1])
        torch.div(self._numerator, self._total, out=self._result)
        self._result.sub_(self._centre)
        # not (total > 0): also a NaN total (negative weights to a fractional
        # power) gives [0, 0]
        torch.gt(self._total, 0.0, out=self._empty)
        torch.logical_not(self._empty, out=self._empty)
        self._result.masked_fill_(self._empty, 0.0)
        output.copy_(self._result)
