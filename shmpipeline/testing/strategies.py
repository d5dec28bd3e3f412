"""Hypothesis strategies for shmpipeline configurations (public API).

Property tests of a pipeline project need configs that vary: streams of
assorted shapes and dtypes, kernels wired the way each kind requires, whole
pipelines, and broken pipelines paired with the error they must produce. This
module generates all four. Importing it imports :mod:`hypothesis` (install
``shmpipeline[test]``); ``import shmpipeline.testing`` alone does not.

Strategies
----------
- :func:`stream_configs` -> :class:`~shmpipeline.config.SharedMemoryConfig`
  (identifier names, small shapes, dtypes from :data:`DEFAULT_DTYPES`, cpu).
- :func:`kernel_configs` ``(kind)`` -> :class:`KernelSetup`: one kernel config
  obeying the kind's arity, shape, dtype and parameter rules, plus the specs
  of every stream it binds (trigger first, auxiliaries, output last).
- :func:`pipeline_configs` -> valid :class:`~shmpipeline.config.PipelineConfig`
  DAGs, built in topological order: each kernel's trigger is an existing
  stream (a source or an earlier kernel's output), its output a new stream,
  its auxiliaries sources or earlier outputs. Failures shrink towards short
  chains of ``cpu.copy``. ``cpu.raise_error`` is excluded by default.
- :func:`pipeline_dicts` -> the same pipelines as raw mappings (what a YAML
  file holds), written in the accepted variant spellings (shape ``4`` for
  ``[4]``, dtype ``'<f4'``, ``storage: CPU``, list or mapping auxiliaries,
  explicit nulls); ``paired=True`` yields ``(raw, config)``.
- :func:`invalid_pipeline_configs` -> :class:`InvalidPipeline` pairs
  ``(raw, expected)``: a valid pipeline with exactly one defect (undefined
  stream, duplicate producer, shape or dtype mismatch, bad or unknown
  parameter, wrong auxiliary count, unknown key at any level, bad shape
  literal, bad or missing dtype, unknown kind, duplicate names, gpu_device on
  a cpu stream, trigger == output...). ``expected`` is a tuple of fragments
  that appear together in one error message; they always name the entry
  (``kernels[2] 'k2'``) and the field. Use :func:`find_error` to look for it.

Usage::

    from hypothesis import given
    from shmpipeline.config import PipelineConfig
    from shmpipeline.graph import validate_pipeline_config
    from shmpipeline.registry import get_default_registry
    from shmpipeline.testing import strategies as sps

    @given(sps.pipeline_configs(max_kernels=4))
    def test_valid_pipelines_validate(config):
        assert validate_pipeline_config(config) == []

    @given(sps.pipeline_configs())
    def test_round_trip(config):
        assert PipelineConfig.from_dict(config.to_dict()) == config

    @given(sps.invalid_pipeline_configs())
    def test_invalid_pipelines_fail(case):
        raw, expected = case
        assert sps.find_error(validate_pipeline_config(raw), expected)

    @given(sps.kernel_configs("cpu.affine_transform"))
    def test_affine_builds(setup):
        get_default_registry().create(setup.config, setup.shared_memory)

Defects found while parsing (see :data:`DEFECTS`; all but the kernel-rule
ones ``shape_mismatch``, ``dtype_mismatch``, ``bad_parameter``,
``unknown_parameter``, ``bad_operation``, ``wrong_arity`` and
``unknown_kind``) also make ``PipelineConfig.from_dict(raw)`` raise, with the
expected message among ``exc.errors``; ``defects=[...]`` restricts the mix.

Your own kernel kinds
---------------------
Every strategy takes ``registry`` (``None`` means the default registry) and
``kernel_builders``, a mapping ``kind -> builder`` for kinds this module does
not know. A builder is a callable ``builder(slot) -> SearchStrategy[KernelDraft]``
(or a :class:`KernelBuilder` adding which trigger streams the kind accepts
and how to make a fresh one). The :class:`KernelSlot` it receives holds the
kernel's name and kind, the chosen trigger stream, the name its output must
have and the streams it may reuse as auxiliaries, with helpers to build the
config (``slot.kernel``), the output spec (``slot.output``) and auxiliary
streams, reused or new (``slot.auxiliary``; list them in
``KernelDraft.auxiliary``)::

    from hypothesis import strategies as st

    def gain_builder(slot):
        return st.floats(-2, 2).map(
            lambda g: sps.KernelDraft(
                slot.kernel(parameters={"gain": g}), slot.output()
            )
        )

    registry = get_default_registry().extended(AcmeGainKernel)
    pipelines = sps.pipeline_configs(
        registry=registry,
        kernel_builders={
            "acme.gain": sps.KernelBuilder(
                gain_builder, accepts=lambda s: s.dtype.kind == "f"
            )
        },
    )

With ``kinds=None`` a pipeline mixes every built-in ``cpu.*`` kind the
registry holds with the kinds of ``kernel_builders``; pass ``kinds=[...]`` to
choose. Builders of the built-in kinds are in :data:`BUILTIN_BUILDERS`.
Invalid-config cases that depend on a kind's own messages (shape, dtype,
parameter and arity errors) target built-in kernels only; the structural
ones apply to every kernel.
"""

from __future__ import annotations

import copy
import keyword
import math
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import (
    AuxiliaryBinding,
    KernelConfig,
    PipelineConfig,
    SharedMemoryConfig,
)

__all__ = [
    "BAD_SHAPES",
    "BUILTIN_BUILDERS",
    "DEFAULT_DTYPES",
    "DEFECTS",
    "InvalidPipeline",
    "KernelBuilder",
    "KernelDraft",
    "KernelSetup",
    "KernelSlot",
    "Limits",
    "find_error",
    "invalid_pipeline_configs",
    "kernel_configs",
    "pipeline_configs",
    "pipeline_dicts",
    "shapes",
    "stream_configs",
    "stream_names",
]

#: dtypes streams are drawn from unless a strategy is told otherwise
DEFAULT_DTYPES: tuple[str, ...] = (
    "float32",
    "float64",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
)
_FLOATS = ("float32", "float64")
#: names an alias or stream must not take (expression functions, reserved)
_RESERVED_NAMES = frozenset(
    {
        "input",
        "abs",
        "sqrt",
        "exp",
        "log",
        "min",
        "max",
        "minimum",
        "maximum",
        "clip",
        "where",
    }
)


# --- streams ----------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Size limits shared by the strategies: the dtypes new streams take,
    the most dimensions and the largest side of a new stream's shape."""

    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    max_dims: int = 3
    max_side: int = 8

    def __post_init__(self) -> None:
        if not self.dtypes:
            raise InvalidArgument("dtypes must not be empty")
        for dtype in self.dtypes:
            if np.dtype(dtype).kind not in "iuf":
                raise InvalidArgument(
                    f"dtype {dtype!r}: only integer and floating dtypes are supported"
                )
        if self.max_dims < 1 or self.max_side < 1:
            raise InvalidArgument("max_dims and max_side must be >= 1")

    @property
    def floats(self) -> tuple[str, ...]:
        """The floating dtypes among ``dtypes`` (float32/float64 if none)."""
        found = tuple(d for d in self.dtypes if np.dtype(d).kind == "f")
        return found or _FLOATS


def _usable_name(name: str) -> bool:
    return not keyword.iskeyword(name) and name not in _RESERVED_NAMES


def stream_names() -> st.SearchStrategy[str]:
    """Stream names that are also usable as expression aliases: lower-case
    Python identifiers, no keywords, not ``input`` or a function name."""
    return st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(_usable_name)


