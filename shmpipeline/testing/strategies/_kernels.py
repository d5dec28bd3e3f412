"""Kernel strategies: :func:`kernel_configs` and the kind -> builder lookup.

A builder draws one kernel of its kind into a :class:`KernelSlot`. The
builders of the built-in kinds live by family (``_array_kinds``,
``_wavefront_kinds``) and register with :func:`builtin_builder` (in
``_builders``) when this module imports them; they read what each kernel
class declares (``parameter_specs``, arities) instead of repeating it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

# the family modules register their builders when imported; array kinds
# first, so the shrinking order starts at cpu.copy
from shmpipeline.testing.strategies import _array_kinds, _wavefront_kinds  # noqa: F401
from shmpipeline.testing.strategies._builders import (
    ALIAS_WORDS,
    BUILTIN_BUILDERS,
    builtin_builder,
    declared_parameters,
    is_real_stream,
    timings,
)
from shmpipeline.testing.strategies._slots import (
    KernelBuilder,
    KernelSetup,
    KernelSlot,
    check_draft,
)
from shmpipeline.testing.strategies._streams import DEFAULT_DTYPES, Limits

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
