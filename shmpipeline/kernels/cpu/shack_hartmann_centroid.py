"""``cpu.shack_hartmann_centroid`` (alias ``cpu.centroid``): per-tile centroids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels.cpu._base import CpuKernel
from shmpipeline.kernels.cpu._centroid import check_centroid_streams


def parse_shack_hartmann(config, shared_memory) -> int:
    """Validate a Shack-Hartmann config; return the tile size (shared with
    the GPU twin)."""
    tile = v.parse_positive_int(config, "tile_size")
    check_centroid_streams(config, shared_memory)
    source = shared_memory[config.input]
    height, width = source.shape
    if height % tile or width % tile:
        raise v.error(
            config,
            "parameters.tile_size",
            f"{tile} must divide the input shape {tuple(source.shape)} "
            f"of stream {source.name!r}",
        )
    v.require_shape(
        config,
        "output",
        shared_memory[config.output],
        (height // tile, width // tile, 2),
    )
    return tile


class ShackHartmannCentroidCpuKernel(CpuKernel):
    """Intensity-weighted centroid of each ``tile_size`` square subaperture.

    Output ``(H/t, W/t, 2)``: per tile ``[delta_row, delta_col]`` of the
    centroid (raw pixel values as weights) minus the tile centre
    ``(t-1)/2``; ``[0, 0]`` where the tile's sum is <= 0. Computed in float64,
    then cast to the output dtype.
    """

    kind = "cpu.shack_hartmann_centroid"
    auxiliary_arity = 0
    parameter_names = frozenset({"tile_size"})

    @classmethod
    def _settings(cls, config, shared_memory) -> int:
        return parse_shack_hartmann(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        tile = self.tile_size = self.settings
        height, width = context.trigger_input_spec.shape
        rows, cols = height // tile, width // tile
        self._blocks = (rows, tile, cols, tile)
        self._work = np.zeros((rows, cols, tile, tile), np.float64)
        self._row_profile = np.zeros((rows, cols, tile), np.float64)
        self._col_profile = np.zeros((rows, cols, tile), np.float64)
        self._total = np.zeros((rows, cols), np.float64)
        self._result = np.zeros((rows, cols), np.float64)
        self._empty = np.zeros((rows, cols), np.bool_)
        self._valid = np.zeros((rows, cols), np.bool_)
        self._index = np.arange(tile, dtype=np.float64)
        self._centre = (tile - 1) / 2.0

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        work = self._work
        # (H, W) -> (rows, tile, cols, tile) is a view; copying it transposed
        # into (rows, cols, tile, tile) makes each tile contiguous.
        tiles = np.reshape(trigger_input, self._blocks)
        np.copyto(work, tiles.transpose(0, 2, 1, 3))
        np.add.reduce(work, axis=3, out=self._row_profile)
        np.add.reduce(work, axis=2, out=self._col_profile)
        np.add.reduce(self._row_profile, axis=2, out=self._total)
        np.less_equal(self._total, 0.0, out=self._empty)
        np.logical_not(self._empty, out=self._valid)
        for axis, profile in ((0, self._row_profile), (1, self._col_profile)):
            result = self._result
            np.matmul(profile, self._index, out=result)
            np.divide(result, self._total, out=result, where=self._valid)
            np.subtract(result, self._centre, out=result, where=self._valid)
            np.copyto(result, 0.0, where=self._empty)
            np.copyto(output[..., axis], result, casting="unsafe")
