"""logging_utils, scheduling and shm_cleanup under the published names."""

from __future__ import annotations

import io
import logging

import numpy as np

from shmpipeline.config import KernelConfig
from shmpipeline.logging_utils import ColorFormatter, configure_colored_logging, get_logger
from shmpipeline.manager import PipelineManager
from shmpipeline.placement import available_cpus
from shmpipeline.scheduling import (
    NoAffinityPlacementPolicy,
    RoundRobinPlacementPolicy,
    WorkerPlacementPolicy,
    as_placement_policy,
)
from shmpipeline.shm_cleanup import close_stream, unlink_stream_name
from shmpipeline.stream import SharedStream, exists


def test_colored_logging_to_a_stream():
    buffer = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        handler = configure_colored_logging(stream=buffer, use_color=True)
        get_logger("demo").info("hello")
        assert "\033[32mINFO\033[0m | shmpipeline.demo | hello" in buffer.getvalue()
        assert isinstance(handler.formatter, ColorFormatter)
        plain = io.StringIO()
        configure_colored_logging(stream=plain)  # not a tty: no colours
        get_logger("demo").warning("careful")
        assert "| WARNING | shmpipeline.demo | careful" in plain.getvalue()
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])


def test_placement_policies_of_both_spellings():
    kernels = [KernelConfig(f"k{i}", "cpu.copy", "a", "b") for i in range(3)]
    cpus = available_cpus()
    policy = RoundRobinPlacementPolicy(offset=1)
    assert isinstance(policy, WorkerPlacementPolicy)
    assert policy.cpu_slot_for(kernel=kernels[0], index=0, cpu_count=4) == 1
    assert policy(kernels) == [cpus[(i + 1) % len(cpus)] for i in range(3)]
    assert NoAffinityPlacementPolicy()(kernels) == [None, None, None]

    class Custom:
        def cpu_slot_for(self, *, kernel, index, cpu_count):
            return 0

        def describe(self):
            return "first"

    assert as_placement_policy(Custom())(kernels) == [cpus[0]] * 3


def test_manager_accepts_a_published_policy():
    raw = {"shared_memory": [{"name": n, "shape": [1], "dtype": "float32"}
                             for n in ("a", "b")],
           "kernels": [{"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}]}
    with PipelineManager(raw, placement_policy=NoAffinityPlacementPolicy()) as manager:
        manager.build()
        manager.start()
        assert manager.status()["workers"]["k"]["cpu"] is None


def test_close_and_unlink_helpers():
    stream = SharedStream.create("x", (2,), "float32")
    stream.write(np.zeros(2, "f4"))
    close_stream(stream, unlink=True)
    assert not exists("x")
    kept = SharedStream.create("y", (2,), "float32")
    close_stream(kept, unlink=False)
    assert exists("y")
    unlink_stream_name("y")
    assert not exists("y")
