"""Worker placement policies under the published package's names.

The manager places workers with a :data:`~shmpipeline.placement.
PlacementPolicy` (a callable: kernels -> one CPU or None each). The published
package's policies instead answer ``cpu_slot_for(kernel=, index=,
cpu_count=)``; both spellings are accepted here: the policies below are both,
and :func:`as_placement_policy` turns any ``cpu_slot_for`` object into the
callable the manager uses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

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
    """A CPU-slot assignment strategy (the published interface)."""

    def cpu_slot_for(
        self, *, kernel: KernelConfig, index: int, cpu_count: int
    ) -> int | None:
        """The CPU slot (an index into the allowed CPUs) for kernel ``index``."""

    def describe(self) -> str:
        """A short name of the policy."""


class _SlotPolicy:
    """Makes a ``cpu_slot_for`` policy callable like a PlacementPolicy."""

    def __call__(self, kernels: Sequence[KernelConfig]) -> list[int | None]:
        return _slots_to_cpus(self, kernels)


def _slots_to_cpus(policy: Any, kernels: Sequence[KernelConfig]) -> list[int | None]:
    cpus = available_cpus()
    out: list[int | None] = []
    for index, kernel in enumerate(kernels):
        slot = policy.cpu_slot_for(kernel=kernel, index=index, cpu_count=len(cpus))
        out.append(None if slot is None or not cpus else cpus[slot % len(cpus)])
    return out


@dataclass(frozen=True)
class RoundRobinPlacementPolicy(_SlotPolicy):
    """Kernel ``i`` on slot ``(i + offset) % cpu_count`` (off when disabled)."""

    offset: int = 0
    enabled: bool = True

    def cpu_slot_for(
        self, *, kernel: KernelConfig, index: int, cpu_count: int
    ) -> int | None:
        """Slot of kernel ``index``."""
        del kernel
        if not self.enabled or cpu_count <= 0:
            return None
        return (index + self.offset) % cpu_count

    def describe(self) -> str:
        """``round-robin``."""
        return "round-robin"


@dataclass(frozen=True)
class NoAffinityPlacementPolicy(_SlotPolicy):
    """Leave every worker to the OS scheduler."""

    def cpu_slot_for(
        self, *, kernel: KernelConfig, index: int, cpu_count: int
    ) -> int | None:
        """Always ``None``."""
        del kernel, index, cpu_count
        return None

    def describe(self) -> str:
        """``none``."""
        return "none"


def as_placement_policy(policy: Any) -> PlacementPolicy | None:
    """The manager's callable form of ``policy`` (None stays None)."""
    if policy is None or not hasattr(policy, "cpu_slot_for") or isinstance(
        policy, _SlotPolicy
    ):
        return policy

    def place(kernels: Sequence[KernelConfig]) -> list[int | None]:
        return _slots_to_cpus(policy, kernels)

    return place


def normalize_placement_policy(policy: Any = None) -> Any:
    """``policy``, or the default round-robin policy."""
    return RoundRobinPlacementPolicy() if policy is None else policy
