"""build(): stream modes, initial values, and the document namespace."""

from __future__ import annotations

import os

import numpy as np
import pytest

from shmpipeline.config import PipelineConfig
from shmpipeline.errors import StreamExistsError, StreamNotFoundError
from shmpipeline.manager import PipelineManager
from shmpipeline.stream import SharedStream
from shmpipeline.stream_setup import initial_array


def pipeline(**stream_extra):
    return {
        "shared_memory": [
            {"name": "a", "shape": [2, 2], "dtype": "float32", **stream_extra},
            {"name": "b", "shape": [2, 2], "dtype": "float32"},
        ],
        "kernels": [{"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}],
    }


def segments(shm_namespace):
    return sorted(n for n in os.listdir("/dev/shm") if f".{shm_namespace}." in n)


def test_initial_values_are_published_at_build():
    raw = pipeline(initial={"pattern": "identity", "scale": 2.5})
    raw["shared_memory"][1]["initial"] = {"pattern": "normal", "seed": 3, "std": 2.0,
                                          "mean": 1.0}
    with PipelineManager(raw) as manager:
        manager.build()
        a, b = manager.get_stream("a"), manager.get_stream("b")
        assert a.count == 1 and np.array_equal(a.read(), np.eye(2, dtype="f4") * 2.5)
        expected = np.random.default_rng(3).standard_normal((2, 2), dtype=np.float32)
        expected = expected * np.float32(2.0) + np.float32(1.0)
        np.testing.assert_array_equal(b.read(), expected)


@pytest.mark.parametrize(
    ("initial", "expected"),
    [
        ({"pattern": "constant", "value": -2.5}, np.full((2, 3), -2.5)),
        ({"pattern": "values", "values": [[1, 2, 3], [4, 5, 6]]},
         np.arange(1, 7).reshape(2, 3)),
    ],
)
def test_initial_array(initial, expected):
    spec = PipelineConfig.from_dict({
        "shared_memory": [{"name": "x", "shape": [2, 3], "dtype": "float64",
                           "initial": initial}],
        "sinks": [{"name": "s", "kind": "null.sink", "stream": "x"}],
    }).shared_memory[0]
    np.testing.assert_array_equal(initial_array(spec), expected)


def test_attach_mode_needs_an_existing_stream_and_leaves_it(shm_namespace):
    with pytest.raises(StreamNotFoundError):
        PipelineManager(pipeline(mode="attach")).build()
    external = SharedStream.create("a", (2, 2), "float32")
    try:
        external.write(np.ones((2, 2), "f4"))
        manager = PipelineManager(pipeline(mode="attach"))
        manager.build()
        assert manager.get_stream("a").read().tolist() == [[1, 1], [1, 1]]
        manager.shutdown()
        still = SharedStream.open("a")  # closed, not unlinked
        still.close()
        manager = PipelineManager(pipeline(mode="attach"))
        manager.build()
        manager.shutdown(unlink_external=True)
        with pytest.raises(StreamNotFoundError):
            SharedStream.open("a")
    finally:
        external.close()


def test_create_mode_refuses_a_live_stream_and_create_or_attach_attaches():
    external = SharedStream.create("a", (2, 2), "float32")
    try:
        with pytest.raises(StreamExistsError):
            PipelineManager(pipeline(mode="create")).build()
        manager = PipelineManager(pipeline())
        manager.build()
        external.write(np.full((2, 2), 7, "f4"))
        assert manager.get_stream("a").read()[0, 0] == 7.0
        manager.shutdown()
        SharedStream.open("a").close()  # attached: not unlinked
    finally:
        external.unlink()
        external.close()


def test_create_or_attach_replaces_an_incompatible_stream_and_replace_mode():
    external = SharedStream.create("a", (5,), "int16")
    try:
        with PipelineManager(pipeline()) as manager:
            manager.build()
            assert manager.get_stream("a").shape == (2, 2)
    finally:
        external.close()
    external = SharedStream.create("a", (2, 2), "float32")
    try:
        external.write(np.ones((2, 2), "f4"))
        with PipelineManager(pipeline(mode="replace")) as manager:
            manager.build()
            assert manager.get_stream("a").count == 0
    finally:
        external.close()


def test_document_namespace_scopes_segment_names(shm_namespace):
    raw = pipeline()
    raw["namespace"] = "rig1"
    with PipelineManager(raw) as manager:
        manager.build()
        assert segments(shm_namespace) == [
            f"shmp.{shm_namespace}.rig1.a", f"shmp.{shm_namespace}.rig1.b"]
        manager.start()
        manager.get_stream("a").write(np.full((2, 2), 3, "f4"))
        b = manager.get_stream("b")
        assert b.wait_new(0, timeout=20) == 1
        assert b.read()[1, 1] == 3.0


def test_namespace_argument_overrides_the_environment(shm_namespace):
    with PipelineManager(pipeline(), namespace=f"{shm_namespace}-x") as manager:
        manager.build()
        assert manager.status()["namespace"] == f"{shm_namespace}-x"
        assert sorted(n for n in os.listdir("/dev/shm")
                      if n.startswith(f"shmp.{shm_namespace}-x.")) == [
            f"shmp.{shm_namespace}-x.a", f"shmp.{shm_namespace}-x.b"]


def test_restart_brings_a_failed_pipeline_back_and_keeps_streams():
    import time

    from shmpipeline.state import PipelineState

    raw = pipeline()
    raw["kernels"][0] = {"name": "k", "kind": "cpu.raise_error", "input": "a",
                         "output": "b", "parameters": {"message": "boom"}}
    with PipelineManager(raw, worker_start_timeout=30) as manager:
        manager.build()
        manager.start()
        manager.restart()  # healthy: nothing to do
        assert manager.state is PipelineState.RUNNING
        manager.get_stream("a").write(np.ones((2, 2), "f4"))
        deadline = time.monotonic() + 20
        while not manager.failures and time.monotonic() < deadline:
            manager.poll_events()
            time.sleep(0.01)
        assert manager.state is PipelineState.FAILED
        manager.restart(timeout=30)
        assert manager.state is PipelineState.RUNNING and manager.failures == ()
        assert manager.get_stream("a").count == 1  # streams kept
        assert manager.status()["workers"]["k"]["alive"] is True
        with pytest.raises(Exception, match="cannot restart"):
            PipelineManager(raw).restart()


def test_status_metrics_is_the_published_per_worker_view():
    with PipelineManager(pipeline()) as manager:
        manager.build()
        manager.start()
        status = manager.status()
        assert status["metrics"] == status["workers"]
        assert status["metrics"]["k"]["frame_sync_timeouts"] == 0
