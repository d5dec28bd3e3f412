"""``gpu.shack_hartmann_centroid`` (alias ``gpu.centroid``): per-tile centroids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from shmpipeline.kernels.cpu.shack_hartmann_centroid import (
    ShackHartmannCentroidCpuKernel,
)
from shmpipeline.kernels.gpu._base import GpuKernel, zeros_on


class ShackHartmannCentroidGpuKernel(GpuKernel):
    """Intensity-weighted centroid of each ``tile_size`` subaperture (see
    ``cpu.shack_hartmann_centroid``), in float64 on the device.

    Same method as the CPU twin: two matrix products give every tile's sum
    and first moments about its centre; empty tiles (sum <= 0) divide by
    +inf, which gives the [0, 0] the spec asks for without a branch.
    """

    kind = "gpu.shack_hartmann_centroid"
    cpu_twin = ShackHartmannCentroidCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        tile = self.tile_size = self.settings
        height, width = context.trigger_input_spec.shape
        self.tiles = TorchTileCentroids(
            height, width, tile, context.output_spec.dtype, self.device
        )

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.tiles.compute_into(trigger_input, output)


class TorchTileCentroids:
    """Per-tile centroids on ``device`` with preallocated float64 tensors
    (shared by ``shack_hartmann_centroid`` and ``tomographic_controller``)."""

    def __init__(
        self, height: int, width: int, tile: int, out_dtype: Any, device: torch.device
    ) -> None:
        rows, cols = height // tile, width // tile
        f64, dev = torch.float64, device
        offsets = torch.arange(tile, dtype=f64, device=dev) - (tile - 1) / 2.0
        ones = torch.ones(tile, dtype=f64, device=dev)
        self._work = zeros_on(device, (height, width), f64)
        self._col_weights = torch.stack([ones, offsets], dim=1)  # (t, 2)
        self._row_weights = torch.stack([offsets, ones], dim=0)  # (2, t)
        self._partial = zeros_on(device, (height * cols, 2), f64)
        self._moments = zeros_on(device, (rows, 2, cols * 2), f64)
        self._work_rows = self._work.view(height * cols, tile)
        self._partial_tiles = self._partial.view(rows, tile, cols * 2)
        # moments[i, w_row, 2j + w_col]: total at (1, 0), row moment at
        # (0, 0), column moment at (1, 1) (see the CPU twin)
        self._total = self._moments[:, 1, 0::2]
        self._numerators = torch.as_strided(
            self._moments, (rows, cols, 2), (2 * cols * 2, 2, 2 * cols + 1)
        )
        self._numerator = zeros_on(device, (rows, cols, 2), f64)
        self._denominator = zeros_on(device, (rows, cols, 2), f64)
        self._empty = zeros_on(device, (rows, cols, 2), torch.bool)
        self._result = zeros_on(device, (rows, cols, 2), f64)
        self._direct = np.dtype(out_dtype) == np.float64

    def compute_into(self, image: Any, output: torch.Tensor) -> None:
        """Write the ``(height/t, width/t, 2)`` centroids into ``output``."""
        self._work.copy_(image)
        torch.matmul(self._work_rows, self._col_weights, out=self._partial)
        torch.matmul(self._row_weights, self._partial_tiles, out=self._moments)
        self._numerator.copy_(self._numerators)
        self._denominator.copy_(self._total.unsqueeze(-1))
        torch.le(self._denominator, 0.0, out=self._empty)
        self._denominator.masked_fill_(self._empty, float("inf"))
        if self._direct:
            torch.div(self._numerator, self._denominator, out=output)
        else:
            torch.div(self._numerator, self._denominator, out=self._result)
            output.copy_(self._result)
