"""Where a lockstep replay's workers run: the manager's defaults while every
kernel can have a CPU of its own, unpinned and sleeping once they must share
(pinned round-robin would make each hop a cross-CPU wake-up); the
environment's wait policy still wins. Values never depend on it."""

from __future__ import annotations

import pytest

from shmpipeline.config import PipelineConfig
from shmpipeline.placement import NoPlacement
from shmpipeline.stream.wait_policy import WAIT_POLICY_ENV
from shmpipeline.testing.replay import lockstep_worker_options


def _chain(stages: int) -> PipelineConfig:
    streams = [{"name": f"s{i}", "shape": [4], "dtype": "float32"} for i in range(stages + 1)]
    kernels = [
        {"name": f"k{i}", "kind": "cpu.copy", "input": f"s{i}", "output": f"s{i + 1}"}
        for i in range(stages)
    ]
    return PipelineConfig.from_dict({"shared_memory": streams, "kernels": kernels})


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setattr("shmpipeline.placement.available_cpus", lambda: [0, 1])
    monkeypatch.delenv(WAIT_POLICY_ENV, raising=False)


def test_kernels_that_fit_the_cpus_keep_the_manager_defaults(two_cpus):
    assert lockstep_worker_options(_chain(1)) == {}
    assert lockstep_worker_options(_chain(2)) == {}


def test_kernels_sharing_cpus_run_unpinned_and_sleep(two_cpus):
    options = lockstep_worker_options(_chain(5))
    assert options == {"placement_policy": NoPlacement(), "wait_policy": "sleep"}
    assert options["placement_policy"](_chain(5).kernels) == [None] * 5


def test_the_environment_wait_policy_still_decides(two_cpus, monkeypatch):
    monkeypatch.setenv(WAIT_POLICY_ENV, "busy")
    assert lockstep_worker_options(_chain(5)) == {"placement_policy": NoPlacement()}


def test_no_known_cpus_keeps_the_defaults(monkeypatch):
    monkeypatch.setattr("shmpipeline.placement.available_cpus", lambda: [])
    assert lockstep_worker_options(_chain(5)) == {}
