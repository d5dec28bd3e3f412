"""CPU placement of worker processes.

A placement policy maps the ordered kernel configs of a pipeline to one CPU
slot each (or None: let the OS schedule). The default spreads workers
round-robin over the CPUs this process may run on. Policies are plain
callables, so users can pass their own (e.g. isolated cores for an RT loop).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shmpipeline.config import KernelConfig

PlacementPolicy = Callable[[Sequence[KernelConfig]], list[int | None]]


def available_cpus() -> list[int]:
    """CPUs this process may run on (empty where the OS does not say)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return []


@dataclass(frozen=True)
class RoundRobinPlacement:
    """Pin kernel i to ``cpus[i % len(cpus)]`` (default: all allowed CPUs)."""

    cpus: tuple[int, ...] | None = None

    def __call__(self, kernels: Sequence[KernelConfig]) -> list[int | None]:
        cpus = list(self.cpus) if self.cpus is not None else available_cpus()
        if not cpus:
            return [None] * len(kernels)
        return [cpus[i % len(cpus)] for i in range(len(kernels))]


@dataclass(frozen=True)
class NoPlacement:
    """Leave every worker to the OS scheduler."""

    def __call__(self, kernels: Sequence[KernelConfig]) -> list[int | None]:
        return [None] * len(kernels)


def pin_current_process(cpu: int | None) -> bool:
    """Pin this process to ``cpu``; False (and no error) where not allowed."""
    if cpu is None or not hasattr(os, "sched_setaffinity"):
        return False
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError:
        return False
    return True


__all__ = [
    "PlacementPolicy",
    "RoundRobinPlacement",
    "NoPlacement",
    "available_cpus",
    "pin_current_process",
]
