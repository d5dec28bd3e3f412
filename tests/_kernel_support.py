"""Helpers for the kernel and registry tests: build specs and configs with the
plain dataclass constructors, run a kernel on one frame."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from shmpipeline.config import AuxiliaryBinding, KernelConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.registry import get_default_registry


def spec(
    name: str, shape, dtype: Any = "float64", storage: str = "cpu"
) -> SharedMemoryConfig:
    gpu_device = "cuda:0" if storage == "gpu" else None
    return SharedMemoryConfig(name, tuple(shape), np.dtype(dtype), storage, gpu_device)


def specs(*items: SharedMemoryConfig) -> dict[str, SharedMemoryConfig]:
    return {s.name: s for s in items}


def kconf(
    kind: str,
    *,
    name: str = "stage",
    input: str = "in",
    output: str = "out",
    aux: Mapping[str, str] | None = None,
    operation: str | None = None,
    params: Mapping[str, Any] | None = None,
    **parameters: Any,
) -> KernelConfig:
    """``params`` holds parameters whose names clash with the keywords here
    (``operation`` of reduce); ``**parameters`` the others."""
    parameters = {**(params or {}), **parameters}
    bindings = tuple(
        AuxiliaryBinding(alias, stream) for alias, stream in (aux or {}).items()
    )
    return KernelConfig(
        name=name,
        kind=kind,
        input=input,
        output=output,
        auxiliary=bindings,
        operation=operation,
        parameters=dict(parameters),
    )


def create(config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]):
    return get_default_registry().create(config, shared_memory)


def run(kernel, x, aux: Mapping[str, Any] | None = None, out=None) -> np.ndarray:
    spec_out = kernel.context.output_spec
    if out is None:
        out = np.full(spec_out.shape, 7, dtype=spec_out.dtype)
    kernel.compute_into(x, out, dict(aux or {}))
    return out


def expect_error(config: KernelConfig, shared_memory, *fragments: str) -> str:
    """Validation must fail with a message naming the kernel and fragments."""
    with pytest.raises(ConfigValidationError) as info:
        get_default_registry().validate(config, shared_memory)
    message = str(info.value)
    assert f"kernel {config.name!r}" in message, message
    for fragment in fragments:
        assert fragment in message, message
    # the kernel class itself raises the same error (not only via the registry)
    kernel_cls = get_default_registry().get(config.kind)
    with pytest.raises(ConfigValidationError):
        kernel_cls.validate_config(config, shared_memory)
    return message
