"""Python surface shared with the published package: restart() brings back
only the failed workers, and runtime_snapshot()["graph"] carries the name
lists as tuples."""

from __future__ import annotations

import time

import numpy as np

from shmpipeline import PipelineManager
from shmpipeline.state import PipelineState


def two_branches() -> dict:
    """A failing branch (a -> b) beside a healthy one (c -> d)."""
    stream = {"shape": [3], "dtype": "float64"}
    return {
        "shared_memory": [{"name": n, **stream} for n in "abcd"],
        "kernels": [
            {
                "name": "bad",
                "kind": "cpu.raise_error",
                "input": "a",
                "output": "b",
                "parameters": {"message": "boom"},
            },
            {"name": "good", "kind": "cpu.scale", "input": "c", "output": "d",
             "parameters": {"factor": 2.0}},
        ],
    }


def wait_until(predicate, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def round_trip(manager, value: float) -> np.ndarray:
    c, d = manager.get_stream("c"), manager.get_stream("d")
    before = d.count
    c.write(np.full(3, value))
    wait_until(lambda: d.count > before, "good never answered")
    return d.read()


def test_restart_replaces_only_the_failed_worker():
    with PipelineManager(two_branches(), worker_start_timeout=60) as manager:
        manager.build()
        manager.start()
        pids = {n: w["pid"] for n, w in manager.status()["workers"].items()}
        assert round_trip(manager, 1.0).tolist() == [2.0] * 3
        manager.get_stream("a").write(np.ones(3))

        def failed() -> bool:
            manager.poll_events()
            return bool(manager.failures)

        wait_until(failed, "bad never failed")
        assert manager.state is PipelineState.FAILED
        assert [f["kernel"] for f in manager.failures] == ["bad"]
        manager.restart(timeout=60)
        assert manager.state is PipelineState.RUNNING and manager.failures == ()
        workers = manager.status()["workers"]
        assert workers["good"]["pid"] == pids["good"]  # left running
        assert workers["bad"]["pid"] != pids["bad"] and workers["bad"]["alive"]
        assert workers["good"]["frames_processed"] == 1  # its metrics kept
        assert round_trip(manager, 4.0).tolist() == [8.0] * 3
        assert manager.get_stream("a").count == 1  # streams kept
        # the restarted worker fails again on the next frame, as it should
        manager.get_stream("a").write(np.ones(3))
        wait_until(failed, "restarted bad never failed")
        assert [f["kernel"] for f in manager.failures] == ["bad"]


def test_runtime_snapshot_graph_uses_tuples_like_the_published_package():
    with PipelineManager(two_branches()) as manager:
        manager.build()
        graph = manager.runtime_snapshot()["graph"]
    streams = {s["name"]: s for s in graph["shared_memory"]}
    assert streams["a"]["producers"] == () and streams["a"]["consumers"] == ("bad",)
    assert streams["d"]["producers"] == ("good",)
    kernels = {k["name"]: k for k in graph["kernels"]}
    assert kernels["good"]["upstream_kernels"] == ()
    assert kernels["good"]["downstream_kernels"] == ()
    assert graph["source_streams"] == ("a", "c")
    assert graph["sink_streams"] == ("b", "d")
    assert graph["orphaned_streams"] == ()
    assert streams["a"]["shape"] == [3]  # shapes stay lists, as published


def test_worker_stats_carry_the_published_rolling_metrics():
    import multiprocessing as mp

    from shmpipeline.control import ControlBlock

    block = ControlBlock.allocate(mp.get_context("spawn"))
    idle = block.stats()
    assert idle["avg_exec_us"] == idle["throughput_hz"] == 0.0
    assert idle["metrics_window"] == 0
    for compute_ns in (1000, 3000):
        block.record_frame(compute_ns, frame_id=7)
        time.sleep(0.002)
    stats = block.stats()
    assert stats["metrics_window"] == 2 and stats["frames_processed"] == 2
    assert stats["last_exec_us"] == 3.0 and stats["avg_exec_us"] == 2.0
    assert stats["avg_exec_ms"] == 0.002 and stats["jitter_us_rms"] == 1.0
    assert stats["throughput_hz"] > 0.0


def test_published_metrics_come_through_status():
    with PipelineManager(two_branches()) as manager:
        manager.build()
        manager.start()
        round_trip(manager, 1.0)
        round_trip(manager, 2.0)
        good = manager.status()["metrics"]["good"]
    assert good["metrics_window"] == 2 and good["avg_exec_us"] > 0.0
    assert good["throughput_hz"] > 0.0
