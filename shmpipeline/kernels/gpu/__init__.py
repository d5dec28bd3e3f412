"""GPU (torch) kernel catalog: one kernel per module, ``<Name>GpuKernel``.

Importing this package imports torch (``import shmpipeline`` and
``shmpipeline.kernels`` never do; the registry loads these modules only when
a ``gpu.*`` kind is used). Each kernel shares its validation with its
``cpu.*`` twin and computes with torch into the output tensor, on the
output stream's CUDA device, or on torch's CPU device when constructed with
``device="cpu"`` (see :mod:`shmpipeline.kernels.gpu._base`).
"""

try:
    import torch  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name != "torch":
        raise  # torch is there but broken: keep its own error
    # still a ModuleNotFoundError naming torch: the registry turns it into
    # its "install shmpipeline[gpu]" ConfigValidationError
    raise ModuleNotFoundError(
        "shmpipeline.kernels.gpu needs PyTorch, which is not installed; "
        "install the GPU extra: pip install 'shmpipeline[gpu]'",
        name="torch",
    ) from exc

from shmpipeline.kernels.gpu._base import GpuKernel
from shmpipeline.kernels.gpu.add_constant import AddConstantGpuKernel
from shmpipeline.kernels.gpu.affine_transform import AffineTransformGpuKernel
from shmpipeline.kernels.gpu.concatenate import ConcatenateGpuKernel
from shmpipeline.kernels.gpu.copy import CopyGpuKernel
from shmpipeline.kernels.gpu.custom_operation import CustomOperationGpuKernel
from shmpipeline.kernels.gpu.elementwise_add import ElementwiseAddGpuKernel
from shmpipeline.kernels.gpu.elementwise_divide import ElementwiseDivideGpuKernel
from shmpipeline.kernels.gpu.elementwise_multiply import ElementwiseMultiplyGpuKernel
from shmpipeline.kernels.gpu.elementwise_subtract import ElementwiseSubtractGpuKernel
from shmpipeline.kernels.gpu.flatten import FlattenGpuKernel
from shmpipeline.kernels.gpu.leaky_integrator import LeakyIntegratorGpuKernel
from shmpipeline.kernels.gpu.raise_error import RaiseErrorGpuKernel
from shmpipeline.kernels.gpu.reduce import ReduceGpuKernel
from shmpipeline.kernels.gpu.scale import ScaleGpuKernel
from shmpipeline.kernels.gpu.scale_offset import ScaleOffsetGpuKernel
from shmpipeline.kernels.gpu.shack_hartmann_centroid import (
    ShackHartmannCentroidGpuKernel,
)
from shmpipeline.kernels.gpu.spot_centroid import SpotCentroidGpuKernel
from shmpipeline.kernels.gpu.tip_tilt_controller import TipTiltControllerGpuKernel
from shmpipeline.kernels.gpu.tomographic_controller import (
    TomographicControllerGpuKernel,
)

__all__ = [
    "AddConstantGpuKernel",
    "AffineTransformGpuKernel",
    "ConcatenateGpuKernel",
    "CopyGpuKernel",
    "CustomOperationGpuKernel",
    "ElementwiseAddGpuKernel",
    "ElementwiseDivideGpuKernel",
    "ElementwiseMultiplyGpuKernel",
    "ElementwiseSubtractGpuKernel",
    "FlattenGpuKernel",
    "GpuKernel",
    "LeakyIntegratorGpuKernel",
    "RaiseErrorGpuKernel",
    "ReduceGpuKernel",
    "ScaleGpuKernel",
    "ScaleOffsetGpuKernel",
    "ShackHartmannCentroidGpuKernel",
    "SpotCentroidGpuKernel",
    "TipTiltControllerGpuKernel",
    "TomographicControllerGpuKernel",
]
