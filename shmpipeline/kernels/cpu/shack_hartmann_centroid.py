"""``cpu.shack_hartmann_centroid`` (alias ``cpu.centroid``): per-tile centroids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._parameters import Parameter
from shmpipeline.kernels.cpu._base import CpuKernel
from shmpipeline.kernels.cpu._centroid import check_centroid_streams

#: the subaperture side in pixels (also read by ``tomographic_controller``)
TILE_SIZE = Parameter("tile_size", "positive_int")


def parse_shack_hartmann(config, shared_memory) -> int:
    """Validate a Shack-Hartmann config; return the tile size (shared with
    the GPU twin)."""
    tile = TILE_SIZE.parse(config)
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
    parameter_specs = (TILE_SIZE,)

    @classmethod
    def _settings(cls, config, shared_memory) -> int:
        return parse_shack_hartmann(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        tile = self.tile_size = self.settings
        height, width = context.trigger_input_spec.shape
        self.tiles = TileCentroids(height, width, tile, context.output_spec.dtype)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        self.tiles.compute_into(trigger_input, output)


class TileCentroids:
    """Per-tile centroids of one ``(height, width)`` image with preallocated
    float64 buffers, written into outputs of ``out_dtype`` (shared by
    ``shack_hartmann_centroid`` and ``tomographic_controller``)."""

    def __init__(self, height: int, width: int, tile: int, out_dtype: Any) -> None:
        rows, cols = height // tile, width // tile
        offsets = np.arange(tile, dtype=np.float64) - (tile - 1) / 2.0
        # Two small matrix products give every tile's sum and moments about
        # its centre at once: (H*cols, t) @ [1, dcol] sums each tile row,
        # then [1, drow] @ (t, cols*2) per band of tile rows.
        self._work = np.zeros((height, width), np.float64)
        self._col_weights = np.stack([np.ones(tile), offsets], axis=1)  # (t, 2)
        self._row_weights = np.stack([offsets, np.ones(tile)], axis=0)  # (2, t)
        self._partial = np.zeros((height * cols, 2), np.float64)
        self._moments = np.zeros((rows, 2, cols * 2), np.float64)
        self._work_rows = self._work.reshape(height * cols, tile)
        self._partial_tiles = self._partial.reshape(rows, tile, cols * 2)
        # moments[i, w_row, 2j + w_col] with w_row in (drow, 1) and w_col in
        # (1, dcol): the total is at (1, 0); the row moment (0, 0) and the
        # column moment (1, 1) form one strided (rows, cols, 2) view, so both
        # axes divide in one call.
        self._total = self._moments[:, 1, 0::2]
        item = self._moments.itemsize
        self._numerators = np.lib.stride_tricks.as_strided(
            self._moments,
            shape=(rows, cols, 2),
            strides=(2 * cols * 2 * item, 2 * item, (2 * cols + 1) * item),
            writeable=False,
        )
        # contiguous, full-shape operands keep the division on NumPy's fast
        # path (a strided or broadcast operand costs an iterator allocation)
        self._numerator = np.zeros((rows, cols, 2), np.float64)
        self._denominator = np.zeros((rows, cols, 2), np.float64)
        self._empty = np.zeros((rows, cols, 2), np.bool_)
        self._result = np.zeros((rows, cols, 2), np.float64)
        self._direct = np.dtype(out_dtype) == np.float64

    def compute_into(self, image: Any, output: np.ndarray) -> None:
        """Write the ``(height/t, width/t, 2)`` centroids into ``output``."""
        np.copyto(self._work, image)  # float64, contiguous
        np.matmul(self._work_rows, self._col_weights, out=self._partial)
        np.matmul(self._row_weights, self._partial_tiles, out=self._moments)
        # tiles whose sum is <= 0 divide by +inf: finite moments give 0
        np.copyto(self._numerator, self._numerators)
        np.copyto(self._denominator, self._total[..., None])
        np.less_equal(self._denominator, 0.0, out=self._empty)
        np.copyto(self._denominator, np.inf, where=self._empty)
        if self._direct:
            np.divide(self._numerator, self._denominator, out=output)
        else:
            np.divide(self._numerator, self._denominator, out=self._result)
            np.copyto(output, self._result, casting="unsafe")
