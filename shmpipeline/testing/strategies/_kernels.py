"""Kernel strategies: the built-in kinds' builders and :func:`kernel_configs`.

A builder draws one kernel of its kind into a :class:`KernelSlot`. The
builders of the built-in kinds register with :func:`builtin_builder`, next to
their code, and read what each kernel class declares (``parameter_specs``,
arities) instead of repeating it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import KernelConfig, SharedMemoryConfig, SynchronizationConfig
from shmpipeline.testing.strategies._expressions import (
    evaluate_expression,
    expression_trees,
    render_expression,
)
from shmpipeline.testing.strategies._slots import (
    BadParameters,
    KernelBuilder,
    KernelDraft,
    KernelSetup,
    KernelSlot,
    any_stream,
    check_draft,
)
from shmpipeline.testing.strategies._streams import (
    DEFAULT_DTYPES,
    FLOAT_DTYPES,
    Limits,
    shapes,
    stream_configs,
)

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "ALIAS_WORDS",
    "BUILTIN_BUILDERS",
    "builtin_builder",
    "declared_parameters",
    "is_real_stream",
    "kernel_configs",
    "resolve_builders",
    "resolve_registry",
    "timings",
]

# --- built-in builders --------------------------------------------------------

#: words drawn for auxiliary aliases
ALIAS_WORDS = ("a", "b", "ref", "bias", "w", "mask")
_MESSAGES = ("injected failure", "boom", "stage failed")

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


def _numeric(spec: SharedMemoryConfig) -> bool:
    return _kind(spec) in "iufc"


def is_real_stream(spec: SharedMemoryConfig) -> bool:
    """True for integer and floating streams."""
    return _kind(spec) in "iuf"


def _inexact(spec: SharedMemoryConfig) -> bool:
    return _kind(spec) in "fc"


def _reals() -> st.SearchStrategy[float | int]:
    """Parameter values: small ints and floats (finite)."""
    return st.one_of(
        st.integers(-3, 3),
        st.floats(-4.0, 4.0, allow_nan=False, allow_infinity=False),
    )


def _valid_values(spec: Any) -> st.SearchStrategy[Any]:
    """Values a declared parameter accepts whatever the streams are."""
    if spec.type == "real":
        return st.sampled_from((0.5, 1, 1.0, 2, 3.0)) if spec.positive else _reals()
    if spec.type == "integer":
        return st.integers(-3, 3)
    if spec.type == "positive_int":
        return st.integers(1, 4)
    if spec.type == "boolean":
        return st.booleans()
    if spec.type == "choice":
        return st.sampled_from(spec.choices)
    return st.sampled_from(_MESSAGES)


@st.composite
def _parameters(draw: Any, kind: str, skip: Iterable[str] = ()) -> dict[str, Any]:
    """Every required declared parameter of ``kind`` and some optional ones
    (those in ``skip`` are left to the caller)."""
    params: dict[str, Any] = {}
    for spec in declared_parameters(kind):
        if spec.name in skip:
            continue
        if spec.required or draw(st.booleans()):
            params[spec.name] = draw(_valid_values(spec))
    return params


@st.composite
def timings(draw: Any) -> dict[str, float]:
    """``read_timeout`` and ``pause_sleep`` keyword arguments for a kernel."""
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
        word = draw(st.sampled_from(ALIAS_WORDS))
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


@builtin_builder("cpu.copy")
@st.composite
def _copy(draw: Any, slot: KernelSlot) -> KernelDraft:
    return KernelDraft(slot.kernel(**draw(timings())), slot.output())


@builtin_builder("cpu.scale", "cpu.add_constant", accepts=_numeric)
@st.composite
def _unary(draw: Any, slot: KernelSlot) -> KernelDraft:
    """Output like the input; the kind's declared parameters."""
    config = slot.kernel(parameters=draw(_parameters(slot.kind)), **draw(timings()))
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
        auxiliary=draw(_aliased([aux])),
        parameters=draw(_parameters(slot.kind)),
        **draw(timings()),
    )
    return KernelDraft(config, slot.output(), (aux,))


builtin_builder(
    "cpu.elementwise_add",
    "cpu.elementwise_subtract",
    "cpu.elementwise_multiply",
    accepts=_numeric,
)(_binary)
builtin_builder("cpu.elementwise_divide", accepts=_inexact, trigger=_float_trigger)(
    _binary
)
builtin_builder("cpu.scale_offset", accepts=_numeric)(_binary)


