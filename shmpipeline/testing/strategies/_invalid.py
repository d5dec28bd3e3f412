"""Invalid-pipeline strategies: a valid pipeline with exactly one defect,
paired with the error fragments it must produce
(:func:`invalid_pipeline_configs`).

The defects themselves (one mutator each) are in ``_defects``; this module
draws the pipeline, picks a defect that applies to its kernels (adding a
kernel when none does) and pairs the result with the expected fragments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import KernelConfig
from shmpipeline.errors import ShmPipelineError
from shmpipeline.testing.strategies._defects import (
    BAD_SHAPES,
    DEFECTS,
    MUTATORS,
    DefectCase,
    fixed_arity,
    invalid_values,
)
from shmpipeline.testing.strategies._kernels import (
    BUILTIN_BUILDERS,
    resolve_registry,
)
from shmpipeline.testing.strategies._pipelines import (
    DEFAULT_EXCLUDE,
    PipelineDraft,
    pipeline_drafts,
)
from shmpipeline.testing.strategies._raw import raw_pipeline
from shmpipeline.testing.strategies._slots import KernelSlot
from shmpipeline.testing.strategies._streams import DEFAULT_DTYPES, Limits

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "BAD_SHAPES",
    "DEFECTS",
    "InvalidPipeline",
    "find_error",
    "invalid_pipeline_configs",
    "invalid_values",
]

# --- invalid pipelines --------------------------------------------------------


class InvalidPipeline(NamedTuple):
    """A raw pipeline mapping with one defect, and the fragments that must
    appear together in one of the error messages it produces."""

    raw: dict[str, Any]
    expected: tuple[str, ...]


def find_error(messages: Iterable[str], expected: Sequence[str] | str) -> str | None:
    """The first message containing every fragment of ``expected``, or None.

    Examples
    --------
    >>> find_error(["kernels[0] 'a': input: x", "kernels[1] 'b': shape"], "shape")
    "kernels[1] 'b': shape"
    """
    fragments = (expected,) if isinstance(expected, str) else tuple(expected)
    for message in messages:
        if all(fragment in message for fragment in fragments):
            return message
    return None


def _builtin_kernels(draft: PipelineDraft, registry: KernelRegistry | None) -> dict[int, type]:
    """Index -> class of the kernels run by a built-in cpu class."""
    found: dict[int, type] = {}
    for index, kernel in enumerate(draft.kernels):
        if kernel.kind not in BUILTIN_BUILDERS:
            continue
        try:
            cls = registry.get(kernel.kind)
        except (ShmPipelineError, ImportError):  # unknown here, or needs torch
            continue
        if getattr(cls, "__module__", "").startswith("shmpipeline.kernels.cpu."):
            found[index] = cls
    return found


def invalid_pipeline_configs(
    *,
    defects: Sequence[str] | None = None,
    max_kernels: int = 4,
    kinds: Sequence[str] | None = None,
    registry: KernelRegistry | None = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
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

    Examples
    --------
    >>> from hypothesis import find
    >>> from shmpipeline.pipeline_validation import validate_pipeline_config
    >>> raw, expected = find(
    ...     invalid_pipeline_configs(defects=["bad_shape"]), lambda case: True
    ... )
    >>> find_error(validate_pipeline_config(raw), expected) is not None
    True
    """
    chosen = list(DEFECTS if defects is None else defects)
    unknown = [name for name in chosen if name not in MUTATORS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"unknown defects {unknown}; choose from {', '.join(DEFECTS)}"
        )
    resolved = resolve_registry(registry)
    limits = Limits(tuple(dtypes), max_dims, max_side)
    drafts = pipeline_drafts(
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
        raw = draw(raw_pipeline(draft))
        expected = MUTATORS[name](draw, DefectCase(raw, draft, builtin))
        assert expected is not None, name
        return InvalidPipeline(raw, expected)

    return cases()


def _has_bad_parameters(kernel_cls: type) -> bool:
    builder = BUILTIN_BUILDERS.get(kernel_cls.kind)
    return bool(kernel_cls.parameter_specs) or (
        builder is not None and builder.bad_parameters is not None
    )


# defect -> (which built-in kernel classes it applies to, kind to add when none)
_NEEDS: dict[str, tuple[Callable[[type], bool], str]] = {
    "shape_mismatch": (lambda c: c.kind != "cpu.raise_error", "cpu.scale"),
    "dtype_mismatch": (lambda c: c.kind != "cpu.raise_error", "cpu.scale"),
    "bad_parameter": (_has_bad_parameters, "cpu.scale"),
    "unknown_parameter": (lambda c: True, "cpu.scale"),
    "bad_operation": (lambda c: c.accepts_operation, "cpu.custom_operation"),
    "wrong_arity": (lambda c: fixed_arity(c) is not None, "cpu.scale"),
}


def _applies(defect: str, classes: Mapping[int, type]) -> bool:
    need = _NEEDS.get(defect)
    return need is None or any(need[0](cls) for cls in classes.values())


def _builtin_kinds(registry: KernelRegistry | None, kinds: Iterable[str]) -> list[str]:
    draft = PipelineDraft((), tuple(KernelConfig(k, k, "a", "b") for k in kinds))
    return [draft.kernels[i].kind for i in _builtin_kernels(draft, registry)]


@st.composite
def _extended(
    draw: Any, draft: PipelineDraft, kind: str, limits: Limits
) -> PipelineDraft:
    """``draft`` plus one ``kind`` kernel ``zz_k`` on a new source ``zz_src``."""
    builder = BUILTIN_BUILDERS[kind]
    trigger = draw(builder.trigger_streams("zz_src", limits))
    slot = KernelSlot(kind, "zz_k", trigger, "zz_k_out", (), limits)
    extra = draw(builder.build(slot))
    streams = (*draft.streams, trigger, *extra.auxiliary, extra.output)
    return PipelineDraft(streams, (*draft.kernels, extra.config))
