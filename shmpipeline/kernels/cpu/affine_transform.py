"""``cpu.affine_transform``: out (m,) = A (m, n) @ x (n,) + b (m,)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel


def matrix_offset_aliases(config) -> tuple[str, str]:
    """Return the aliases of (matrix, offset): named ``matrix``/``offset`` in
    any order, else the first and second auxiliary."""
    aliases = [b.alias for b in config.auxiliary]
    if set(aliases) == {"matrix", "offset"}:
        return "matrix", "offset"
    return aliases[0], aliases[1]


class AffineTransformCpuKernel(CpuKernel):
    """Apply ``y = A @ x + b`` to the input vector ``x``.

    Auxiliaries: the matrix ``A`` (m, n) and the offset ``b`` (m,), bound as
    aliases ``matrix``/``offset`` or, positionally, first and second. All
    four streams share one numeric dtype. ``parameters.blas_threads`` (a
    positive integer) and ``parameters.matrix_layout`` (``source`` or
    ``column_major``, a storage hint of the published GPU kernel) are
    accepted for compatibility with existing files and change no result:
    the BLAS thread count is a process-wide setting left to the runtime, and
    the matrix is always read as stored.
    """

    kind = "cpu.affine_transform"
    auxiliary_arity = 2
    parameter_specs = (
        Parameter("blas_threads", "positive_int", None),
        Parameter("matrix_layout", "choice", "source", ("source", "column_major")),
    )

    @classmethod
    def _settings(cls, config, shared_memory) -> tuple[str, str]:
        parse_parameters(cls.parameter_specs, config)
        matrix_alias, offset_alias = matrix_offset_aliases(config)
        by_alias = config.auxiliary_by_alias
        x = ("input", shared_memory[config.input])
        a = (f"auxiliary.{matrix_alias}", shared_memory[by_alias[matrix_alias]])
        b = (f"auxiliary.{offset_alias}", shared_memory[by_alias[offset_alias]])
        y = ("output", shared_memory[config.output])
        v.require_ndim(config, *x, 1)
        v.require_ndim(config, *a, 2)
        v.require_dtype_kind(config, *x, "number")
        m, n = a[1].shape
        if x[1].shape[0] != n:
            raise v.error(
                config,
                "input",
                f"vector {x[1].name!r} has length {x[1].shape[0]}, but matrix "
                f"{a[1].name!r} of shape {tuple(a[1].shape)} needs {n}",
            )
        v.require_shape(config, *b, (m,))
        v.require_shape(config, *y, (m,))
        v.require_same_dtype(config, x, a, b, y)
        return matrix_alias, offset_alias

    def __init__(self, context) -> None:
        super().__init__(context)
        self._matrix, self._offset = self.settings

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        np.matmul(auxiliary_inputs[self._matrix], trigger_input, out=output)
        np.add(output, auxiliary_inputs[self._offset], out=output)
