"""Helpers for the GPU tests: a CUDA probe that never initialises CUDA in
the pytest process, and runners putting a cpu kernel and its gpu twin on
the same inputs."""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernel import KernelContext
from shmpipeline.registry import get_default_registry

NO_CUDA_REASON = "no CUDA device (probed in a subprocess: torch.cuda.is_available())"


@functools.cache
def cuda_device_count() -> int:
    """CUDA devices torch sees, probed in a subprocess (so CUDA is never
    initialised in the pytest process before workers spawn); cached. 0
    without torch or without an NVIDIA driver (no subprocess then)."""
    if importlib.util.find_spec("torch") is None:
        return 0
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()):
        return 0
    code = (
        "import torch\n"
        "print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"
    )
    try:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return 0
    try:
        return int(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


def require_cuda() -> None:
    """Skip the calling test, with a reason, where no CUDA device exists
    (the harness's probe when present: same answer as the ``gpu`` marker)."""
    try:
        from shmpipeline.testing.gpu_probe import cuda_probe
    except ImportError:
        if cuda_device_count() == 0:
            pytest.skip(NO_CUDA_REASON)
        return
    present, reason = cuda_probe()
    if not present:
        pytest.skip(reason)


#: devices the parity tests run on: torch's CPU device everywhere, CUDA where
#: a device exists (the ``gpu`` marker; skipped with a reason elsewhere)
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]

#: comparison tolerances per dtype (integers and bool compare exactly)
TOLERANCES = {
    "float16": (4e-3, 4e-3),
    "float32": (2e-5, 2e-6),
    "float64": (1e-12, 1e-13),
    "complex64": (2e-5, 2e-6),
    "complex128": (1e-12, 1e-13),
}


def assert_parity(
    gpu: np.ndarray, cpu: np.ndarray, dtype: Any = None, *, scale: float = 1.0
) -> None:
    """``gpu`` equals ``cpu``: exactly for integers/bool, else within the
    dtype's tolerance (``atol`` times ``scale``, the magnitude of the terms
    a reduction summed)."""
    dtype = np.dtype(dtype if dtype is not None else cpu.dtype)
    assert gpu.shape == cpu.shape and gpu.dtype == cpu.dtype, (gpu, cpu)
    if dtype.name not in TOLERANCES:
        np.testing.assert_array_equal(gpu, cpu)
        return
    rtol, atol = TOLERANCES[dtype.name]
    np.testing.assert_allclose(
        gpu, cpu, rtol=rtol, atol=atol * max(1.0, scale), equal_nan=True
    )


def on_gpu(spec: SharedMemoryConfig) -> SharedMemoryConfig:
    """The same stream with ``storage: gpu`` on cuda:0."""
    return dataclasses.replace(spec, storage="gpu", gpu_device="cuda:0")


def gpu_twin_config(config: KernelConfig) -> KernelConfig:
    """The same kernel config with the ``gpu.`` kind."""
    return dataclasses.replace(config, kind="gpu." + config.kind.split(".", 1)[1])


def twins(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig], device
):
    """``(cpu kernel, gpu kernel)`` for a ``cpu.*`` config over host specs:
    the gpu twin is validated over the same streams moved to gpu storage,
    then built on ``device``."""
    registry = get_default_registry()
    cpu_kernel = registry.create(config, shared_memory)
    gpu_config = gpu_twin_config(config)
    gpu_specs = {name: on_gpu(spec) for name, spec in shared_memory.items()}
    registry.validate(gpu_config, gpu_specs)
    gpu_cls = registry.get(gpu_config.kind)
    gpu_kernel = gpu_cls(KernelContext(gpu_config, gpu_specs), device=device)
    return cpu_kernel, gpu_kernel


def run_twins(
    config: KernelConfig,
    shared_memory: Mapping[str, SharedMemoryConfig],
    device: str,
    frames: list[tuple[np.ndarray, Mapping[str, np.ndarray]]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Feed both twins the same frames; return ``(gpu_out, cpu_out)`` per
    frame (gpu outputs copied back to NumPy)."""
    import torch

    cpu_kernel, gpu_kernel = twins(config, shared_memory, device)
    spec = shared_memory[config.output]
    cpu_out = np.full(spec.shape, 7, dtype=spec.dtype)
    gpu_out = torch.from_numpy(cpu_out.copy()).to(device)
    results = []
    for x, aux in frames:
        with np.errstate(all="ignore"):
            cpu_kernel.compute_into(x, cpu_out, dict(aux))
        gpu_kernel.compute_into(
            torch.from_numpy(np.ascontiguousarray(x)).to(device),
            gpu_out,
            {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(device)
                for k, v in aux.items()
            },
        )
        results.append((gpu_out.cpu().numpy().copy(), cpu_out.copy()))
    return results
