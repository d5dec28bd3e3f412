"""Immutable configuration models for shared-memory pipelines.

(Skeleton: fields fixed by the seed API; parsing and validation are being
filled in.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SharedMemoryConfig:
    """Configuration for one named shared-memory resource."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    storage: str = "cpu"
    gpu_device: str | None = None
    cpu_mirror: bool | None = None


@dataclass(frozen=True)
class AuxiliaryBinding:
    """Bind one kernel-local auxiliary alias to a shared-memory stream."""

    alias: str
    name: str


@dataclass(frozen=True)
class KernelConfig:
    """Configuration for one compute kernel in the pipeline."""

    name: str
    kind: str
    input: str
    output: str
    auxiliary: tuple[AuxiliaryBinding, ...] = field(default_factory=tuple)
    operation: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    read_timeout: float = 1.0
    pause_sleep: float = 0.01

    @property
    def all_inputs(self) -> tuple[str, ...]:
        return (self.input, *self.auxiliary_names)

    @property
    def auxiliary_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.auxiliary)

    @property
    def auxiliary_aliases(self) -> tuple[str, ...]:
        return tuple(b.alias for b in self.auxiliary)

    @property
    def auxiliary_by_alias(self) -> dict[str, str]:
        return {b.alias: b.name for b in self.auxiliary}


@dataclass(frozen=True)
class PipelineConfig:
    """Complete pipeline configuration loaded from YAML or a mapping."""

    shared_memory: tuple[SharedMemoryConfig, ...]
    kernels: tuple[KernelConfig, ...]

    @property
    def shared_memory_by_name(self) -> dict[str, SharedMemoryConfig]:
        return {s.name: s for s in self.shared_memory}
