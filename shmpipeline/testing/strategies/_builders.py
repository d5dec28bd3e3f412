"""What every built-in kernel builder shares: the builder table and the draws.

:data:`BUILTIN_BUILDERS` maps each built-in kind to its builder; the family
modules (``_array_kinds``, ``_wavefront_kinds``) fill it through
:func:`builtin_builder` when :mod:`._kernels` imports them. The draws here
read what each kernel class declares (``parameter_specs``) instead of
repeating it: :func:`declared_parameter_values`, plus the stream predicates,
timings, alias forms and trigger makers several builders use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.testing.strategies._slots import (
    BadParameters,
    KernelBuilder,
    KernelSlot,
    any_stream,
)
from shmpipeline.testing.strategies._streams import Limits, shapes, stream_configs

__all__ = [
    "ALIAS_WORDS",
    "BUILTIN_BUILDERS",
    "FAILURE_MESSAGES",
    "aliased",
    "builtin_builder",
    "declared_kernel",
    "declared_parameter_values",
    "declared_parameters",
    "float_trigger",
    "is_inexact_stream",
    "is_numeric_stream",
    "is_real_stream",
    "real_values",
    "stream_of_ndim",
    "timings",
    "trigger_of_ndim",
    "valid_values",
]

#: words drawn for auxiliary aliases
ALIAS_WORDS = ("a", "b", "ref", "bias", "w", "mask")
#: messages drawn for ``cpu.raise_error``
FAILURE_MESSAGES = ("injected failure", "boom", "stage failed")

#: builders of the built-in kinds, keyed by kind, in registration order (the
#: order kinds shrink towards: ``cpu.copy`` first)
BUILTIN_BUILDERS: dict[str, KernelBuilder] = {}


def builtin_builder(
    *kinds: str,
    accepts: Callable[[SharedMemoryConfig], bool] = any_stream,
    trigger: Callable[[str, Limits], Any] | None = None,
    bad_parameters: BadParameters | None = None,
) -> Callable[[Any], Any]:
    """Register the decorated ``build(slot)`` as the builder of ``kinds``.

    Examples
    --------
    The builder of ``cpu.copy``: the output is a stream like the trigger::

        @builtin_builder("cpu.copy")
        @st.composite
        def _copy(draw, slot):
            return KernelDraft(slot.kernel(), slot.output())
    """

    def register(build: Any) -> Any:
        builder = KernelBuilder(build, accepts, trigger, bad_parameters)
        for kind in kinds:
            BUILTIN_BUILDERS[kind] = builder
        return build

    return register


@functools.cache
def declared_parameters(kind: str) -> tuple[Any, ...]:
    """The parameters (``parameter_specs``) the built-in class of ``kind``
    declares, from the default registry."""
    from shmpipeline.registry import get_default_registry

    return tuple(get_default_registry().get(kind).parameter_specs or ())


def _kind(spec: SharedMemoryConfig) -> str:
    return np.dtype(spec.dtype).kind


def is_numeric_stream(spec: SharedMemoryConfig) -> bool:
    """True for integer, floating and complex streams."""
    return _kind(spec) in "iufc"


def is_real_stream(spec: SharedMemoryConfig) -> bool:
    """True for integer and floating streams."""
    return _kind(spec) in "iuf"


def is_inexact_stream(spec: SharedMemoryConfig) -> bool:
    """True for floating and complex streams."""
    return _kind(spec) in "fc"


def stream_of_ndim(
    ndim: int, accepts: Callable[[SharedMemoryConfig], bool]
) -> Callable[[SharedMemoryConfig], bool]:
    """A stream predicate: exactly ``ndim`` dimensions and ``accepts``."""
    return lambda spec: len(spec.shape) == ndim and accepts(spec)


def real_values() -> st.SearchStrategy[float | int]:
    """Parameter values: small ints and floats (finite)."""
    return st.one_of(
        st.integers(-3, 3),
        st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False),
    )


def valid_values(spec: Any) -> st.SearchStrategy[Any]:
    """Values a declared parameter accepts whatever the streams are."""
    if spec.type == "real":
        return st.sampled_from((0.5, 1, 1.0, 2, 3.0)) if spec.positive else real_values()
    if spec.type == "integer":
        return st.integers(-3, 3)
    if spec.type == "positive_int":
        return st.integers(1, 4)
    if spec.type == "boolean":
        return st.booleans()
    if spec.type == "choice":
        return st.sampled_from(spec.choices)
    return st.sampled_from(FAILURE_MESSAGES)


@st.composite
def declared_parameter_values(
    draw: Any, kind: str, skip: Iterable[str] = ()
) -> dict[str, Any]:
    """Every required declared parameter of ``kind`` and some optional ones
    (those in ``skip`` are left to the caller)."""
    params: dict[str, Any] = {}
    for spec in declared_parameters(kind):
        if spec.name in skip:
            continue
        if spec.required or draw(st.booleans()):
            params[spec.name] = draw(valid_values(spec))
    return params


@st.composite
def timings(draw: Any) -> dict[str, float]:
    """``read_timeout`` and ``pause_sleep`` keyword arguments for a kernel."""
    return {
        "read_timeout": draw(st.sampled_from((1.0, 0.5, 2.0))),
        "pause_sleep": draw(st.sampled_from((0.01, 0.001))),
    }


def declared_kernel(draw: Any, slot: KernelSlot) -> KernelConfig:
    """The slot's kernel with its kind's declared parameters
    (:func:`declared_parameter_values`) and :func:`timings`, drawn with the
    builder's ``draw``."""
    return slot.kernel(
        parameters=draw(declared_parameter_values(slot.kind)), **draw(timings())
    )


@st.composite
def aliased(draw: Any, streams: Sequence[SharedMemoryConfig]) -> list[Any]:
    """Bind ``streams`` in list form (alias = stream name) or under drawn
    identifier aliases."""
    if draw(st.booleans()):
        return [spec.name for spec in streams]
    bindings = []
    for index, spec in enumerate(streams):
        word = draw(st.sampled_from(ALIAS_WORDS))
        bindings.append((f"{word}{index}", spec.name))
    return bindings


def float_trigger(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
    """A fresh floating trigger stream within ``limits``."""
    return stream_configs(
        name=name,
        dtypes=limits.floats,
        max_dims=limits.max_dims,
        max_side=limits.max_side,
    )


def trigger_of_ndim(ndim: int) -> Callable[[str, Limits], Any]:
    """A trigger maker for fresh streams of exactly ``ndim`` dimensions."""
    def make(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
        return stream_configs(
            name=name,
            shape=shapes(min_dims=ndim, max_dims=ndim, max_side=limits.max_side),
            dtypes=limits.dtypes,
        )

    return make
