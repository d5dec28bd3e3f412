"""``cpu.reduce``: one-element output = sum / mean / max / min of the input."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._ops import ArrayOps
from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel, unary_streams

OPERATIONS = ("sum", "mean", "max", "min")
_UFUNCS = {"sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum}


def accumulator_dtype(operation: str, source: np.dtype, target: np.dtype) -> np.dtype:
    """Dtype the reduction runs in: sum/mean promote input and output (mean of
    integers in float64), max/min use the input dtype."""
    if operation in ("max", "min"):
        return source
    if operation == "mean" and source.kind not in "fc":
        source = np.dtype(np.float64)
    return np.promote_types(source, target)


class ReduceLaw:
    """The per-frame steps of ``reduce`` shared by the twins (over
    ``self.ops``): cast the input into the accumulator dtype when it differs,
    reduce (the backend's :meth:`_reduce`), cast into the output."""

    ops: ArrayOps
    settings: str

    def _prepare_reduction(self, context: Any) -> None:
        """The operation and, allocated once, the accumulator copies."""
        self.operation = self.settings
        source_spec = context.trigger_input_spec
        source = np.dtype(source_spec.dtype)
        target = np.dtype(context.output_spec.dtype)
        acc = accumulator_dtype(self.operation, source, target)
        self._count = math.prod(source_spec.shape)
        # cast the input into a preallocated copy: a reduction that casts its
        # input would allocate a buffer on every call
        self._work = None if acc == source else self.empty(source_spec.shape, acc)
        self._acc = None if acc == target else self.empty((), acc)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        target = output.reshape(())
        acc = target if self._acc is None else self._acc
        source = trigger_input
        if self._work is not None:
            self.ops.copy(self._work, trigger_input)
            source = self._work
        self._reduce(source, acc)
        if self._acc is not None:
            self.ops.cast(target, acc)

    def _reduce(self, source: Any, acc: Any) -> None:
        """``acc = operation(source)`` with the backend's calls."""
        raise NotImplementedError


class ReduceCpuKernel(ReduceLaw, CpuKernel):
    """Reduce the whole input to one value (``parameters.operation``: sum,
    mean, max or min; default mean).

    The output holds exactly one element (any shape, e.g. ``[1]``) and has the
    input's dtype or a floating/complex dtype. Integer means truncate toward
    zero when written to an integer output.
    """

    kind = "cpu.reduce"
    auxiliary_arity = 0
    parameter_specs = (Parameter("operation", "choice", "mean", OPERATIONS),)

    @classmethod
    def _settings(cls, config, shared_memory) -> str:
        operation = parse_parameters(cls.parameter_specs, config)["operation"]
        source, target = unary_streams(config, shared_memory)
        v.require_dtype_kind(config, "input", source[1], "number")
        v.require_size(config, "output", target[1], 1)
        in_dtype, out_dtype = np.dtype(source[1].dtype), np.dtype(target[1].dtype)
        if out_dtype != in_dtype and out_dtype.kind not in "fc":
            raise v.error(
                config,
                "output",
                f"dtype {out_dtype.name} of stream {target[1].name!r} must equal the "
                f"input dtype {in_dtype.name} or be floating/complex",
            )
        return operation

    def __init__(self, context) -> None:
        super().__init__(context)
        self._prepare_reduction(context)
        self._ufunc = _UFUNCS[self.operation]

    def _reduce(self, source: Any, acc: Any) -> None:
        self._ufunc.reduce(source, axis=None, out=acc)
        if self.operation == "mean":
            np.divide(acc, self._count, out=acc)


