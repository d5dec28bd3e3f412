"""``gpu.tomographic_controller``: eight Shack-Hartmann front ends, the
tomographic reconstruction and the DM control law, fused in one kernel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.tomographic_controller import (
    SENSORS,
    TomographicControllerCpuKernel,
    sensor_alias_table,
    slope_blocks,
)
from shmpipeline.kernels.gpu._base import GpuKernel
from shmpipeline.kernels.gpu.shack_hartmann_centroid import TorchTileCentroids


class TomographicControllerGpuKernel(GpuKernel):
    """Tomographic AO control from eight wavefront sensors (see
    ``cpu.tomographic_controller``), with every temporary preallocated on the
    device: per frame only torch operations writing into them are enqueued."""

    kind = "gpu.tomographic_controller"
    cpu_twin = TomographicControllerCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        s = self.settings
        dtype = context.output_spec.dtype
        rows, cols = s.image_shape
        tile = s.tile_size
        centroid_shape = (rows // tile, cols // tile, 2)
        per_sensor = centroid_shape[0] * centroid_shape[1] * 2
        self.tiles = TorchTileCentroids(rows, cols, tile, dtype, self.device)
        self._calibrated = self.empty((rows, cols), dtype)
        self._centroids = self.empty(centroid_shape, dtype)
        self._centroids_flat = self._centroids.view(-1)
        self._slopes = self.empty((per_sensor * SENSORS,), dtype)
        self._slope_blocks = slope_blocks(self._slopes, per_sensor)
        self._residual = self.empty((s.actuators,), dtype)
        self.state = self.empty((s.actuators,), dtype)
        self._sensor_aliases = sensor_alias_table(s.batched)

    def _slopes_of(self, index: int, image: Any, auxiliary: Mapping[str, Any]) -> None:
        dark, flat, offset = (auxiliary[a] for a in self._sensor_aliases[index])
        if self.settings.batched:
            dark, flat, offset = dark[index], flat[index], offset[index]
        calibrated = self._calibrated
        calibrated.copy_(image)
        calibrated.sub_(dark)
        calibrated.mul_(flat)
        self.tiles.compute_into(calibrated, self._centroids)
        block = self._slope_blocks[index]
        torch.mul(self._centroids_flat, self.settings.slope_gain, out=block)
        block.sub_(offset.reshape(-1))

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        s = self.settings
        for index in range(SENSORS):
            self._slopes_of(index, trigger_input[index], auxiliary_inputs)
        residual, state = self._residual, self.state
        torch.mv(auxiliary_inputs["reconstructor"], self._slopes, out=residual)
        residual.add_(auxiliary_inputs["reconstructor_bias"])
        state.mul_(s.leak)
        residual.mul_(s.control_gain)
        state.add_(residual)
        torch.mul(state, s.command_gain, out=output)
        output.sub_(auxiliary_inputs["command_offset"])
        torch.maximum(output, auxiliary_inputs["command_low"], out=output)
        torch.minimum(output, auxiliary_inputs["command_high"], out=output)

    def reset(self) -> None:
        """Zero the integrator state."""
        self.state.zero_()
