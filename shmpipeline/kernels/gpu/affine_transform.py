"""``gpu.affine_transform``: out (m,) = A (m, n) @ x (n,) + b (m,)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from shmpipeline.kernels.cpu.affine_transform import AffineTransformCpuKernel
from shmpipeline.kernels.gpu._base import GpuKernel, require_gpu_dtype_kind


class AffineTransformGpuKernel(GpuKernel):
    """Apply ``y = A @ x + b`` in one ``addmv`` (see ``cpu.affine_transform``
    for the aliases and shapes). Streams must be floating or complex: CUDA
    has no integer matrix products."""

    kind = "gpu.affine_transform"
    cpu_twin = AffineTransformCpuKernel

    @classmethod
    def _gpu_rules(cls, config, shared_memory, settings) -> None:
        require_gpu_dtype_kind(
            config,
            "input",
            shared_memory[config.input],
            "fc",
            "CUDA has no integer matrix-vector product (use a floating dtype)",
        )

    def __init__(self, context, *, device: Any = None) -> None:
        super().__init__(context, device=device)
        self._matrix, self._offset = self.settings

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        torch.addmv(
            auxiliary_inputs[self._offset],
            auxiliary_inputs[self._matrix],
            trigger_input,
            out=output,
        )
