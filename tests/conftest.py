"""Test-suite wiring: a unique shared-memory namespace per xdist worker and
per test, and a guard that fails any test leaving a segment behind."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pytest

_SHM_DIR = Path("/dev/shm")


def _segments(prefix: str) -> set[str]:
    if not _SHM_DIR.is_dir():
        return set()
    return {p.name for p in _SHM_DIR.iterdir() if p.name.startswith(prefix)}


@pytest.fixture(autouse=True)
def shm_namespace(request, monkeypatch):
    """Give each test its own namespace (inherited by spawned workers) and
    fail the test if it leaks a segment in it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    test = re.sub(r"[^A-Za-z0-9]", "", request.node.name)[:24]
    namespace = f"t{os.getpid()}{worker}{test}{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("SHMPIPELINE_NAMESPACE", namespace)
    prefix = f"shmp.{namespace}."
    yield namespace
    leaked = _segments(prefix)
    for name in leaked:  # clean up so one leak does not cascade
        try:
            (_SHM_DIR / name).unlink()
        except OSError:
            pass
    if leaked:
        pytest.fail(f"test leaked shared-memory segments: {sorted(leaked)}")
