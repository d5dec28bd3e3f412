"""CPU (NumPy) kernel catalog: one kernel per module, ``<Name>CpuKernel``.

Every kernel validates arity, storage, shapes, dtypes and parameters in
``validate_config`` and computes into the output buffer with ``out=``, using
temporaries preallocated in ``__init__`` (no per-frame array allocation).
"""

from shmpipeline.kernels.cpu._base import CpuKernel
from shmpipeline.kernels.cpu.add_constant import AddConstantCpuKernel
from shmpipeline.kernels.cpu.affine_transform import AffineTransformCpuKernel
from shmpipeline.kernels.cpu.concatenate import ConcatenateCpuKernel
from shmpipeline.kernels.cpu.copy import CopyCpuKernel
from shmpipeline.kernels.cpu.custom_operation import CustomOperationCpuKernel
from shmpipeline.kernels.cpu.elementwise_add import ElementwiseAddCpuKernel
from shmpipeline.kernels.cpu.elementwise_divide import ElementwiseDivideCpuKernel
from shmpipeline.kernels.cpu.elementwise_multiply import ElementwiseMultiplyCpuKernel
from shmpipeline.kernels.cpu.elementwise_subtract import ElementwiseSubtractCpuKernel
from shmpipeline.kernels.cpu.flatten import FlattenCpuKernel
from shmpipeline.kernels.cpu.leaky_integrator import LeakyIntegratorCpuKernel
from shmpipeline.kernels.cpu.raise_error import RaiseErrorCpuKernel
from shmpipeline.kernels.cpu.reduce import ReduceCpuKernel
from shmpipeline.kernels.cpu.scale import ScaleCpuKernel
from shmpipeline.kernels.cpu.scale_offset import ScaleOffsetCpuKernel
from shmpipeline.kernels.cpu.shack_hartmann_centroid import (
    ShackHartmannCentroidCpuKernel,
)
from shmpipeline.kernels.cpu.spot_centroid import SpotCentroidCpuKernel
from shmpipeline.kernels.cpu.tip_tilt_controller import TipTiltControllerCpuKernel
from shmpipeline.kernels.cpu.tomographic_controller import (
    TomographicControllerCpuKernel,
)

__all__ = [
    "AddConstantCpuKernel",
    "AffineTransformCpuKernel",
    "ConcatenateCpuKernel",
    "CopyCpuKernel",
    "CpuKernel",
    "CustomOperationCpuKernel",
    "ElementwiseAddCpuKernel",
    "ElementwiseDivideCpuKernel",
    "ElementwiseMultiplyCpuKernel",
    "ElementwiseSubtractCpuKernel",
    "FlattenCpuKernel",
    "LeakyIntegratorCpuKernel",
    "RaiseErrorCpuKernel",
    "ReduceCpuKernel",
    "ScaleCpuKernel",
    "ScaleOffsetCpuKernel",
    "ShackHartmannCentroidCpuKernel",
    "SpotCentroidCpuKernel",
    "TipTiltControllerCpuKernel",
    "TomographicControllerCpuKernel",
]
