"""Base class and small helpers of the CPU (NumPy) kernel catalog."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernel import Kernel, KernelContext
from shmpipeline.kernels import _validation as v


class CpuKernel(Kernel):
    """A kernel over host (NumPy) streams.

    Subclasses put every check and every parameter parse in :meth:`_settings`,
    which both :meth:`validate_config` and ``__init__`` call, so a kernel never
    runs with parameters its validation did not see. Built-in kernels reject
    parameters they do not read and a top-level ``operation``.
    """

    storage: ClassVar[str] = "cpu"
    parameter_names: ClassVar[frozenset[str] | None] = frozenset()
    accepts_operation: ClassVar[bool] = False

    def __init__(self, context: KernelContext) -> None:
        super().__init__(context)
        self.settings = type(self)._settings(context.config, context.shared_memory)

    @classmethod
    def validate_config(
        cls,
        config: KernelConfig,
        shared_memory: Mapping[str, SharedMemoryConfig],
    ) -> None:
        """Check arity, storage, parameters, shapes and dtypes."""
        super().validate_config(config, shared_memory)
        cls._settings(config, v.spec_map(shared_memory))

    @classmethod
    def _settings(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> Any:
        """Validate kernel-specific rules; return the parsed settings."""
        return None


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
