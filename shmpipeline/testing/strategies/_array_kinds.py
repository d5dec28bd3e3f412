"""Builders of the built-in array kinds: copies, elementwise and linear
maps, reductions, integrators, expressions, concatenation, failure injection.

Each registers with :func:`~._builders.builtin_builder` when imported
(:mod:`._kernels` imports this module first, so ``cpu.copy`` heads the
shrinking order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import strategies as st

from shmpipeline.config import SharedMemoryConfig, SynchronizationConfig
from shmpipeline.testing.strategies._builders import (
    ALIAS_WORDS,
    aliased,
    builtin_builder,
    declared_kernel,
    declared_parameter_values,
    float_trigger,
    is_inexact_stream,
    is_numeric_stream,
    is_real_stream,
    real_values,
    stream_of_ndim,
    timings,
    trigger_of_ndim,
)
from shmpipeline.testing.strategies._expressions import (
    evaluate_expression,
    expression_trees,
    render_expression,
)
from shmpipeline.testing.strategies._slots import KernelDraft, KernelSlot
from shmpipeline.testing.strategies._streams import FLOAT_DTYPES

__all__: list[str] = []


@builtin_builder("cpu.copy")
@st.composite
def _copy(draw: Any, slot: KernelSlot) -> KernelDraft:
    return KernelDraft(slot.kernel(**draw(timings())), slot.output())


@builtin_builder("cpu.scale", "cpu.add_constant", accepts=is_numeric_stream)
@st.composite
def _unary(draw: Any, slot: KernelSlot) -> KernelDraft:
    """Output like the input; the kind's declared parameters."""
    config = declared_kernel(draw, slot)
    return KernelDraft(config, slot.output())


@builtin_builder("cpu.flatten")
@st.composite
def _flatten(draw: Any, slot: KernelSlot) -> KernelDraft:
    size = math.prod(slot.trigger.shape)
    return KernelDraft(slot.kernel(**draw(timings())), slot.output(shape=(size,)))


@st.composite
def _binary(draw: Any, slot: KernelSlot) -> KernelDraft:
    """One auxiliary of the trigger's shape and dtype; declared parameters."""
    trigger = slot.trigger
    aux = draw(slot.auxiliary("aux", shape=trigger.shape, dtype=trigger.dtype))
    config = slot.kernel(
        auxiliary=draw(aliased([aux])),
        parameters=draw(declared_parameter_values(slot.kind)),
        **draw(timings()),
    )
    return KernelDraft(config, slot.output(), (aux,))


builtin_builder(
    "cpu.elementwise_add",
    "cpu.elementwise_subtract",
    "cpu.elementwise_multiply",
    accepts=is_numeric_stream,
)(_binary)
builtin_builder("cpu.elementwise_divide", accepts=is_inexact_stream, trigger=float_trigger)(
    _binary
)
builtin_builder("cpu.scale_offset", accepts=is_numeric_stream)(_binary)


@builtin_builder("cpu.reduce", accepts=is_numeric_stream)
@st.composite
def _reduce(draw: Any, slot: KernelSlot) -> KernelDraft:
    dtype = draw(st.sampled_from((slot.trigger.dtype.name, *FLOAT_DTYPES)))
    shape = draw(st.sampled_from(((1,), (1, 1))))
    config = declared_kernel(draw, slot)
    return KernelDraft(config, slot.output(shape=shape, dtype=dtype))


@builtin_builder(
    "cpu.affine_transform",
    accepts=stream_of_ndim(1, is_numeric_stream),
    trigger=trigger_of_ndim(1),
)
@st.composite
def _affine(draw: Any, slot: KernelSlot) -> KernelDraft:
    trigger = slot.trigger
    (n,) = trigger.shape
    dtype = trigger.dtype
    matrix = draw(
        slot.auxiliary(
            "matrix",
            shape=st.integers(1, slot.limits.max_side).map(lambda m: (m, n)),
            dtype=dtype,
            fits=lambda s: len(s.shape) == 2 and s.shape[1] == n and s.dtype == dtype,
        )
    )
    m = matrix.shape[0]
    offset = draw(slot.auxiliary("offset", shape=(m,), dtype=dtype))
    form = draw(st.sampled_from(("named", "named_reversed", "list", "positional")))
    if form == "named":
        aux: list[Any] = [("matrix", matrix.name), ("offset", offset.name)]
    elif form == "named_reversed":
        aux = [("offset", offset.name), ("matrix", matrix.name)]
    elif form == "list":
        aux = [matrix.name, offset.name]
    else:
        aux = [("a", matrix.name), ("b", offset.name)]
    params = draw(declared_parameter_values(slot.kind))
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(timings()))
    return KernelDraft(config, slot.output(shape=(m,)), (matrix, offset))


@builtin_builder("cpu.leaky_integrator", accepts=is_inexact_stream, trigger=float_trigger)
@st.composite
def _leaky_integrator(draw: Any, slot: KernelSlot) -> KernelDraft:
    aux: list[tuple[str, str]] = []
    specs: list[SharedMemoryConfig] = []
    for alias in ("gain", "leak", "override_enabled"):
        if not draw(st.booleans()):
            continue
        spec = draw(
            slot.auxiliary(
                alias,
                shape=st.sampled_from(((1,), (1, 1))),
                dtype=st.sampled_from(slot.limits.dtypes),
                fits=lambda s: math.prod(s.shape) == 1 and is_real_stream(s),
                exclude=[s.name for s in specs],
            )
        )
        aux.append((alias, spec.name))
        specs.append(spec)
    order = draw(st.permutations(range(len(aux))))
    aux = [aux[i] for i in order]
    specs = [specs[i] for i in order]
    bound = {alias for alias, _ in aux}
    params: dict[str, Any] = {}
    # a stable leak: |leak| <= 1
    for key, values in (("leak", st.floats(0.0, 1.0)), ("gain", real_values())):
        if key not in bound or draw(st.booleans()):
            params[key] = draw(values)
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(timings()))
    return KernelDraft(config, slot.output(), tuple(specs))


