"""``gpu.tomographic_controller``: eight Shack-Hartmann front ends, the
tomographic reconstruction and the DM control law, fused in one kernel."""

from __future__ import annotations

from typing import Any

from shmpipeline.kernels.cpu.tomographic_controller import (
    SENSORS,
    TomographicControllerCpuKernel,
    TomographicLaw,
    slope_blocks,
)
from shmpipeline.kernels.gpu._base import GpuKernel
from shmpipeline.kernels.gpu.shack_hartmann_centroid import TorchTileCentroids


class TomographicControllerGpuKernel(TomographicLaw, GpuKernel):
    """Tomographic AO control from eight wavefront sensors (see
    ``cpu.tomographic_controller``), with every temporary preallocated on the
    device: per frame only torch operations writing into them are enqueued."""

    kind = "gpu.tomographic_controller"
    cpu_twin = TomographicControllerCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        s = self.settings
        dtype = context.output_spec.dtype
        self.tiles = TorchTileCentroids(*s.image_shape, s.tile_size, dtype, self.device)
        self._calibrated = self.empty(s.image_shape, dtype)
        self._centroids = self.empty(s.centroid_shape, dtype)
        self._centroids_flat = self._centroids.view(-1)
        self._slopes = self.empty((s.slopes_per_sensor * SENSORS,), dtype)
        self._slope_blocks = slope_blocks(self._slopes, s.slopes_per_sensor)
        self._residual = self.empty((s.actuators,), dtype)
        self.state = self.empty((s.actuators,), dtype)
