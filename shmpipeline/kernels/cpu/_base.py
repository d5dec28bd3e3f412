"""Base class and small helpers of the CPU (NumPy) kernel catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._catalog import CatalogKernel
from shmpipeline.kernels._ops import ArrayOps


def _cast(dst: np.ndarray, src: Any) -> None:
    np.copyto(dst, src, casting="unsafe")


#: NumPy's in-place calls (see :mod:`shmpipeline.kernels._ops`)
NUMPY_OPS = ArrayOps(
    copy=np.copyto, cast=_cast, add=np.add, subtract=np.subtract,
    multiply=np.multiply, matvec=np.matmul, maximum=np.maximum, minimum=np.minimum,
)  # fmt: skip


class CpuKernel(CatalogKernel):
    """A kernel over host (NumPy) streams (the catalog rules: every check and
    parameter parse in :meth:`_settings`, see
    :mod:`shmpipeline.kernels._catalog`)."""

    storage: ClassVar[str] = "cpu"
    ops: ClassVar[ArrayOps] = NUMPY_OPS

    def empty(self, shape: Any, dtype: Any) -> np.ndarray:
        """A zeroed array (the GPU twin's :meth:`GpuKernel.empty` on the host)."""
        return np.zeros(tuple(shape), dtype)


def unary_streams(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
) -> tuple[tuple[str, SharedMemoryConfig], tuple[str, SharedMemoryConfig]]:
    """Return ``(("input", spec), ("output", spec))``."""
    return ("input", shared_memory[config.input]), (
        "output",
        shared_memory[config.output],
    )


def same_shape_and_dtype(
    config: KernelConfig,
    shared_memory: Mapping[str, SharedMemoryConfig],
    *,
    numeric: bool = False,
) -> None:
    """Input, every auxiliary and output share one shape and dtype."""
    streams = [("input", shared_memory[config.input])]
    streams += [
        (f"auxiliary.{b.alias}", shared_memory[b.name]) for b in config.auxiliary
    ]
    streams.append(("output", shared_memory[config.output]))
    v.require_same_shape(config, streams[0], *streams[1:])
    v.require_same_dtype(config, streams[0], *streams[1:])
    if numeric:
        v.require_dtype_kind(config, "input", streams[0][1], "number")


def scalar_operand(value: float, dtype: Any) -> tuple[int | float, bool]:
    """Return the Python scalar to combine with arrays of ``dtype`` and whether
    the result needs a float64 scratch (integer stream, fractional or
    out-of-range parameter: computed in float64, then cast toward zero)."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        if float(value).is_integer():
            info = np.iinfo(dtype)
            if info.min <= int(value) <= info.max:
                return int(value), False
        return float(value), True
    return float(value), False
