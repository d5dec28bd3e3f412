"""Is a CUDA device usable here? Answered without initialising CUDA in this
process (a CUDA context inherited by forked workers, or created before
workers are spawned, breaks them), for the ``gpu`` marker and ``gpu``
scenario requirement."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["GPU_ENV", "cuda_probe"]

#: environment override of the probe: ``1`` present, ``0`` absent
GPU_ENV = "SHMPIPELINE_TEST_GPU"


def cuda_probe() -> tuple[bool, str]:
    """``(present, reason)``: whether torch sees a CUDA device.

    Cheap checks first (an NVIDIA driver, torch installed), then
    ``torch.cuda.is_available()`` in a subprocess; the probe runs once per
    process. ``$SHMPIPELINE_TEST_GPU`` (``0``/``1``), read on every call,
    overrides the answer.
    """
    forced = os.environ.get(GPU_ENV)
    if forced in ("0", "1"):
        return forced == "1", f"${GPU_ENV}={forced}"
    return _probe()


@functools.cache
def _probe() -> tuple[bool, str]:
    if not (Path("/proc/driver/nvidia").exists() or Path("/dev/nvidiactl").exists()):
        return False, "no CUDA device (no NVIDIA driver on this machine)"
    if importlib.util.find_spec("torch") is None:
        return False, (
            "no CUDA device usable: torch is not installed "
            "(pip install 'shmpipeline[gpu]')"
        )
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"no CUDA device (probe failed: {exc})"
    if done.returncode == 0:
        return True, "CUDA available"
    return False, "no CUDA device (torch.cuda.is_available() is false)"
