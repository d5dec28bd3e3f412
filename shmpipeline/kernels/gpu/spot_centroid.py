"""``gpu.spot_centroid``: out (2,) = centroid of one spot minus image centre."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.spot_centroid import SpotCentroidCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel, zeros_on


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
        self.centroid = TorchSpotCentroid(height, width, self.settings, self.device)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.centroid.compute_into(trigger_input, output)


class TorchSpotCentroid:
    """The spot-centroid computation on ``device`` with preallocated float64
    tensors (shared by ``spot_centroid`` and ``tip_tilt_controller``)."""

    def __init__(
        self, height: int, width: int, settings: Any, device: torch.device
    ) -> None:
        self.settings = settings
        f64 = torch.float64
        self._work = zeros_on(device, (height, width), f64)
        self._mask = zeros_on(device, (height, width), torch.bool)
        self._rows = zeros_on(device, (height,), f64)
        self._cols = zeros_on(device, (width,), f64)
        self._row_index = torch.arange(height, dtype=f64, device=device)
        self._col_index = torch.arange(width, dtype=f64, device=device)
        self._centre = torch.tensor(
            [(height - 1) / 2.0, (width - 1) / 2.0], dtype=f64, device=device
        )
        self._numerator = zeros_on(device, (2,), f64)
        self._total = zeros_on(device, (), f64)
        self._empty = zeros_on(device, (), torch.bool)
        self._result = zeros_on(device, (2,), f64)

    def compute_into(self, image: Any, output: torch.Tensor) -> None:
        """Write ``[delta_row, delta_col]`` (or ``[0, 0]``) into ``output``."""
        s = self.settings
        work, mask = self._work, self._mask
        work.copy_(image)
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
