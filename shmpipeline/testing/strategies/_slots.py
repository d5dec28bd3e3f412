"""The kernel-builder protocol: where a kernel goes (:class:`KernelSlot`),
what a builder draws (:class:`KernelDraft`) and how a kind is generated
(:class:`KernelBuilder`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import (
    AuxiliaryBinding,
    KernelConfig,
    SharedMemoryConfig,
    SynchronizationConfig,
)
from shmpipeline.testing.strategies._streams import (
    Limits,
    as_strategy,
    stream_configs,
)

__all__ = [
    "BadParameters",
    "KernelBuilder",
    "KernelDraft",
    "KernelSetup",
    "KernelSlot",
    "any_stream",
    "check_draft",
]

#: ``bad_parameters(config, streams) -> [(key, value), ...]`` of a builder
BadParameters = Callable[
    [KernelConfig, Mapping[str, SharedMemoryConfig]], Sequence[tuple[str, Any]]
]


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
        extra_inputs: Iterable[str] = (),
        trigger_policy: str | None = None,
        synchronization: SynchronizationConfig | None = None,
        propagate_frame_id: bool = False,
    ) -> KernelConfig:
        """The kernel config with name, kind, input and output filled in.

        ``auxiliary`` items are :class:`AuxiliaryBinding`, ``(alias, stream)``
        pairs or stream names (alias = stream name). ``extra_inputs`` names
        further trigger inputs after the slot's trigger (the config then
        lists ``inputs``); ``trigger_policy`` defaults to ``all_new`` for
        several inputs, else ``any_new``.
        """
        extra = tuple(extra_inputs)
        inputs = (self.trigger.name, *extra) if extra else ()
        if trigger_policy is None:
            trigger_policy = "all_new" if extra else "any_new"
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
            inputs=inputs,
            trigger_policy=trigger_policy,
            synchronization=synchronization,
            propagate_frame_id=propagate_frame_id,
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
            as_strategy(shape),
            as_strategy(dtype),
        )
        if not candidates:
            return new
        return st.one_of(new, st.sampled_from(candidates))


@dataclass(frozen=True)
class KernelDraft:
    """What a builder draws: the kernel config, its output spec, and the
    specs of the other streams it reads, auxiliaries and extra trigger
    inputs (reused ones and new sources alike)."""

    config: KernelConfig
    output: SharedMemoryConfig
    auxiliary: tuple[SharedMemoryConfig, ...] = ()


def any_stream(spec: SharedMemoryConfig) -> bool:
    """The default trigger filter: every stream."""
    return True


@dataclass(frozen=True)
class KernelBuilder:
    """How to generate kernels of one kind.

    - ``build(slot)`` returns a strategy of :class:`KernelDraft`;
    - ``accepts(spec)`` says whether a stream may be the trigger;
    - ``trigger(name, limits)`` returns a strategy of a fresh trigger spec
      named ``name`` (used when no existing stream is accepted, and by
      :func:`kernel_configs`); default: :func:`stream_configs` filtered by
      ``accepts``;
    - ``bad_parameters(config, streams)`` lists ``(key, value)`` pairs the
      kind rejects beyond what its declared parameter types imply (e.g. a
      tile size that does not divide the image); ``streams`` maps name to
      spec. The invalid-config strategy injects them.
    """

    build: Callable[[KernelSlot], st.SearchStrategy[KernelDraft]]
    accepts: Callable[[SharedMemoryConfig], bool] = any_stream
    trigger: Callable[[str, Limits], st.SearchStrategy[SharedMemoryConfig]] | None = (
        None
    )
    bad_parameters: BadParameters | None = None

    def trigger_streams(
        self, name: str, limits: Limits
    ) -> st.SearchStrategy[SharedMemoryConfig]:
        """A fresh trigger stream named ``name`` this kind accepts."""
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


def check_draft(
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
    bound = set(config.all_inputs) - {slot.trigger.name}
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
