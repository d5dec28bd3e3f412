"""shmpipeline: real-time compute pipelines over zero-copy shared-memory streams.

The top-level package re-exports the primary user-facing objects. Imports are
lazy so that ``import shmpipeline`` stays cheap (worker processes start fast)
and never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SharedMemoryConfig": "shmpipeline.config",
    "AuxiliaryBinding": "shmpipeline.config",
    "KernelConfig": "shmpipeline.config",
    "PipelineConfig": "shmpipeline.config",
    "SynchronizationConfig": "shmpipeline.config",
    "SourceConfig": "shmpipeline.config",
    "SinkConfig": "shmpipeline.config",
    "Source": "shmpipeline.source",
    "SourceContext": "shmpipeline.source",
    "Sink": "shmpipeline.sink",
    "SinkContext": "shmpipeline.sink",
    "Kernel": "shmpipeline.kernel",
    "KernelContext": "shmpipeline.kernel",
    "GraphEdge": "shmpipeline.graph",
    "PipelineGraph": "shmpipeline.graph",
    "validate_pipeline_config": "shmpipeline.pipeline_validation",
    "PipelineManager": "shmpipeline.manager",
    "PipelineState": "shmpipeline.state",
    "KernelRegistry": "shmpipeline.registry",
    "get_default_registry": "shmpipeline.registry",
    "SharedStream": "shmpipeline.stream",
    "SyntheticInputConfig": "shmpipeline.synthetic",
    "SyntheticPatternGenerator": "shmpipeline.synthetic",
    "SyntheticSourceController": "shmpipeline.synthetic",
    "available_synthetic_patterns": "shmpipeline.synthetic",
    "ShmPipelineError": "shmpipeline.errors",
    "ConfigValidationError": "shmpipeline.errors",
    "StateTransitionError": "shmpipeline.errors",
    "WorkerProcessError": "shmpipeline.errors",
    "KernelExecutionError": "shmpipeline.errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'shmpipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
