"""Worker placement under the published shmpipeline's names.

The published package types placement as a :class:`WorkerPlacementPolicy`
object asked one worker at a time (``cpu_slot_for(kernel=, index=,
cpu_count=)``); ours (:mod:`shmpipeline.placement`) is a callable mapping
every kernel config to a CPU at once. The classes here are both: a
:class:`RoundRobinPlacementPolicy` can be passed wherever a
:data:`~shmpipeline.placement.PlacementPolicy` is expected, and
:func:`as_placement_policy` adapts any published-style policy (one that
only has ``cpu_slot_for``) to ours.

A *slot* is an index into the CPUs this process may run on
(:func:`~shmpipeline.placement.available_cpus`), not a CPU number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from shmpipeline.config import KernelConfig
from shmpipeline.placement import PlacementPolicy, available_cpus

__all__ = [
    "NoAffinityPlacementPolicy",
    "RoundRobinPlacementPolicy",
    "WorkerPlacementPolicy",
    "as_placement_policy",
    "normalize_placement_policy",
]


@runtime_checkable
class WorkerPlacementPolicy(Protocol):
    """Chooses the CPU slot of each worker, one worker at a time."""

    def cpu_slot_for(
        self, *, kernel: KernelConfig, index: int, cpu_count: int
    ) -> int | None:
        """The slot (0 <= slot < cpu_count) to pin worker ``index`` to, or
        None to leave it to the OS scheduler."""
        ...

    def describe(self) -> str:
        """A short human-readable name of the policy."""
        ...


def _place(
    policy: WorkerPlacementPolicy, kernels: Sequence[KernelConfig]
) -> list[int | None]:
    """Map each kernel to a CPU number by asking ``policy`` for slots."""
    cpus = available_cpus()
    placed: list[int | None] = []
    for index, kernel in enumerate(kernels):
        slot = (
            policy.cpu_slot_for(kernel=kernel, index=index, cpu_count=len(cpus))
            if cpus
            else None
        )
        placed.append(None if slot is None else cpus[int(slot) % len(cpus)])
    return placed


@dataclass(frozen=True)
class RoundRobinPlacementPolicy:
    """Worker ``i`` on slot ``(i + offset) % cpu_count``, in declaration
    order; ``enabled=False`` leaves every worker to the OS."""

    offset: int = 0
    enabled: bool = True

    def cpu_slot_for(
        self, *, kernel: KernelConfig, index: int, cpu_count: int
    ) -> int | None:
        del kernel
        if not self.enabled or cpu_count <= 0:
            return None
        return (index + self.offset) % cpu_count

    def describe(self) -> str:
        return "round-robin" if self.enabled else "none"

    def __call__(self, kernels: Sequence[KernelConfig]) -> list[int | None]:
        return _place(self, kernels)


@dataclass(frozen=True)
class NoAffinityPlacementPolicy:
    """Leave every worker to the OS scheduler."""

    def cpu_slot_for(
        self, *, kernel: KernelConfig, index: int, cpu_count: int
    ) -> int | None:
        del kernel, index, cpu_count
        return None

    def describe(self) -> str:
        return "none"

    def __call__(self, kernels: Sequence[KernelConfig]) -> list[int | None]:
        return [None] * len(kernels)


def normalize_placement_policy(
    policy: WorkerPlacementPolicy | None,
) -> WorkerPlacementPolicy:
    """``policy``, or the default round-robin policy when None."""
    return RoundRobinPlacementPolicy() if policy is None else policy


@dataclass(frozen=True)
class _SlotPolicyAdapter:
    """One of ours (a callable over every kernel) made of a slot policy."""

    policy: WorkerPlacementPolicy

    def __call__(self, kernels: Sequence[KernelConfig]) -> list[int | None]:
        return _place(self.policy, kernels)


def as_placement_policy(
    policy: WorkerPlacementPolicy | PlacementPolicy | None,
) -> PlacementPolicy:
    """Our callable form of ``policy``: a published-style slot policy is
    wrapped, a callable is returned as is, None gives round-robin."""
    if policy is None:
        return RoundRobinPlacementPolicy()
    if callable(policy):
        return policy
    if isinstance(policy, WorkerPlacementPolicy) or hasattr(policy, "cpu_slot_for"):
        return _SlotPolicyAdapter(policy)
    raise TypeError(
        f"placement policy {policy!r}: expected a callable over the kernel "
        "configs or an object with cpu_slot_for(kernel=, index=, cpu_count=)"
    )