def shapes(
    *, min_dims: int = 1, max_dims: int = 3, max_side: int = 8
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of ``min_dims``..``max_dims`` sides, each in ``1..max_side``."""
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(
        tuple
    )


def _as_strategy(value: Any) -> st.SearchStrategy[Any]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def stream_configs(
    *,
    name: str | st.SearchStrategy[str] | None = None,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[SharedMemoryConfig]:
    """Valid cpu :class:`SharedMemoryConfig` values.

    ``name`` and ``shape`` may be fixed values or strategies (default:
    :func:`stream_names`, :func:`shapes` within ``max_dims``/``max_side``);
    the dtype is drawn from ``dtypes``.
    """
    limits = Limits(tuple(dtypes), max_dims, max_side)
    names = stream_names() if name is None else _as_strategy(name)
    sizes = (
        shapes(max_dims=limits.max_dims, max_side=limits.max_side)
        if shape is None
        else _as_strategy(shape)
    )
    return st.builds(
        lambda n, s, d: SharedMemoryConfig(n, tuple(s), np.dtype(d)),
        names,
        sizes,
        st.sampled_from(limits.dtypes),
    )


# --- the builder protocol ------------------------------------------------------------


def _binding(item: Any) -> AuxiliaryBinding:
    if isinstance(item, AuxiliaryBinding):
        return item
    if isinstance(item, str):
        return AuxiliaryBinding(item, item)
    alias, name = item
    return AuxiliaryBinding(alias, name)


@dataclass(frozen=True)
class KernelSlot:
    """Where a kernel goes: what a builder knows when it draws one kernel.

    ``trigger`` is the stream chosen as the kernel's input; the output must be
    a new stream named ``output_name``; ``available`` lists the existing
    streams (never the trigger) the kernel may bind as auxiliaries; new
    auxiliary streams get names from :meth:`fresh_name`.
    """

    kind: str
    name: str
    trigger: SharedMemoryConfig
    output_name: str
    available: tuple[SharedMemoryConfig, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def fresh_name(self, tag: str) -> str:
        """A stream name unused in the pipeline, for a new auxiliary source."""
        name = f"{self.name}_{tag}"
        if name == self.output_name:
            raise InvalidArgument(f"tag {tag!r} collides with the output name")
        return name

    def output(
        self, shape: tuple[int, ...] | None = None, dtype: Any = None
    ) -> SharedMemoryConfig:
        """The output spec (default: the trigger's shape and dtype)."""
        return SharedMemoryConfig(
            self.output_name,
            tuple(self.trigger.shape if shape is None else shape),
            np.dtype(self.trigger.dtype if dtype is None else dtype),
        )

    def kernel(
        self,
        *,
        auxiliary: Iterable[Any] = (),
        parameters: Mapping[str, Any] | None = None,
        operation: str | None = None,
        read_timeout: float = 1.0,
        pause_sleep: float = 0.01,
    ) -> KernelConfig:
        """The kernel config with name, kind, input and output filled in.

        ``auxiliary`` items are :class:`AuxiliaryBinding`, ``(alias, stream)``
        pairs or stream names (alias = stream name).
        """
        return KernelConfig(
            name=self.name,
            kind=self.kind,
            input=self.trigger.name,
            output=self.output_name,
            auxiliary=tuple(_binding(item) for item in auxiliary),
            operation=operation,
            parameters=dict(parameters or {}),
            read_timeout=read_timeout,
            pause_sleep=pause_sleep,
        )

    def auxiliary(
        self,
        tag: str,
        *,
        shape: Any,
        dtype: Any,
        fits: Callable[[SharedMemoryConfig], bool] | None = None,
        exclude: Iterable[str] = (),
    ) -> st.SearchStrategy[SharedMemoryConfig]:
        """An auxiliary stream: an available one that ``fits`` (default: the
        given ``shape`` and ``dtype``), or a new source named
        ``fresh_name(tag)`` of that shape and dtype (values or strategies).
        Streams named in ``exclude`` (already bound) are not reused."""
        skip = set(exclude)
        if fits is None:
            if isinstance(shape, st.SearchStrategy) or isinstance(
                dtype, st.SearchStrategy
            ):
                candidates: list[SharedMemoryConfig] = []
            else:
                want_shape, want_dtype = tuple(shape), np.dtype(dtype)
                candidates = [
                    s
                    for s in self.available
                    if tuple(s.shape) == want_shape and s.dtype == want_dtype
                ]
        else:
            candidates = [s for s in self.available if fits(s)]
        candidates = [s for s in candidates if s.name not in skip]
        new = st.builds(
            lambda s, d: SharedMemoryConfig(
                self.fresh_name(tag), tuple(s), np.dtype(d)
            ),
            _as_strategy(shape),
            _as_strategy(dtype),
        )
        if not candidates:
            return new
        return st.one_of(new, st.sampled_from(candidates))


@dataclass(frozen=True)
class KernelDraft:
    """What a builder draws: the kernel config, its output spec, and the
    specs of its auxiliary streams (reused ones and new sources alike)."""

    config: KernelConfig
    output: SharedMemoryConfig
    auxiliary: tuple[SharedMemoryConfig, ...] = ()


def _any_stream(spec: SharedMemoryConfig) -> bool:
    return True


@dataclass(frozen=True)
class KernelBuilder:
    """How to generate kernels of one kind.

    - ``build(slot)`` returns a strategy of :class:`KernelDraft`;
    - ``accepts(spec)`` says whether a stream may be the trigger;
    - ``trigger(name, limits)`` returns a strategy of a fresh trigger spec
      named ``name`` (used when no existing stream is accepted, and by
      :func:`kernel_configs`); default: :func:`stream_configs` filtered by
      ``accepts``.
    """

    build: Callable[[KernelSlot], st.SearchStrategy[KernelDraft]]
    accepts: Callable[[SharedMemoryConfig], bool] = _any_stream
    trigger: Callable[[str, Limits], st.SearchStrategy[SharedMemoryConfig]] | None = (
        None
    )

    def trigger_streams(
        self, name: str, limits: Limits
    ) -> st.SearchStrategy[SharedMemoryConfig]:
        if self.trigger is not None:
            return self.trigger(name, limits)
        return stream_configs(
            name=name,
            dtypes=limits.dtypes,
            max_dims=limits.max_dims,
            max_side=limits.max_side,
        ).filter(self.accepts)


class KernelSetup(NamedTuple):
    """One kernel config and the specs of the streams it binds (trigger,
    auxiliaries, output), ready for ``registry.create(config, shared_memory)``."""

    config: KernelConfig
    shared_memory: tuple[SharedMemoryConfig, ...]


# --- built-in builders -----------------------------------------------------------------

_ALIAS_WORDS = ("a", "b", "ref", "bias", "w", "mask")


def _kind(spec: SharedMemoryConfig) -> str:
    return np.dtype(spec.dtype).kind


def _numeric(spec: SharedMemoryConfig) -> bool:
    return _kind(spec) in "iufc"


def _real(spec: SharedMemoryConfig) -> bool:
    return _kind(spec) in "iuf"


def _inexact(spec: SharedMemoryConfig) -> bool:
    return _kind(spec) in "fc"


def _reals() -> st.SearchStrategy[float | int]:
    """Parameter values: small ints and floats (finite)."""
    return st.one_of(
        st.integers(-3, 3),
        st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False),
    )


@st.composite
def _timing(draw: Any) -> dict[str, float]:
    return {
        "read_timeout": draw(st.sampled_from((1.0, 0.5, 2.0))),
        "pause_sleep": draw(st.sampled_from((0.01, 0.001))),
    }


@st.composite
def _aliased(draw: Any, streams: Sequence[SharedMemoryConfig]) -> list[Any]:
    """Bind ``streams`` in list form (alias = stream name) or under drawn
    identifier aliases."""
    if draw(st.booleans()):
        return [spec.name for spec in streams]
    bindings = []
    for index, spec in enumerate(streams):
        word = draw(st.sampled_from(_ALIAS_WORDS))
        bindings.append((f"{word}{index}", spec.name))
    return bindings


def _float_trigger(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
    return stream_configs(
        name=name,
        dtypes=limits.floats,
        max_dims=limits.max_dims,
        max_side=limits.max_side,
    )


def _trigger_of_ndim(ndim: int) -> Callable[[str, Limits], Any]:
    def make(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
        return stream_configs(
            name=name,
            shape=shapes(min_dims=ndim, max_dims=ndim, max_side=limits.max_side),
            dtypes=limits.dtypes,
        )

    return make


def _unary_builder(parameter: str | None) -> Callable[[KernelSlot], Any]:
    """copy (no parameter), scale (factor), add_constant (constant)."""

    @st.composite
    def build(draw: Any, slot: KernelSlot) -> KernelDraft:
        params = {parameter: draw(_reals())} if parameter else {}
        config = slot.kernel(parameters=params, **draw(_timing()))
        return KernelDraft(config, slot.output())

    return build


def _binary_builder(parameter: str | None) -> Callable[[KernelSlot], Any]:
    """elementwise_* (no parameter) and scale_offset (gain): one auxiliary of
    the trigger's shape and dtype."""

    @st.composite
    def build(draw: Any, slot: KernelSlot) -> KernelDraft:
        trigger = slot.trigger
        aux = draw(slot.auxiliary("aux", shape=trigger.shape, dtype=trigger.dtype))
        params = {parameter: draw(_reals())} if parameter else {}
        config = slot.kernel(
            auxiliary=draw(_aliased([aux])), parameters=params, **draw(_timing())
        )
        return KernelDraft(config, slot.output(), (aux,))

    return build


@st.composite
def _flatten(draw: Any, slot: KernelSlot) -> KernelDraft:
    size = math.prod(slot.trigger.shape)
    return KernelDraft(slot.kernel(**draw(_timing())), slot.output(shape=(size,)))


@st.composite
def _reduce(draw: Any, slot: KernelSlot) -> KernelDraft:
    params = {}
    operation = draw(st.sampled_from((None, "sum", "mean", "max", "min")))
    if operation is not None:
        params["operation"] = operation
    dtype = draw(st.sampled_from((slot.trigger.dtype.name, *_FLOATS)))
    shape = draw(st.sampled_from(((1,), (1, 1))))
    config = slot.kernel(parameters=params, **draw(_timing()))
    return KernelDraft(config, slot.output(shape=shape, dtype=dtype))


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
    params = {}
    if draw(st.booleans()):
        params["blas_threads"] = draw(st.integers(1, 4))
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(_timing()))
    return KernelDraft(config, slot.output(shape=(m,)), (matrix, offset))


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
                fits=lambda s: math.prod(s.shape) == 1 and _real(s),
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
    for key, values in (
        ("leak", st.floats(0.0, 1.0)),
        ("gain", _reals()),
    ):
        if key not in bound or draw(st.booleans()):
            params[key] = draw(values)
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(_timing()))
    return KernelDraft(config, slot.output(), tuple(specs))


@st.composite
def _spot_centroid(draw: Any, slot: KernelSlot) -> KernelDraft:
    params: dict[str, Any] = {}
    if draw(st.booleans()):
        params["threshold"] = draw(_reals())
    if draw(st.booleans()):
        params["background"] = draw(_reals())
    if draw(st.booleans()):
        params["weight_power"] = draw(st.sampled_from((0.5, 1, 1.0, 2, 3.0)))
    dtype = draw(st.sampled_from((*_FLOATS, slot.trigger.dtype.name)))
    config = slot.kernel(parameters=params, **draw(_timing()))
    return KernelDraft(config, slot.output(shape=(2,), dtype=dtype))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def _shack_hartmann(draw: Any, slot: KernelSlot) -> KernelDraft:
    height, width = slot.trigger.shape
    common = [d for d in _divisors(height) if width % d == 0]
    tile = draw(st.sampled_from(common[::-1]))  # shrinks towards the largest
    dtype = draw(st.sampled_from((*_FLOATS, slot.trigger.dtype.name)))
    config = slot.kernel(parameters={"tile_size": tile}, **draw(_timing()))
    output = slot.output(shape=(height // tile, width // tile, 2), dtype=dtype)
    return KernelDraft(config, output)


@st.composite
def _raise_error(draw: Any, slot: KernelSlot) -> KernelDraft:
    message = draw(st.sampled_from(("injected failure", "boom", "stage failed")))
    config = slot.kernel(parameters={"message": message}, **draw(_timing()))
    return KernelDraft(config, slot.output())


# --- custom_operation: generated whitelisted expressions ----------------------------

# Trees: ("var", name) | ("const", value) | ("unary", op, x) | ("call", f, args)
#        | ("bin", op, left, right) | ("cmp", op, left, right)
# Every generated tree contains a variable and no sub-expression made only of
# literals (so nothing is constant-folded), and literals are chosen so every
# dtype takes them (no negative ints: NumPy refuses -1 for a uint8 operand).
_INT_CONSTS = (1, 2, 3)
_FLOAT_CONSTS = (0.5, 1.5, 2.0, -0.25, -1.5, 10.0)
_BINARY_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_COMPARE_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_UNARY_CALLS = {"abs": np.absolute, "sqrt": np.sqrt, "exp": np.exp, "log": np.log}


def _constants() -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from(_INT_CONSTS + _FLOAT_CONSTS).map(lambda v: ("const", v))


def _expression_trees(names: Sequence[str], depth: int) -> st.SearchStrategy[Any]:
    leaf = st.sampled_from(list(names)).map(lambda n: ("var", n))
    if depth <= 0:
        return leaf
    sub = _expression_trees(names, depth - 1)
    operand = st.one_of(sub, _constants())
    return st.one_of(
        leaf,
        sub.map(lambda x: ("unary", "-", x)),
        st.tuples(st.sampled_from(sorted(_UNARY_CALLS)), sub).map(
            lambda t: ("call", t[0], (t[1],))
        ),
        st.tuples(st.sampled_from(sorted(_BINARY_OPS)), sub, operand).map(
            lambda t: ("bin", t[0], t[1], t[2])
        ),
        st.tuples(st.sampled_from(("+", "-", "*", "/")), _constants(), sub).map(
            lambda t: ("bin", t[0], t[1], t[2])
        ),
        st.tuples(sub, st.sampled_from((2, 0.5))).map(
            lambda t: ("bin", "**", t[0], ("const", t[1]))
        ),
        st.tuples(st.sampled_from(("minimum", "maximum")), sub, operand).map(
            lambda t: ("call", t[0], (t[1], t[2]))
        ),
        st.tuples(st.sampled_from(("min", "max")), sub, operand, operand).map(
            lambda t: ("call", t[0], (t[1], t[2], t[3]))
        ),
        st.tuples(sub, st.floats(-4, 4), st.floats(0, 4)).map(
            lambda t: (
                "call",
                "clip",
                (t[0], ("const", t[1]), ("const", t[1] + t[2])),
            )
        ),
        st.tuples(
            st.one_of(
                st.tuples(st.sampled_from(sorted(_COMPARE_OPS)), sub, operand).map(
                    lambda t: ("cmp", t[0], t[1], t[2])
                ),
                sub,
            ),
            operand,
            operand,
        ).map(lambda t: ("call", "where", t)),
    )


def _render(tree: Any) -> str:
    tag = tree[0]
    if tag == "var":
        return tree[1]
    if tag == "const":
        value = tree[1]
        return f"({value!r})" if value < 0 else repr(value)
    if tag == "unary":
        return f"(-{_render(tree[2])})"
    if tag == "call":
        return f"{tree[1]}({', '.join(_render(arg) for arg in tree[2])})"
    return f"({_render(tree[2])} {tree[1]} {_render(tree[3])})"


def _evaluate(tree: Any, values: Mapping[str, Any]) -> Any:
    """NumPy reference semantics of a tree (literals stay weak scalars)."""
    tag = tree[0]
    if tag == "var":
        return values[tree[1]]
    if tag == "const":
        return tree[1]
    if tag == "unary":
        return np.negative(_evaluate(tree[2], values))
    if tag == "cmp":
        left, right = (_evaluate(t, values) for t in tree[2:])
        return _COMPARE_OPS[tree[1]](left, right)
    if tag == "bin":
        left, right = (_evaluate(t, values) for t in tree[2:])
        if tree[1] == "**":
            return np.power(left, right)
        if tree[1] == "@":
            return np.matmul(left, right)
        return _BINARY_OPS[tree[1]](left, right)
    name, args = tree[1], [_evaluate(t, values) for t in tree[2]]
    if name in _UNARY_CALLS:
        return _UNARY_CALLS[name](args[0])
    if name in ("minimum", "min"):
        result = np.minimum(args[0], args[1])
        return result if len(args) == 2 else np.minimum(result, args[2])
    if name in ("maximum", "max"):
        result = np.maximum(args[0], args[1])
        return result if len(args) == 2 else np.maximum(result, args[2])
    if name == "clip":
        return np.minimum(np.maximum(args[0], args[1]), args[2])
    return np.where(*args)


def _suffixes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return [tuple(shape[i:]) for i in range(len(shape))] + [(1,)]


@st.composite
def _custom_operation(draw: Any, slot: KernelSlot) -> KernelDraft:
    trigger = slot.trigger
    shape = tuple(trigger.shape)
    variables: dict[str, SharedMemoryConfig] = {"input": trigger}
    bindings: list[Any] = []
    specs: list[SharedMemoryConfig] = []

    def broadcasts(spec: SharedMemoryConfig) -> bool:
        try:
            return _real(spec) and np.broadcast_shapes(spec.shape, shape) == shape
        except ValueError:
            return False

    def bind(spec: SharedMemoryConfig, index: int) -> str:
        if draw(st.booleans()):
            alias = spec.name
            bindings.append(spec.name)
        else:
            alias = f"{draw(st.sampled_from(_ALIAS_WORDS))}{index}"
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

    tree = draw(_expression_trees(list(variables), draw(st.integers(0, 3))))
    probes = {
        alias: np.ones(spec.shape, np.dtype(spec.dtype))
        for alias, spec in variables.items()
    }
    with np.errstate(all="ignore"):
        result = np.asarray(_evaluate(tree, probes))
    if len(shape) == 1 and result.ndim == 1 and draw(st.booleans()):
        # y = M @ (expression): a 2-D auxiliary of any row count
        n = result.shape[0]
        index = len(specs)
        matrix = draw(
            slot.auxiliary(
                f"x{index}",
                shape=st.integers(1, slot.limits.max_side).map(lambda m: (m, n)),
                dtype=st.sampled_from(slot.limits.dtypes),
                fits=lambda s: len(s.shape) == 2 and s.shape[1] == n and _real(s),
                exclude=[s.name for s in specs],
            )
        )
        alias = bind(matrix, index)
        variables[alias] = matrix
        tree = ("bin", "@", ("var", alias), tree)
        probes[alias] = np.ones(matrix.shape, np.dtype(matrix.dtype))
        with np.errstate(all="ignore"):
            result = np.asarray(_evaluate(tree, probes))
    config = slot.kernel(auxiliary=bindings, operation=_render(tree), **draw(_timing()))
    return KernelDraft(config, slot.output(result.shape, result.dtype), tuple(specs))


def _shack_trigger(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
    side = st.integers(1, max(limits.max_side, 2))
    return stream_configs(name=name, shape=st.tuples(side, side), dtypes=limits.dtypes)


_COPY = KernelBuilder(_unary_builder(None))
_SHACK = KernelBuilder(
    _shack_hartmann,
    accepts=lambda s: len(s.shape) == 2 and _real(s),
    trigger=_shack_trigger,
)

#: builders of the built-in kinds, keyed by kind (shrinking order: copy first)
BUILTIN_BUILDERS: dict[str, KernelBuilder] = {
    "cpu.copy": _COPY,
    "cpu.scale": KernelBuilder(_unary_builder("factor"), accepts=_numeric),
    "cpu.add_constant": KernelBuilder(_unary_builder("constant"), accepts=_numeric),
    "cpu.flatten": KernelBuilder(_flatten),
    "cpu.elementwise_add": KernelBuilder(_binary_builder(None), accepts=_numeric),
    "cpu.elementwise_subtract": KernelBuilder(_binary_builder(None), accepts=_numeric),
    "cpu.elementwise_multiply": KernelBuilder(_binary_builder(None), accepts=_numeric),
    "cpu.elementwise_divide": KernelBuilder(
        _binary_builder(None), accepts=_inexact, trigger=_float_trigger
    ),
    "cpu.scale_offset": KernelBuilder(_binary_builder("gain"), accepts=_numeric),
    "cpu.reduce": KernelBuilder(_reduce, accepts=_numeric),
    "cpu.affine_transform": KernelBuilder(
        _affine,
        accepts=lambda s: len(s.shape) == 1 and _numeric(s),
        trigger=_trigger_of_ndim(1),
    ),
    "cpu.leaky_integrator": KernelBuilder(
        _leaky_integrator, accepts=_inexact, trigger=_float_trigger
    ),
    "cpu.custom_operation": KernelBuilder(_custom_operation, accepts=_real),
    "cpu.spot_centroid": KernelBuilder(
        _spot_centroid,
        accepts=lambda s: len(s.shape) == 2 and _real(s),
        trigger=_trigger_of_ndim(2),
    ),
    "cpu.shack_hartmann_centroid": _SHACK,
    "cpu.centroid": _SHACK,
    "cpu.raise_error": KernelBuilder(_raise_error),
}

_DEFAULT_EXCLUDE = ("cpu.raise_error",)


# --- resolving kinds against a registry ------------------------------------------------


def _registry(registry: Any) -> Any:
    if registry is None:
        from shmpipeline.registry import get_default_registry

        return get_default_registry()
    return registry


def _builders(
    kinds: Sequence[str] | None,
    registry: Any,
    kernel_builders: Mapping[str, Any] | None,
    exclude: Sequence[str],
) -> dict[str, KernelBuilder]:
    """Kind -> builder for the kinds a pipeline may use, in shrinking order."""
    custom = {
        kind: b if isinstance(b, KernelBuilder) else KernelBuilder(b)
        for kind, b in (kernel_builders or {}).items()
    }
    listing = getattr(registry, "kinds", None)
    known = set(listing()) if callable(listing) else None
    if kinds is None:
        chosen = [
            k
            for k in BUILTIN_BUILDERS
            if (known is None or k in known) and k not in custom
        ]
        chosen += list(custom)
        chosen = [k for k in chosen if k not in exclude]
    else:
        if isinstance(kinds, str):
            kinds = [kinds]
        chosen = list(dict.fromkeys(kinds))
    if not chosen:
        raise InvalidArgument("no kernel kinds to draw from")
    result: dict[str, KernelBuilder] = {}
    for kind in chosen:
        if known is not None and kind not in known:
            raise InvalidArgument(
                f"kernel kind {kind!r} is not in the registry; pass registry= "
                "a registry that has it"
            )
        builder = custom.get(kind) or BUILTIN_BUILDERS.get(kind)
        if builder is None:
            raise InvalidArgument(
                f"no strategy builder for kernel kind {kind!r}; pass "
                f"kernel_builders={{{kind!r}: builder}}"
            )
        result[kind] = builder
    return result


# --- kernels and pipelines -------------------------------------------------------------


def kernel_configs(
    kind: str,
    *,
    registry: Any = None,
    kernel_builders: Mapping[str, Any] | None = None,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[KernelSetup]:
    """Valid single-kernel setups of ``kind``: a :class:`KernelSetup` whose
    ``config`` is named ``k0`` and reads a fresh trigger ``in0``."""
    builders = _builders([kind], _registry(registry), kernel_builders, ())
    builder = builders[kind]
    limits = Limits(tuple(dtypes), max_dims, max_side)

    @st.composite
    def setup(draw: Any) -> KernelSetup:
        trigger = draw(builder.trigger_streams("in0", limits))
        slot = KernelSlot(kind, "k0", trigger, "k0_out", (), limits)
        draft = draw(builder.build(slot))
        _check_draft(draft, slot, {trigger.name: trigger})
        return KernelSetup(draft.config, (trigger, *draft.auxiliary, draft.output))

    return setup()


def _check_draft(
    draft: Any, slot: KernelSlot, streams: Mapping[str, SharedMemoryConfig]
) -> None:
    """Catch builder mistakes with a message instead of a confusing failure."""
    if not isinstance(draft, KernelDraft):
        raise InvalidArgument(
            f"the builder of {slot.kind!r} drew {draft!r}, not a KernelDraft"
        )
    config = draft.config
    if config.input != slot.trigger.name or config.output != draft.output.name:
        raise InvalidArgument(
            f"the builder of {slot.kind!r} must bind input {slot.trigger.name!r} "
            f"and its output spec's name (got {config.input!r} -> {config.output!r})"
        )
    if draft.output.name in streams:
        raise InvalidArgument(
            f"the builder of {slot.kind!r} writes existing stream {draft.output.name!r}"
        )
    bound = set(config.auxiliary_names)
    for spec in draft.auxiliary:
        known = streams.get(spec.name)
        if known is not None and known != spec:
            raise InvalidArgument(
                f"the builder of {slot.kind!r} redefines stream {spec.name!r}"
            )
        bound.discard(spec.name)
    missing = bound - set(streams)
    if missing:
        raise InvalidArgument(
            f"the builder of {slot.kind!r} binds {sorted(missing)} without "
            "listing their specs in KernelDraft.auxiliary"
        )


@dataclass(frozen=True)
class _Draft:
    """A drawn valid pipeline before rendering."""

    streams: tuple[SharedMemoryConfig, ...]
    kernels: tuple[KernelConfig, ...]

    def config(self) -> PipelineConfig:
        return PipelineConfig(shared_memory=self.streams, kernels=self.kernels)


@st.composite
def _pipeline_drafts(
    draw: Any,
    builders: Mapping[str, KernelBuilder],
    min_kernels: int,
    max_kernels: int,
    limits: Limits,
) -> _Draft:
    streams: dict[str, SharedMemoryConfig] = {}
    sources = 0

    def new_source(strategy_for: Callable[[str], Any]) -> SharedMemoryConfig:
        nonlocal sources
        name = f"in{sources}"
        sources += 1
        spec = draw(strategy_for(name))
        streams[name] = spec
        return spec

    kinds = list(builders)
    kernels: list[KernelConfig] = []
    for index in range(draw(st.integers(min_kernels, max_kernels))):
        kind = draw(st.sampled_from(kinds))
        builder = builders[kind]
        # an existing stream, latest first (shrinking the choice to index 0
        # makes a chain), or last a fresh source (so no source is orphaned)
        candidates = [s for s in reversed(streams.values()) if builder.accepts(s)]
        trigger = draw(st.sampled_from([*candidates, None])) if candidates else None
        if trigger is None:
            trigger = new_source(
                lambda name, b=builder: b.trigger_streams(name, limits)
            )
        name = f"k{index}"
        slot = KernelSlot(
            kind,
            name,
            trigger,
            f"{name}_out",
            tuple(s for s in streams.values() if s.name != trigger.name),
            limits,
        )
        draft = draw(builder.build(slot))
        _check_draft(draft, slot, streams)
        for spec in draft.auxiliary:
            streams.setdefault(spec.name, spec)
        streams[draft.output.name] = draft.output
        kernels.append(draft.config)
    return _Draft(tuple(streams.values()), tuple(kernels))


def _drafts(
    *,
    min_kernels: int,
    max_kernels: int,
    kinds: Sequence[str] | None,
    registry: Any,
    kernel_builders: Mapping[str, Any] | None,
    exclude: Sequence[str],
    dtypes: Sequence[str],
    max_dims: int,
    max_side: int,
) -> st.SearchStrategy[_Draft]:
    if not 1 <= min_kernels <= max_kernels:
        raise InvalidArgument("need 1 <= min_kernels <= max_kernels")
    builders = _builders(kinds, _registry(registry), kernel_builders, exclude)
    limits = Limits(tuple(dtypes), max_dims, max_side)
    return _pipeline_drafts(builders, min_kernels, max_kernels, limits)


def pipeline_configs(
    *,
    max_kernels: int = 5,
    min_kernels: int = 1,
    kinds: Sequence[str] | None = None,
    registry: Any = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = _DEFAULT_EXCLUDE,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[PipelineConfig]:
    """Valid :class:`PipelineConfig` DAGs of ``min_kernels..max_kernels``
    kernels, in topological (config) order.

    Sources are named ``in0, in1...``; kernel ``k<i>`` writes ``k<i>_out``;
    new auxiliary sources are named ``k<i>_<tag>``. ``kinds`` restricts the
    kinds used (default: every built-in cpu kind of ``registry`` plus the
    ``kernel_builders`` kinds, less ``exclude``).
    """
    return _drafts(
        min_kernels=min_kernels,
        max_kernels=max_kernels,
        kinds=kinds,
        registry=registry,
        kernel_builders=kernel_builders,
        exclude=exclude,
        dtypes=dtypes,
        max_dims=max_dims,
        max_side=max_side,
    ).map(_Draft.config)


# --- raw mappings ------------------------------------------------------------------------


@st.composite
def _raw_stream(draw: Any, spec: SharedMemoryConfig) -> dict[str, Any]:
    dtype = np.dtype(spec.dtype)
    raw: dict[str, Any] = {"name": spec.name}
    shape = [int(n) for n in spec.shape]
    raw["shape"] = shape[0] if len(shape) == 1 and draw(st.booleans()) else shape
    raw["dtype"] = draw(
        st.sampled_from((dtype.name, dtype.str, f"{dtype.kind}{dtype.itemsize}"))
    )
    storage = draw(st.sampled_from((None, "cpu", "CPU", "omit")))
    if storage != "omit":
        raw["storage"] = storage
    if draw(st.booleans()):
        raw["gpu_device"] = None
    return raw


@st.composite
def _raw_kernel(draw: Any, config: KernelConfig) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": config.name,
        "kind": config.kind,
        "input": config.input,
        "output": config.output,
    }
    if config.auxiliary:
        if all(b.alias == b.name for b in config.auxiliary) and draw(st.booleans()):
            raw["auxiliary"] = [b.name for b in config.auxiliary]
        else:
            raw["auxiliary"] = {b.alias: b.name for b in config.auxiliary}
    elif draw(st.booleans()):
        raw["auxiliary"] = draw(st.sampled_from((None, [], {})))
    if config.operation is not None:
        raw["operation"] = config.operation
    elif draw(st.booleans()):
        raw["operation"] = None
    if config.parameters:
        raw["parameters"] = copy.deepcopy(config.parameters)
    elif draw(st.booleans()):
        raw["parameters"] = draw(st.sampled_from((None, {})))
    for key, default in (("read_timeout", 1.0), ("pause_sleep", 0.01)):
        value = getattr(config, key)
        if value != default or draw(st.booleans()):
            raw[key] = value
    # key order is free in a mapping; vary it
    keys = draw(st.permutations(list(raw)))
    return {key: raw[key] for key in keys}


@st.composite
def _raw_pipeline(draw: Any, draft: _Draft) -> dict[str, Any]:
    streams = [draw(_raw_stream(spec)) for spec in draft.streams]
    kernels = [draw(_raw_kernel(config)) for config in draft.kernels]
    return {"shared_memory": streams, "kernels": kernels}


def _raw_pairs(drafts: st.SearchStrategy[_Draft]) -> st.SearchStrategy[Any]:
    @st.composite
    def pairs(draw: Any) -> tuple[dict[str, Any], _Draft]:
        draft = draw(drafts)
        return draw(_raw_pipeline(draft)), draft

    return pairs()


def pipeline_dicts(
    *,
    max_kernels: int = 5,
    min_kernels: int = 1,
    kinds: Sequence[str] | None = None,
    registry: Any = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = _DEFAULT_EXCLUDE,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
    paired: bool = False,
) -> st.SearchStrategy[Any]:
    """Valid pipelines as raw mappings (the YAML form), in varied accepted
    spellings. With ``paired=True`` yields ``(raw, config)`` where ``config``
    is the :class:`PipelineConfig` that ``PipelineConfig.from_dict(raw)``
    must equal. Arguments as :func:`pipeline_configs`."""
    drafts = _drafts(
        min_kernels=min_kernels,
        max_kernels=max_kernels,
        kinds=kinds,
        registry=registry,
        kernel_builders=kernel_builders,
        exclude=exclude,
        dtypes=dtypes,
        max_dims=max_dims,
        max_side=max_side,
    )
    pairs = _raw_pairs(drafts)
    if paired:
        return pairs.map(lambda pair: (pair[0], pair[1].config()))
    return pairs.map(lambda pair: pair[0])


# --- invalid pipelines -------------------------------------------------------------------


class InvalidPipeline(NamedTuple):
    """A raw pipeline mapping with one defect, and the fragments that must
    appear together in one of the error messages it produces."""

    raw: dict[str, Any]
    expected: tuple[str, ...]


def find_error(messages: Iterable[str], expected: Sequence[str] | str) -> str | None:
    """The first message containing every fragment of ``expected``, or None."""
    fragments = (expected,) if isinstance(expected, str) else tuple(expected)
    for message in messages:
        if all(fragment in message for fragment in fragments):
            return message
    return None


_MISSING = "zz_missing"
_FOREIGN_F8 = ">f8" if sys.byteorder == "little" else "<f8"
_NEW = "zz_new"


@dataclass
class _Case:
    """What a mutator sees: the raw mapping (its own copy), the draft, the
    registry and which kernels are built-in cpu kernels (by kind suffix)."""

    raw: dict[str, Any]
    draft: _Draft
    builtin: dict[int, str]

    def kernel_where(self, index: int) -> str:
        return f"kernels[{index}] {self.draft.kernels[index].name!r}"

    def stream_where(self, index: int) -> str:
        return f"shared_memory[{index}] {self.draft.streams[index].name!r}"

    def stream_index(self, name: str) -> int:
        return [s.name for s in self.draft.streams].index(name)

    def kernel_raw(self, index: int) -> dict[str, Any]:
        return self.raw["kernels"][index]

    def stream_raw(self, name: str) -> dict[str, Any]:
        return self.raw["shared_memory"][self.stream_index(name)]


Mutator = Callable[[Any, _Case], tuple[str, ...] | None]


def _pick(draw: Any, indices: Sequence[int]) -> int | None:
    return draw(st.sampled_from(list(indices))) if indices else None


def _undefined_stream(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    raw = case.kernel_raw(index)
    fields = ["input", "output"] + [f"aux{j}" for j in range(len(kernel.auxiliary))]
    choice = draw(st.sampled_from(fields))
    if choice in ("input", "output"):
        raw[choice] = _MISSING
        field_name = choice
    else:
        binding = kernel.auxiliary[int(choice[3:])]
        aux = raw["auxiliary"]
        if isinstance(aux, list):
            aux[aux.index(binding.name)] = _MISSING
            field_name = f"auxiliary.{_MISSING}"
        else:
            aux[binding.alias] = _MISSING
            field_name = f"auxiliary.{binding.alias}"
    return (
        f"{case.kernel_where(index)}: {field_name}: undefined shared memory {_MISSING!r}",
    )


def _duplicate_producer(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    twin = copy.deepcopy(case.kernel_raw(index))
    twin["name"] = "zz_twin"
    case.raw["kernels"].append(twin)
    new = len(case.raw["kernels"]) - 1
    output = case.draft.kernels[index].output
    return (
        f"kernels[{new}] 'zz_twin': output: shared memory {output!r} is already "
        f"produced by {case.kernel_where(index)}",
    )


def _trigger_is_output(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    case.kernel_raw(index)["output"] = kernel.input
    return (
        f"{case.kernel_where(index)}: output: is the trigger input {kernel.input!r}",
    )


def _auxiliary_is_trigger(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    raw = case.kernel_raw(index)
    aux = raw.get("auxiliary")
    if isinstance(aux, list) and aux:
        aux.append(kernel.input)
        alias = kernel.input
    else:
        raw["auxiliary"] = {**(aux or {}), "zz_alias": kernel.input}
        alias = "zz_alias"
    return (
        f"{case.kernel_where(index)}: auxiliary.{alias}: stream {kernel.input!r} "
        "is already the trigger input",
    )


def _kernel_output_field(case: _Case, index: int) -> str:
    return "operation" if case.builtin[index] == "custom_operation" else "output"


def _shape_mismatch(draw: Any, case: _Case) -> tuple[str, ...] | None:
    eligible = [i for i, suffix in case.builtin.items() if suffix != "raise_error"]
    index = _pick(draw, eligible)
    if index is None:
        return None
    output = case.draft.kernels[index].output
    spec = case.draft.streams[case.stream_index(output)]
    shape = list(spec.shape)
    shape[0] += draw(st.integers(1, 2))
    case.stream_raw(output)["shape"] = shape
    return (
        f"{case.kernel_where(index)}: {_kernel_output_field(case, index)}:",
        "shape",
    )


def _dtype_mismatch(draw: Any, case: _Case) -> tuple[str, ...] | None:
    eligible = [i for i, suffix in case.builtin.items() if suffix != "raise_error"]
    index = _pick(draw, eligible)
    if index is None:
        return None
    kernel = case.draft.kernels[index]
    by_name = {s.name: s for s in case.draft.streams}
    taken = {by_name[kernel.input].dtype.name, by_name[kernel.output].dtype.name}
    choices = [d for d in ("int16", "int32", "uint8", "int64") if d not in taken]
    case.stream_raw(kernel.output)["dtype"] = draw(st.sampled_from(choices))
    return (
        f"{case.kernel_where(index)}: {_kernel_output_field(case, index)}:",
        "dtype",
    )


# kind suffix -> [(parameter, bad values)]; a bad value for a parameter the
# kind reads must fail whether or not the parameter was present
_BAD_PARAMETERS: dict[str, list[tuple[str, tuple[Any, ...]]]] = {
    "scale": [("factor", ("x", True, None, float("nan"), [1.0]))],
    "add_constant": [("constant", ("x", False, float("inf")))],
    "scale_offset": [("gain", ("x", True))],
    "reduce": [("operation", ("median", 1, "Sum"))],
    "leaky_integrator": [("leak", ("x", True)), ("gain", ("fast", None))],
    "spot_centroid": [
        ("weight_power", (0, -1.0, "x")),
        ("threshold", ("x", float("nan"))),
        ("background", (True,)),
    ],
    "shack_hartmann_centroid": [("tile_size", (2.5, 0, -2, True, "4"))],
    "centroid": [("tile_size", (2.5, 0, True))],
    "affine_transform": [("blas_threads", (0, 1.5, "two"))],
    "raise_error": [("message", ("", 3))],
}
# kinds whose required parameter may be deleted
_REQUIRED_PARAMETERS = {
    "scale": "factor",
    "add_constant": "constant",
    "scale_offset": "gain",
    "shack_hartmann_centroid": "tile_size",
    "centroid": "tile_size",
    "raise_error": "message",
}


def _bad_parameter(draw: Any, case: _Case) -> tuple[str, ...] | None:
    options: list[tuple[int, str, Any]] = []
    for index, suffix in case.builtin.items():
        for key, values in _BAD_PARAMETERS.get(suffix, ()):
            options += [(index, key, value) for value in values]
        if suffix in _REQUIRED_PARAMETERS:
            options.append((index, _REQUIRED_PARAMETERS[suffix], _MISSING))
        if suffix == "shack_hartmann_centroid":
            options.append((index, "tile_size", "not dividing"))
    if not options:
        return None
    index, key, value = draw(st.sampled_from(options))
    raw = case.kernel_raw(index)
    params = dict(raw.get("parameters") or {})
    if value == "not dividing":
        by_name = {s.name: s for s in case.draft.streams}
        height, width = by_name[case.draft.kernels[index].input].shape
        value = max(height, width) + 1
    if value == _MISSING:
        params.pop(key, None)
    else:
        params[key] = value
    raw["parameters"] = params
    return (f"{case.kernel_where(index)}: parameters.{key}:",)


def _unknown_parameter(draw: Any, case: _Case) -> tuple[str, ...] | None:
    index = _pick(draw, sorted(case.builtin))
    if index is None:
        return None
    key = draw(st.sampled_from(("zz_bogus", "factr", "Tile_size")))
    raw = case.kernel_raw(index)
    raw["parameters"] = {**(raw.get("parameters") or {}), key: 1}
    return (f"{case.kernel_where(index)}: parameters.{key}:",)


def _bad_operation(draw: Any, case: _Case) -> tuple[str, ...] | None:
    index = _pick(draw, [i for i, s in case.builtin.items() if s == "custom_operation"])
    if index is None:
        return None
    expression = draw(
        st.sampled_from(
            (
                "input ^ 2",
                "__import__('os')",
                "input.sum()",
                "zz_unknown * 2",
                "input +",
                "sqrt(input, 2)",
                "input if input else 1",
            )
        )
    )
    case.kernel_raw(index)["operation"] = expression
    return (f"{case.kernel_where(index)}: operation:",)


_FIXED_ARITY = {
    "copy": 0,
    "scale": 0,
    "add_constant": 0,
    "flatten": 0,
    "reduce": 0,
    "spot_centroid": 0,
    "shack_hartmann_centroid": 0,
    "centroid": 0,
    "scale_offset": 1,
    "elementwise_add": 1,
    "elementwise_subtract": 1,
    "elementwise_multiply": 1,
    "elementwise_divide": 1,
    "affine_transform": 2,
}


def _wrong_arity(draw: Any, case: _Case) -> tuple[str, ...] | None:
    index = _pick(draw, [i for i, s in case.builtin.items() if s in _FIXED_ARITY])
    if index is None:
        return None
    raw = case.kernel_raw(index)
    if _FIXED_ARITY[case.builtin[index]] == 0:
        case.raw["shared_memory"].append(
            {"name": _NEW, "shape": [1], "dtype": "float32"}
        )
        raw["auxiliary"] = [_NEW]
        count = 1
    else:
        raw.pop("auxiliary")
        count = 0
    return (f"{case.kernel_where(index)}: auxiliary:", f"got {count}")


def _unknown_key(draw: Any, case: _Case) -> tuple[str, ...]:
    level = draw(st.sampled_from(("pipeline", "stream", "kernel")))
    key = draw(st.sampled_from(("colour", "zz_extra", "Shape", "Kind", "inputs")))
    if level == "pipeline":
        case.raw[key] = 1
        return (f"pipeline: unknown key {key!r}",)
    if level == "stream":
        index = draw(st.integers(0, len(case.draft.streams) - 1))
        case.raw["shared_memory"][index][key] = 1
        where = case.stream_where(index)
    else:
        index = draw(st.integers(0, len(case.draft.kernels) - 1))
        case.kernel_raw(index)[key] = 1
        where = case.kernel_where(index)
        if key == "inputs":  # a real kernel key, exclusive with input
            return (f"{where}: inputs: use either 'input' or 'inputs', not both",)
    return (f"{where}: unknown key {key!r}",)


#: shape values the ``bad_shape`` defect writes (SPEC §4: 2.7, "a", 0, booleans)
BAD_SHAPES: tuple[Any, ...] = (
    2.7,
    "a",
    0,
    True,
    -1,
    False,
    [],
    [4, 2.7],
    [2, 0],
    [3, "4"],
    [True, 2],
    None,
)


def _bad_shape(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    value = draw(st.sampled_from(BAD_SHAPES))
    case.raw["shared_memory"][index]["shape"] = value
    return (f"{case.stream_where(index)}: shape:",)


def _bad_dtype(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    value = draw(
        st.sampled_from(
            (_MISSING, None, "int", "floot32", "object", "U8", 32, _FOREIGN_F8)
        )
    )
    raw = case.raw["shared_memory"][index]
    if value == _MISSING:
        del raw["dtype"]
    else:
        raw["dtype"] = value
    return (f"{case.stream_where(index)}: dtype:",)


def _unknown_kind(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kind = draw(st.sampled_from(("cpu.sclae", "acme.nothing", "gpu.nosuch", "copy2")))
    case.kernel_raw(index)["kind"] = kind
    return (f"{case.kernel_where(index)}: kind:", f"unknown kernel kind {kind!r}")


def _duplicate_stream_name(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    twin = copy.deepcopy(case.raw["shared_memory"][index])
    if draw(st.booleans()):
        twin["shape"] = [1]  # a conflicting definition, not just a repeat
    case.raw["shared_memory"].append(twin)
    new = len(case.raw["shared_memory"]) - 1
    name = case.draft.streams[index].name
    return (
        f"shared_memory[{new}] {name!r}: name: duplicate shared memory name "
        f"(also {case.stream_where(index)})",
    )


def _duplicate_kernel_name(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    output = case.draft.streams[case.stream_index(kernel.output)]
    twin = copy.deepcopy(case.kernel_raw(index))
    twin["output"] = _NEW
    case.raw["shared_memory"].append(
        {"name": _NEW, "shape": list(output.shape), "dtype": output.dtype.name}
    )
    case.raw["kernels"].append(twin)
    new = len(case.raw["kernels"]) - 1
    return (
        f"kernels[{new}] {kernel.name!r}: name: duplicate kernel name "
        f"(also {case.kernel_where(index)})",
    )


def _gpu_device_on_cpu(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    case.raw["shared_memory"][index]["gpu_device"] = draw(
        st.sampled_from(("cuda:0", "cuda"))
    )
    return (f"{case.stream_where(index)}: gpu_device: not allowed on a cpu stream",)


def _bad_storage(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    case.raw["shared_memory"][index]["storage"] = draw(
        st.sampled_from(("tpu", "", 1, "host"))
    )
    return (f"{case.stream_where(index)}: storage:",)


def _missing_field(draw: Any, case: _Case) -> tuple[str, ...]:
    if draw(st.booleans()):
        index = draw(st.integers(0, len(case.draft.kernels) - 1))
        key = draw(st.sampled_from(("kind", "input", "output")))
        del case.kernel_raw(index)[key]
        return (f"{case.kernel_where(index)}: {key}: required",)
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    del case.raw["shared_memory"][index]["shape"]
    return (f"{case.stream_where(index)}: shape: required",)


def _bad_timing(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    key = draw(st.sampled_from(("read_timeout", "pause_sleep")))
    case.kernel_raw(index)[key] = draw(
        st.sampled_from((0, -1.0, "fast", True, float("inf"), float("nan")))
    )
    return (f"{case.kernel_where(index)}: {key}:",)


def _empty_section(draw: Any, case: _Case) -> tuple[str, ...]:
    key = draw(st.sampled_from(("shared_memory", "kernels")))
    if draw(st.booleans()):
        del case.raw[key]
    else:
        case.raw[key] = []
    return (f"{key}: required",)


#: every defect the invalid-config strategy injects, in shrinking order
_MUTATORS: dict[str, Mutator] = {
    "undefined_stream": _undefined_stream,
    "duplicate_producer": _duplicate_producer,
    "shape_mismatch": _shape_mismatch,
    "dtype_mismatch": _dtype_mismatch,
    "bad_parameter": _bad_parameter,
    "unknown_parameter": _unknown_parameter,
    "bad_operation": _bad_operation,
    "wrong_arity": _wrong_arity,
    "unknown_key": _unknown_key,
    "bad_shape": _bad_shape,
    "bad_dtype": _bad_dtype,
    "unknown_kind": _unknown_kind,
    "duplicate_stream_name": _duplicate_stream_name,
    "duplicate_kernel_name": _duplicate_kernel_name,
    "gpu_device_on_cpu": _gpu_device_on_cpu,
    "bad_storage": _bad_storage,
    "trigger_is_output": _trigger_is_output,
    "auxiliary_is_trigger": _auxiliary_is_trigger,
    "missing_field": _missing_field,
    "bad_timing": _bad_timing,
    "empty_section": _empty_section,
}

#: names of the defects :func:`invalid_pipeline_configs` can inject
DEFECTS: tuple[str, ...] = tuple(_MUTATORS)


def _builtin_kernels(draft: _Draft, registry: Any) -> dict[int, str]:
    """Index -> kind suffix of kernels run by a built-in cpu class."""
    found: dict[int, str] = {}
    for index, kernel in enumerate(draft.kernels):
        if kernel.kind not in BUILTIN_BUILDERS:
            continue
        try:
            cls = registry.get(kernel.kind)
        except Exception:
            continue
        if getattr(cls, "__module__", "").startswith("shmpipeline.kernels.cpu."):
            found[index] = kernel.kind.split(".", 1)[1]
    return found


def invalid_pipeline_configs(
    *,
    defects: Sequence[str] | None = None,
    max_kernels: int = 4,
    kinds: Sequence[str] | None = None,
    registry: Any = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = _DEFAULT_EXCLUDE,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[InvalidPipeline]:
    """Raw pipeline mappings with exactly one injected defect, as
    :class:`InvalidPipeline` ``(raw, expected)``.

    ``expected`` fragments name the entry and field and appear together in
    one message of ``validate_pipeline_config(raw, registry=registry)`` (and,
    for defects found while parsing, of ``PipelineConfig.from_dict(raw)``'s
    ``ConfigValidationError.errors``). ``defects`` restricts the defect kinds
    (names in :data:`DEFECTS`); other arguments as :func:`pipeline_configs`.
    """
    chosen = list(DEFECTS if defects is None else defects)
    unknown = [name for name in chosen if name not in _MUTATORS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"unknown defects {unknown}; choose from {', '.join(DEFECTS)}"
        )
    resolved = _registry(registry)
    limits = Limits(tuple(dtypes), max_dims, max_side)
    drafts = _drafts(
        min_kernels=1,
        max_kernels=max_kernels,
        kinds=kinds,
        registry=resolved,
        kernel_builders=kernel_builders,
        exclude=exclude,
        dtypes=dtypes,
        max_dims=max_dims,
        max_side=max_side,
    )
    for name in chosen:
        kind = _NEEDS.get(name, (None, None))[1]
        if kind is not None and kind not in _builtin_kinds(resolved, [kind]):
            raise InvalidArgument(
                f"defect {name!r} needs the built-in kind {kind!r} in the registry"
            )

    @st.composite
    def cases(draw: Any) -> InvalidPipeline:
        draft = draw(drafts)
        builtin = _builtin_kernels(draft, resolved)
        usable = [name for name in chosen if _applies(name, builtin)]
        if not usable:
            # this pipeline has no kernel the defect needs: append one
            name = chosen[0]
            draft = draw(_extended(draft, _NEEDS[name][1], limits))
            builtin = _builtin_kernels(draft, resolved)
            usable = [name]
        name = draw(st.sampled_from(usable))
        raw = draw(_raw_pipeline(draft))
        expected = _MUTATORS[name](draw, _Case(raw, draft, builtin))
        assert expected is not None, name
        return InvalidPipeline(raw, expected)

    return cases()


# defect -> (which built-in kernels it applies to, kind to add when none)
_NEEDS: dict[str, tuple[Callable[[str], bool], str]] = {
    "shape_mismatch": (lambda s: s != "raise_error", "cpu.scale"),
    "dtype_mismatch": (lambda s: s != "raise_error", "cpu.scale"),
    "bad_parameter": (
        lambda s: s in _BAD_PARAMETERS or s in _REQUIRED_PARAMETERS,
        "cpu.scale",
    ),
    "unknown_parameter": (lambda s: True, "cpu.scale"),
    "bad_operation": (lambda s: s == "custom_operation", "cpu.custom_operation"),
    "wrong_arity": (lambda s: s in _FIXED_ARITY, "cpu.scale"),
}


def _applies(defect: str, builtin: Mapping[int, str]) -> bool:
    need = _NEEDS.get(defect)
    return need is None or any(need[0](suffix) for suffix in builtin.values())


def _builtin_kinds(registry: Any, kinds: Iterable[str]) -> list[str]:
    draft = _Draft((), tuple(KernelConfig(k, k, "a", "b") for k in kinds))
    return [draft.kernels[i].kind for i in _builtin_kernels(draft, registry)]


@st.composite
def _extended(draw: Any, draft: _Draft, kind: str, limits: Limits) -> _Draft:
    """``draft`` plus one ``kind`` kernel ``zz_k`` on a new source ``zz_src``."""
    builder = BUILTIN_BUILDERS[kind]
    trigger = draw(builder.trigger_streams("zz_src", limits))
    slot = KernelSlot(kind, "zz_k", trigger, "zz_k_out", (), limits)
    extra = draw(builder.build(slot))
    streams = (*draft.streams, trigger, *extra.auxiliary, extra.output)
    return _Draft(streams, (*draft.kernels, extra.config))
