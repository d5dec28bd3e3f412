"""The published shmpipeline's small helper modules, here over our own
machinery: logging_utils (colored logging), scheduling (placement policies
under the published names, usable by our manager) and shm_cleanup
(teardown of streams by handle or name)."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from shmpipeline import logging_utils, scheduling, shm_cleanup
from shmpipeline.config import KernelConfig
from shmpipeline.placement import available_cpus
from shmpipeline.stream import SharedStream, exists

# --- logging_utils ------------------------------------------------------------------


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configure_colored_logging_colors_level_names(restore_root_logging):
    out = io.StringIO()
    handler = logging_utils.configure_colored_logging(
        level=logging.DEBUG, fmt="%(levelname)s:%(message)s", stream=out, use_color=True
    )
    assert logging.getLogger().handlers == [handler]
    log = logging_utils.get_logger("demo")
    assert log.name == "shmpipeline.demo"
    log.warning("careful")
    log.debug("details")
    assert out.getvalue().splitlines() == [
        "\033[33mWARNING\033[0m:careful",
        "\033[36mDEBUG\033[0m:details",
    ]


def test_colors_only_a_terminal_by_default(restore_root_logging, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()  # not a terminal
    logging_utils.configure_colored_logging(fmt="%(levelname)s %(message)s", stream=out)
    logging.getLogger("shmpipeline.x").error("plain")
    assert out.getvalue() == "ERROR plain\n"


def test_configuring_twice_does_not_duplicate_lines(restore_root_logging):
    out = io.StringIO()
    for _ in range(2):
        logging_utils.configure_colored_logging(fmt="%(message)s", stream=out)
    logging.getLogger("shmpipeline.x").info("once")
    assert out.getvalue() == "once\n"


def test_the_record_is_left_unchanged_for_other_handlers():
    formatter = logging_utils.ColorFormatter("%(levelname)s", use_color=True)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, None)
    assert formatter.format(record) == "\033[31mERROR\033[0m"
    assert record.levelname == "ERROR"


# --- scheduling ----------------------------------------------------------------------

KERNELS = [
    KernelConfig(name=f"k{i}", kind="cpu.copy", input=f"s{i}", output=f"s{i + 1}")
    for i in range(5)
]


def test_round_robin_slots_follow_the_published_rule():
    policy = scheduling.RoundRobinPlacementPolicy(offset=2)
    slots = [
        policy.cpu_slot_for(kernel=k, index=i, cpu_count=3)
        for i, k in enumerate(KERNELS)
    ]
    assert slots == [2, 0, 1, 2, 0]
    assert policy.describe() == "round-robin"
    off = scheduling.RoundRobinPlacementPolicy(enabled=False)
    assert off.cpu_slot_for(kernel=KERNELS[0], index=0, cpu_count=3) is None
    assert policy.cpu_slot_for(kernel=KERNELS[0], index=0, cpu_count=0) is None
    assert isinstance(policy, scheduling.WorkerPlacementPolicy)


def test_policies_are_also_our_callable_placement():
    cpus = available_cpus()
    placed = scheduling.RoundRobinPlacementPolicy(offset=1)(KERNELS)
    if cpus:
        assert placed == [cpus[(i + 1) % len(cpus)] for i in range(5)]
    else:
        assert placed == [None] * 5
    assert scheduling.NoAffinityPlacementPolicy()(KERNELS) == [None] * 5
    assert scheduling.NoAffinityPlacementPolicy().describe() == "none"


def test_a_published_style_policy_is_adapted():
    class LastCpu:
        def cpu_slot_for(self, *, kernel, index, cpu_count):
            return cpu_count - 1 if kernel.name != "k0" else None

        def describe(self):
            return "last"

    adapted = scheduling.as_placement_policy(LastCpu())
    cpus = available_cpus()
    expected = [None] + [cpus[-1] if cpus else None] * 4
    assert adapted(KERNELS) == expected
    ours = scheduling.RoundRobinPlacementPolicy()
    assert scheduling.as_placement_policy(ours) is ours
    assert isinstance(
        scheduling.as_placement_policy(None), scheduling.RoundRobinPlacementPolicy
    )
    with pytest.raises(TypeError, match="cpu_slot_for"):
        scheduling.as_placement_policy(42)


def test_normalize_placement_policy():
    assert scheduling.normalize_placement_policy(None) == (
        scheduling.RoundRobinPlacementPolicy()
    )
    policy = scheduling.NoAffinityPlacementPolicy()
    assert scheduling.normalize_placement_policy(policy) is policy


def test_the_manager_runs_with_a_published_policy(shm_namespace):
    from shmpipeline.config import PipelineConfig
    from shmpipeline.manager import PipelineManager

    config = PipelineConfig.from_dict(
        {
            "shared_memory": [
                {"name": "a", "shape": [2], "dtype": "float32"},
                {"name": "b", "shape": [2], "dtype": "float32"},
            ],
            "kernels": [{"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}],
        }
    )
    manager = PipelineManager(
        config, placement_policy=scheduling.RoundRobinPlacementPolicy(offset=1)
    )
    manager.build()
    try:
        manager.start()
        cpus = available_cpus()
        cpu = manager.status()["workers"]["k"]["cpu"]
        assert cpu == (cpus[1 % len(cpus)] if cpus else None)
    finally:
        manager.shutdown()


# --- shm_cleanup ---------------------------------------------------------------------


def test_close_stream_with_and_without_unlink(shm_namespace):
    stream = SharedStream.create("kept", (2,), "float32")
    shm_cleanup.close_stream(stream, unlink=False)
    assert stream.closed and exists("kept")
    reopened = SharedStream.open("kept")
    shm_cleanup.close_stream(reopened, unlink=True)
    assert reopened.closed and not exists("kept")
    shm_cleanup.close_stream(reopened, unlink=True)  # already gone: quiet


def test_close_stream_unlinks_even_when_close_raises(shm_namespace):
    stream = SharedStream.create("broken", (2,), "float32")

    class Failing:
        name = "broken"

        def close(self):
            stream.close()
            raise RuntimeError("close failed")

        def unlink(self):
            stream.unlink()

    with pytest.raises(RuntimeError, match="close failed"):
        shm_cleanup.close_stream(Failing(), unlink=True)
    assert not exists("broken")


def test_unlink_stream_name(shm_namespace):
    stream = SharedStream.create("byname", (2,), "float32")
    stream.write(np.ones(2, np.float32))
    stream.close()
    assert shm_cleanup.unlink_stream_name("byname") is True
    assert not exists("byname")
    assert shm_cleanup.unlink_stream_name("byname") is False


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs /dev/shm")
def test_unlink_stream_name_logs_what_it_cannot_remove(shm_namespace, caplog):
    path = Path("/dev/shm") / f"shmp.{shm_namespace}.folder"
    path.mkdir()
    try:
        with caplog.at_level(logging.WARNING, logger="shmpipeline.shm_cleanup"):
            assert shm_cleanup.unlink_stream_name("folder") is False
        assert "a directory" in caplog.text and str(path) in caplog.text
    finally:
        os.rmdir(path)


def test_host_stream_handles_say_they_are_not_gpu():
    stream = SharedStream.create("flag", (2,), "float32")
    try:
        assert stream.gpu_enabled is False
    finally:
        stream.close()
        stream.unlink()
