"""``gpu.tip_tilt_controller``: spot centroid -> leaky integrator -> 2x2
rotation plus bias, fused in one kernel."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.tip_tilt_controller import TipTiltControllerCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel
from shmpipeline.kernels.gpu.spot_centroid import TorchSpotCentroid


class TipTiltControllerGpuKernel(GpuKernel):
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

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        s = self.settings
        centroid, state = self._centroid, self.state
        self.spot.compute_into(trigger_input, centroid)
        state.mul_(s.leak)
        centroid.mul_(s.control_gain)
        state.add_(centroid)
        torch.mv(auxiliary_inputs[s.matrix_alias], state, out=output)
        output.add_(auxiliary_inputs[s.bias_alias])

    def reset(self) -> None:
        """Zero the integrator state."""
        self.state.zero_()