@builtin_builder("cpu.reduce", accepts=_numeric)
@st.composite
def _reduce(draw: Any, slot: KernelSlot) -> KernelDraft:
    dtype = draw(st.sampled_from((slot.trigger.dtype.name, *FLOAT_DTYPES)))
    shape = draw(st.sampled_from(((1,), (1, 1))))
    config = slot.kernel(parameters=draw(_parameters(slot.kind)), **draw(timings()))
    return KernelDraft(config, slot.output(shape=shape, dtype=dtype))


@builtin_builder(
    "cpu.affine_transform",
    accepts=lambda s: len(s.shape) == 1 and _numeric(s),
    trigger=_trigger_of_ndim(1),
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
    params = draw(_parameters(slot.kind))
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(timings()))
    return KernelDraft(config, slot.output(shape=(m,)), (matrix, offset))


@builtin_builder("cpu.leaky_integrator", accepts=_inexact, trigger=_float_trigger)
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
    for key, values in (("leak", st.floats(0.0, 1.0)), ("gain", _reals())):
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


@builtin_builder(
    "cpu.spot_centroid",
    accepts=lambda s: len(s.shape) == 2 and is_real_stream(s),
    trigger=_trigger_of_ndim(2),
)
@st.composite
def _spot_centroid(draw: Any, slot: KernelSlot) -> KernelDraft:
    dtype = draw(st.sampled_from((*FLOAT_DTYPES, slot.trigger.dtype.name)))
    config = slot.kernel(parameters=draw(_parameters(slot.kind)), **draw(timings()))
    return KernelDraft(config, slot.output(shape=(2,), dtype=dtype))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _square_trigger(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
    side = st.integers(1, max(limits.max_side, 2))
    return stream_configs(name=name, shape=st.tuples(side, side), dtypes=limits.dtypes)


def _tile_not_dividing(
    config: KernelConfig, streams: Mapping[str, SharedMemoryConfig]
) -> list[tuple[str, Any]]:
    height, width = streams[config.input].shape
    return [("tile_size", max(height, width) + 1)]


@builtin_builder(
    "cpu.shack_hartmann_centroid",
    "cpu.centroid",
    accepts=lambda s: len(s.shape) == 2 and is_real_stream(s),
    trigger=_square_trigger,
    bad_parameters=_tile_not_dividing,
)
@st.composite
def _shack_hartmann(draw: Any, slot: KernelSlot) -> KernelDraft:
    height, width = slot.trigger.shape
    common = [d for d in _divisors(height) if width % d == 0]
    tile = draw(st.sampled_from(common[::-1]))  # shrinks towards the largest
    dtype = draw(st.sampled_from((*FLOAT_DTYPES, slot.trigger.dtype.name)))
    config = slot.kernel(parameters={"tile_size": tile}, **draw(timings()))
    output = slot.output(shape=(height // tile, width // tile, 2), dtype=dtype)
    return KernelDraft(config, output)


@builtin_builder(
    "cpu.tip_tilt_controller",
    accepts=lambda s: len(s.shape) == 2 and is_real_stream(s),
    trigger=_trigger_of_ndim(2),
)
@st.composite
def _tip_tilt(draw: Any, slot: KernelSlot) -> KernelDraft:
    """Matrix (2, 2), bias (2,) and output (2,) of one floating dtype."""
    dtype = draw(st.sampled_from(slot.limits.floats))
    matrix = draw(slot.auxiliary("matrix", shape=(2, 2), dtype=dtype))
    bias = draw(slot.auxiliary("bias", shape=(2,), dtype=dtype))
    if draw(st.booleans()):
        aux: list[Any] = [("matrix", matrix.name), ("bias", bias.name)]
    else:
        aux = [matrix.name, bias.name]
    params = draw(_parameters(slot.kind, skip=("leak",)))
    if draw(st.booleans()):
        params["leak"] = draw(st.floats(0.0, 1.0))
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(timings()))
    return KernelDraft(config, slot.output(shape=(2,), dtype=dtype), (matrix, bias))


def _sensor_batch_trigger(
    name: str, limits: Limits
) -> st.SearchStrategy[SharedMemoryConfig]:
    side = st.integers(1, max(limits.max_side, 2))
    return stream_configs(
        name=name, shape=st.tuples(st.just(8), side, side), dtypes=limits.dtypes
    ).filter(is_real_stream)


@builtin_builder(
    "cpu.tomographic_controller",
    accepts=lambda s: len(s.shape) == 3 and s.shape[0] == 8 and is_real_stream(s),
    trigger=_sensor_batch_trigger,
)
@st.composite
def _tomographic(draw: Any, slot: KernelSlot) -> KernelDraft:
    """The batched form: one (8, rows, cols) trigger, calibration streams
    with a leading 8, a reconstructor of a drawn actuator count."""
    _, rows, cols = slot.trigger.shape
    common = [d for d in _divisors(rows) if cols % d == 0]
    tile = draw(st.sampled_from(common[::-1]))
    dtype = draw(st.sampled_from(slot.limits.floats))
    actuators = draw(st.integers(1, slot.limits.max_side))
    slopes = (rows // tile) * (cols // tile) * 2 * 8
    shapes = {
        "reconstructor": (actuators, slopes),
        "wfs_dark": (8, rows, cols),
        "wfs_inverse_flat": (8, rows, cols),
        "wfs_slope_offset": (8, rows // tile, cols // tile, 2),
    }
    for alias in ("reconstructor_bias", "command_offset", "command_low"):
        shapes[alias] = (actuators,)
    shapes["command_high"] = (actuators,)
    specs: list[SharedMemoryConfig] = []
    for alias, shape in shapes.items():
        taken = [s.name for s in specs]
        spec = draw(slot.auxiliary(alias, shape=shape, dtype=dtype, exclude=taken))
        specs.append(spec)
    aux = [(alias, spec.name) for alias, spec in zip(shapes, specs, strict=True)]
    params = draw(_parameters(slot.kind, skip=("tile_size", "leak")))
    params["tile_size"] = tile
    if draw(st.booleans()):
        params["leak"] = draw(st.floats(0.0, 1.0))
    config = slot.kernel(
        auxiliary=aux, parameters=params, trigger_policy="all_new", **draw(timings())
    )
    output = slot.output(shape=(actuators,), dtype=dtype)
    return KernelDraft(config, output, tuple(specs))


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


@builtin_builder("cpu.raise_error")
@st.composite
def _raise_error(draw: Any, slot: KernelSlot) -> KernelDraft:
    config = slot.kernel(parameters=draw(_parameters(slot.kind)), **draw(timings()))
    return KernelDraft(config, slot.output())


# --- resolving kinds against a registry ---------------------------------------


def resolve_registry(registry: KernelRegistry | None) -> KernelRegistry:
    """``registry``, or the default registry when it is ``None``."""
    if registry is None:
        from shmpipeline.registry import get_default_registry

        return get_default_registry()
    return registry


def resolve_builders(
    kinds: Sequence[str] | None,
    registry: KernelRegistry | None,
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


# --- kernels and pipelines ----------------------------------------------------


def kernel_configs(
    kind: str,
    *,
    registry: KernelRegistry | None = None,
    kernel_builders: Mapping[str, Any] | None = None,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[KernelSetup]:
    """Valid single-kernel setups of ``kind``: a :class:`KernelSetup` whose
    ``config`` is named ``k0`` and reads a fresh trigger ``in0``.

    Examples
    --------
    >>> from hypothesis import find
    >>> from shmpipeline.registry import get_default_registry
    >>> setup = find(kernel_configs("cpu.scale"), lambda s: True)
    >>> setup.config.kind, [s.name for s in setup.shared_memory]
    ('cpu.scale', ['in0', 'k0_out'])
    >>> get_default_registry().validate(setup.config, setup.shared_memory)
    """
    builders = resolve_builders([kind], resolve_registry(registry), kernel_builders, ())
    builder = builders[kind]
    limits = Limits(tuple(dtypes), max_dims, max_side)

    @st.composite
    def setup(draw: Any) -> KernelSetup:
        trigger = draw(builder.trigger_streams("in0", limits))
        slot = KernelSlot(kind, "k0", trigger, "k0_out", (), limits)
        draft = draw(builder.build(slot))
        check_draft(draft, slot, {trigger.name: trigger})
        return KernelSetup(draft.config, (trigger, *draft.auxiliary, draft.output))

    return setup()
