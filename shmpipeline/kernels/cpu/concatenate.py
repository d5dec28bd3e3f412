"""``cpu.concatenate``: out = the trigger frames joined along ``axis``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._parameters import Parameter
from shmpipeline.kernels.cpu._base import CpuKernel

#: the axis the inputs are joined along (negative counts from the end)
AXIS = Parameter("axis", "integer", 0)


def require_all_new(config) -> None:
    """A kernel combining one new frame of every input needs ``all_new``."""
    if config.trigger_policy != "all_new":
        raise v.error(
            config,
            "trigger_policy",
            f"kind {config.kind!r} requires trigger_policy 'all_new' (it combines "
            f"one new frame of every input), got {config.trigger_policy!r}",
        )


def _other_sides(shape: tuple[int, ...], axis: int) -> list[int]:
    return [side for index, side in enumerate(shape) if index != axis]


def parse_concatenate(config, shared_memory) -> int:
    """Validate a concatenate config; return the axis, made non-negative
    (shared with the GPU twin)."""
    require_all_new(config)
    axis = AXIS.parse(config)
    inputs = [(f, shared_memory[name]) for f, name in v.trigger_fields(config)]
    first = inputs[0][1]
    ndim = len(first.shape)
    if not -ndim <= axis < ndim:
        raise v.error(
            config,
            "parameters.axis",
            f"axis {axis} is out of bounds for {ndim}-D inputs",
        )
    axis %= ndim
    v.require_same_dtype(config, inputs[0], *inputs[1:])
    for field, spec in inputs[1:]:
        if len(spec.shape) != ndim:
            raise v.error(
                config,
                field,
                f"stream {spec.name!r} has shape {tuple(spec.shape)}; the inputs "
                f"need equal input ranks ({ndim}-D like {first.name!r})",
            )
        if _other_sides(spec.shape, axis) != _other_sides(first.shape, axis):
            raise v.error(
                config,
                field,
                f"shape {tuple(spec.shape)} of stream {spec.name!r} must equal "
                f"{tuple(first.shape)} except along axis {axis} (matching "
                "non-concatenated dimensions)",
            )
    expected = list(first.shape)
    expected[axis] = sum(spec.shape[axis] for _, spec in inputs)
    output = ("output", shared_memory[config.output])
    v.require_shape(config, *output, tuple(expected))
    v.require_same_dtype(config, inputs[0], output)
    return axis


class ConcatenateCpuKernel(CpuKernel):
    """Join the frames of two or more trigger inputs (``inputs:``, in that
    order) along ``parameters.axis`` (default 0).

    A synchronised fan-in: ``trigger_policy`` must be ``all_new``, so each
    output combines one new frame of every branch (with
    ``synchronization: {mode: matching_frame_id}`` only frames of one
    generation). Inputs share rank and dtype and every side but ``axis``;
    the output has the joined shape and the same dtype.
    """

    kind = "cpu.concatenate"
    input_arity = (2, None)
    auxiliary_arity = 0
    parameter_specs = (AXIS,)

    @classmethod
    def _settings(cls, config, shared_memory) -> int:
        return parse_concatenate(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        self.axis = self.settings

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        np.concatenate(trigger_input, axis=self.axis, out=output)


__all__ = ["AXIS", "ConcatenateCpuKernel", "parse_concatenate", "require_all_new"]
