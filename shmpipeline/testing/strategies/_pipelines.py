"""Pipeline strategies: valid DAGs drawn kernel by kernel in topological
order (:func:`pipeline_configs`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import KernelConfig, PipelineConfig, SharedMemoryConfig
from shmpipeline.testing.strategies._kernels import (
    resolve_builders,
    resolve_registry,
)
from shmpipeline.testing.strategies._slots import (
    KernelBuilder,
    KernelSlot,
    check_draft,
)
from shmpipeline.testing.strategies._streams import DEFAULT_DTYPES, Limits

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "DEFAULT_EXCLUDE",
    "PipelineDraft",
    "pipeline_configs",
    "pipeline_drafts",
]

#: kinds left out of pipelines unless asked for: the failing kind, and the
#: fan-in (several trigger inputs), which needs a harness that feeds every
#: branch
DEFAULT_EXCLUDE: tuple[str, ...] = ("cpu.raise_error", "cpu.concatenate")


@dataclass(frozen=True)
class PipelineDraft:
    """A drawn valid pipeline before rendering: its streams and kernels in
    topological order."""

    streams: tuple[SharedMemoryConfig, ...]
    kernels: tuple[KernelConfig, ...]

    def config(self) -> PipelineConfig:
        """The :class:`PipelineConfig` of this draft."""
        return PipelineConfig(shared_memory=self.streams, kernels=self.kernels)


@st.composite
def _pipeline_drafts(
    draw: Any,
    builders: Mapping[str, KernelBuilder],
    min_kernels: int,
    max_kernels: int,
    limits: Limits,
) -> PipelineDraft:
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
        check_draft(draft, slot, streams)
        for spec in draft.auxiliary:
            streams.setdefault(spec.name, spec)
        streams[draft.output.name] = draft.output
        kernels.append(draft.config)
    return PipelineDraft(tuple(streams.values()), tuple(kernels))


def pipeline_drafts(
    *,
    min_kernels: int,
    max_kernels: int,
    kinds: Sequence[str] | None,
    registry: KernelRegistry | None,
    kernel_builders: Mapping[str, Any] | None,
    exclude: Sequence[str],
    dtypes: Sequence[str],
    max_dims: int,
    max_side: int,
) -> st.SearchStrategy[PipelineDraft]:
    """Drafts of valid pipelines (arguments as :func:`pipeline_configs`)."""
    if not 1 <= min_kernels <= max_kernels:
        raise InvalidArgument("need 1 <= min_kernels <= max_kernels")
    builders = resolve_builders(
        kinds, resolve_registry(registry), kernel_builders, exclude
    )
    limits = Limits(tuple(dtypes), max_dims, max_side)
    return _pipeline_drafts(builders, min_kernels, max_kernels, limits)


def pipeline_configs(
    *,
    max_kernels: int = 5,
    min_kernels: int = 1,
    kinds: Sequence[str] | None = None,
    registry: KernelRegistry | None = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
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

    Examples
    --------
    >>> from hypothesis import find
    >>> config = find(pipeline_configs(), lambda c: len(c.kernels) == 2)
    >>> [k.kind for k in config.kernels], [k.input for k in config.kernels]
    (['cpu.copy', 'cpu.copy'], ['in0', 'k0_out'])
    """
    return pipeline_drafts(
        min_kernels=min_kernels,
        max_kernels=max_kernels,
        kinds=kinds,
        registry=registry,
        kernel_builders=kernel_builders,
        exclude=exclude,
        dtypes=dtypes,
        max_dims=max_dims,
        max_side=max_side,
    ).map(PipelineDraft.config)
