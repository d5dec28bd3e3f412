"""``gpu.tip_tilt_controller``: spot centroid -> leaky integrator -> 2x2
rotation plus bias, fused in one kernel."""

from __future__ import annotations

from typing import Any

from shmpipeline.kernels.cpu.tip_tilt_controller import (
    TipTiltControllerCpuKernel,
    TipTiltLaw,
)
from shmpipeline.kernels.gpu._base import GpuKernel
from shmpipeline.kernels.gpu.spot_centroid import TorchSpotCentroid


class TipTiltControllerGpuKernel(TipTiltLaw, GpuKernel):
    """Closed-loop tip/tilt from a spot image (see ``cpu.tip_tilt_controller``):
    the centroid in float64 on the device, the state and the rotation in the
    output dtype, nothing read back to the host."""

    kind = "gpu.tip_tilt_controller"
    cpu_twin = TipTiltControllerCpuKernel

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        s = self.settings
        height, width = context.trigger_input_spec.shape
        dtype = context.output_spec.dtype
        self.spot = TorchSpotCentroid(height, width, s.centroid, self.device)
        self._centroid = self.empty((2,), dtype)
        self.state = self.empty((2,), dtype)