def _suffixes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [tuple(shape[i:]) for i in range(len(shape))] + [(1,)]


@builtin_builder("cpu.custom_operation", accepts=is_real_stream)
@st.composite
def _custom_operation(draw: Any, slot: KernelSlot) -> KernelDraft:
    trigger = slot.trigger
    shape = tuple(trigger.shape)
    variables: dict[str, SharedMemoryConfig] = {"input": trigger}
    bindings: list[Any] = []
    specs: list[SharedMemoryConfig] = []

    def broadcasts(spec: SharedMemoryConfig) -> bool:
        try:
            broadcast = np.broadcast_shapes(spec.shape, shape)
            return is_real_stream(spec) and broadcast == shape
        except ValueError:
            return False

    def bind(spec: SharedMemoryConfig, index: int) -> str:
        if draw(st.booleans()):
            alias = spec.name
            bindings.append(spec.name)
        else:
            alias = f"{draw(st.sampled_from(ALIAS_WORDS))}{index}"
            bindings.append((alias, spec.name))
        specs.append(spec)
        return alias

    for index in range(draw(st.integers(0, 2))):
        spec = draw(
            slot.auxiliary(
                f"x{index}",
                shape=st.sampled_from(_suffixes(shape)),
                dtype=st.sampled_from(slot.limits.dtypes),
                fits=broadcasts,
                exclude=[s.name for s in specs],
            )
        )
        variables[bind(spec, index)] = spec

    tree = draw(expression_trees(list(variables), draw(st.integers(0, 3))))
    probes = {
        alias: np.ones(spec.shape, np.dtype(spec.dtype))
        for alias, spec in variables.items()
    }
    with np.errstate(all="ignore"):
        result = np.asarray(evaluate_expression(tree, probes))
    if len(shape) == 1 and result.ndim == 1 and draw(st.booleans()):
        # y = M @ (expression): a 2-D auxiliary of any row count
        n = result.shape[0]
        index = len(specs)
        matrix = draw(
            slot.auxiliary(
                f"x{index}",
                shape=st.integers(1, slot.limits.max_side).map(lambda m: (m, n)),
                dtype=st.sampled_from(slot.limits.dtypes),
                fits=lambda s: (
                    len(s.shape) == 2 and s.shape[1] == n and is_real_stream(s)
                ),
                exclude=[s.name for s in specs],
            )
        )
        alias = bind(matrix, index)
        variables[alias] = matrix
        tree = ("bin", "@", ("var", alias), tree)
        probes[alias] = np.ones(matrix.shape, np.dtype(matrix.dtype))
        with np.errstate(all="ignore"):
            result = np.asarray(evaluate_expression(tree, probes))
    config = slot.kernel(
        auxiliary=bindings, operation=render_expression(tree), **draw(timings())
    )
    return KernelDraft(config, slot.output(result.shape, result.dtype), tuple(specs))



def _other_sides(shape: tuple[int, ...], axis: int) -> list[int]:
    return [side for index, side in enumerate(shape) if index != axis]


@builtin_builder("cpu.concatenate", accepts=is_real_stream)
@st.composite
def _concatenate(draw: Any, slot: KernelSlot) -> KernelDraft:
    """A fan-in: one to three more trigger inputs matching the trigger but
    along the drawn axis; a drawn synchronization."""
    trigger = slot.trigger
    ndim = len(trigger.shape)
    axis = draw(st.integers(-ndim, ndim - 1))
    along = axis % ndim
    sides = _other_sides(trigger.shape, along)

    def fits(spec: SharedMemoryConfig) -> bool:
        return (
            len(spec.shape) == ndim
            and spec.dtype == trigger.dtype
            and _other_sides(spec.shape, along) == sides
        )

    def with_side(side: int) -> tuple[int, ...]:
        shape = list(trigger.shape)
        shape[along] = side
        return tuple(shape)

    parts: list[SharedMemoryConfig] = []
    for index in range(draw(st.integers(1, 3))):
        parts.append(
            draw(
                slot.auxiliary(
                    f"part{index}",
                    shape=st.integers(1, slot.limits.max_side).map(with_side),
                    dtype=trigger.dtype,
                    fits=fits,
                    exclude=[s.name for s in parts],
                )
            )
        )
    joined = with_side(sum(s.shape[along] for s in (trigger, *parts)))
    params = {"axis": axis} if axis or draw(st.booleans()) else {}
    synchronization = draw(
        st.sampled_from(
            (
                None,
                SynchronizationConfig(),
                SynchronizationConfig(mode="matching_frame_id"),
                SynchronizationConfig(
                    mode="matching_frame_id", max_skew_generations=4, max_wait_s=0.5
                ),
            )
        )
    )
    config = slot.kernel(
        extra_inputs=[s.name for s in parts],
        parameters=params,
        synchronization=synchronization,
        propagate_frame_id=draw(st.booleans()),
        **draw(timings()),
    )
    return KernelDraft(config, slot.output(shape=joined), tuple(parts))


# the failing kind draws like the unary ones (declared parameters, output
# like the input), last in the shrinking order
builtin_builder("cpu.raise_error")(_unary)
