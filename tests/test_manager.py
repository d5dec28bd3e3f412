"""PipelineManager: state machine, end-to-end values, failures, pause,
bounded stop, status, synthetic inputs, lockstep determinism.

Every test that starts workers runs twice: with a new process per kernel
(the plain manager) and on a :class:`~shmpipeline.pool.WorkerPool` (what
the replay harness uses), with the same assertions.
"""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import pytest
from _runtime_kernels import AddOneKernel, FailingInitKernel, HangingKernel

from shmpipeline import PipelineManager, PipelineState
from shmpipeline.errors import (
    ConfigValidationError,
    KernelExecutionError,
    StateTransitionError,
    WorkerProcessError,
)
from shmpipeline.pool import WorkerPool
from shmpipeline.registry import get_default_registry


def chain(*kernels, shape=(8,), dtype="float64", extra_streams=()):
    """A mapping config: streams s0..sN in a chain, kernels as (kind, params)."""
    streams = [{"name": f"s{i}", "shape": list(shape), "dtype": dtype} for i in range(len(kernels) + 1)]
    streams += list(extra_streams)
    entries = []
    for i, (kind, params) in enumerate(kernels):
        entry = {"name": f"k{i}", "kind": kind, "input": f"s{i}", "output": f"s{i + 1}"}
        entry.update(params)
        entries.append(entry)
    return {"shared_memory": streams, "kernels": entries}


def wait_frame(stream, frame_id, timeout=10.0):
    deadline = time.monotonic() + timeout
    while stream.count == 0 or stream.frame_id < frame_id:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{stream.name}: frame {frame_id} never came")
        stream.wait_new(stream.count, timeout=remaining)
    return stream.read()


@pytest.fixture(scope="module")
def worker_pool():
    """One pool for this module's pooled runs (workers lent and returned
    test after test, as in a replay session)."""
    pool = WorkerPool(2, spawn_method="forkserver")
    yield pool
    pool.shutdown()


@pytest.fixture(params=["spawned", "pooled"])
def worker_options(request):
    """The manager's ``workers=`` option: a process per kernel, or the pool."""
    if request.param == "spawned":
        return {}
    return {"workers": request.getfixturevalue("worker_pool")}


@pytest.fixture
def managers(worker_options):
    made = []

    def make(config, **kwargs):
        manager = PipelineManager(config, **worker_options, **kwargs)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.shutdown(force=True)


def test_two_stage_values_end_to_end(managers):
    m = managers(chain(("cpu.scale", {"parameters": {"factor": 3.0}}),
                       ("cpu.add_constant", {"parameters": {"constant": -1.0}})))
    m.build()
    m.start()
    rng = np.random.default_rng(0)
    for k in range(20):
        x = rng.normal(size=8)
        m.get_stream("s0").write(x, frame_id=k)
        out = wait_frame(m.get_stream("s2"), k)
        np.testing.assert_array_equal(out, x * 3.0 - 1.0)
    status = m.status()
    assert status["workers"]["k0"]["frames_processed"] == 20
    assert status["workers"]["k1"]["last_frame_id"] == 19
    json.dumps(m.runtime_snapshot())


def test_state_machine_legal_and_illegal(managers):
    m = managers(chain(("cpu.copy", {})))
    assert m.state is PipelineState.INITIALIZED
    for illegal in (m.start, m.pause, m.resume, m.stop):
        with pytest.raises(StateTransitionError, match="initialized"):
            illegal()
    m.build()
    assert m.state is PipelineState.BUILT
    with pytest.raises(StateTransitionError, match="built"):
        m.build()
    with pytest.raises(StateTransitionError, match="built"):
        m.pause()
    m.start()
    assert m.state is PipelineState.RUNNING
    with pytest.raises(StateTransitionError, match="running"):
        m.resume()
    m.pause()
    assert m.state is PipelineState.PAUSED
    with pytest.raises(StateTransitionError, match="paused"):
        m.start()
    m.resume()
    m.stop()
    assert m.state is PipelineState.BUILT
    m.start()  # restart after stop
    m.get_stream("s0").write(np.arange(8.0), frame_id=5)
    np.testing.assert_array_equal(wait_frame(m.get_stream("s1"), 5), np.arange(8.0))
    m.shutdown()
    assert m.state is PipelineState.STOPPED
    m.shutdown()  # idempotent
    with pytest.raises(StateTransitionError, match="stopped"):
        m.build()


def test_invalid_config_lists_every_problem(managers):
    config = chain(("cpu.scale", {"parameters": {"factor": "x"}}), ("cpu.nope", {}))
    m = managers(config)
    with pytest.raises(ConfigValidationError) as info:
        m.build()
    text = "\n".join(info.value.errors)
    assert "kernels[0] 'k0'" in text and "factor" in text
    assert "kernels[1] 'k1'" in text and "cpu.nope" in text
    assert m.state is PipelineState.INITIALIZED


def test_failure_in_compute_is_reported_with_traceback(managers):
    m = managers(chain(("cpu.raise_error", {"parameters": {"message": "sensor on fire"}})))
    m.build()
    m.start()
    m.get_stream("s0").write(np.zeros(8))
    deadline = time.monotonic() + 10
    while m.state is not PipelineState.FAILED and time.monotonic() < deadline:
        m.poll_events()
        time.sleep(0.01)
    assert m.state is PipelineState.FAILED
    with pytest.raises(KernelExecutionError, match="sensor on fire") as info:
        m.raise_if_failed()
    assert info.value.kernel == "k0"
    assert "Traceback" in info.value.traceback
    assert m.failures[0]["where"] == "compute"
    json.dumps(m.status())
    m.stop()
    assert m.state is PipelineState.BUILT


def test_failure_in_init_fails_start(managers):
    registry = get_default_registry().extended(FailingInitKernel)
    m = managers(chain(("test.failing_init", {}), ("cpu.copy", {})), registry=registry)
    m.build()
    with pytest.raises(WorkerProcessError, match="bad calibration file") as info:
        m.start()
    assert info.value.kernel == "k0"
    assert "ValueError" in info.value.traceback
    assert m.state is PipelineState.FAILED
    assert m.failures[0]["where"] == "init"


def test_failure_opening_streams_fails_start(managers):
    m = managers(chain(("cpu.copy", {})))
    m.build()
    m.get_stream("s1").unlink()  # the worker cannot open its output
    with pytest.raises(WorkerProcessError, match="opening its streams"):
        m.start()
    assert m.failures[0]["where"] == "open"


def test_worker_killed_by_signal_is_reported(managers):
    m = managers(chain(("cpu.copy", {})))
    m.build()
    m.start()
    pid = m.status()["workers"]["k0"]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while m.state is not PipelineState.FAILED and time.monotonic() < deadline:
        m.poll_events()
        time.sleep(0.01)
    assert m.state is PipelineState.FAILED
    assert m.failures[0]["exitcode"] == -signal.SIGKILL
    with pytest.raises(WorkerProcessError, match="signal 9"):
        m.raise_if_failed()


def test_pause_stops_processing_and_resume_continues(managers):
    m = managers(chain(("cpu.scale", {"parameters": {"factor": 2.0}})))
    m.build()
    m.start()
    src, out = m.get_stream("s0"), m.get_stream("s1")
    src.write(np.ones(8), frame_id=0)
    wait_frame(out, 0)
    m.pause()
    for k in range(1, 6):
        src.write(np.full(8, float(k)), frame_id=k)
    time.sleep(0.2)
    assert m.status()["workers"]["k0"]["frames_processed"] == 1
    assert out.frame_id == 0
    m.resume()
    src.write(np.full(8, 9.0), frame_id=9)
    np.testing.assert_array_equal(wait_frame(out, 9), np.full(8, 18.0))


def test_stop_with_hung_worker_is_bounded(managers):
    registry = get_default_registry().extended(HangingKernel)
    m = managers(chain(("test.hanging", {})), registry=registry)
    m.build()
    m.start()
    m.get_stream("s0").write(np.zeros(8))
    time.sleep(0.2)  # let it enter compute_into
    pid = m.status()["workers"]["k0"]["pid"]
    m.stop(timeout=0.5)
    assert m.state is PipelineState.BUILT
    assert not m.status()["workers"]["k0"]["alive"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_custom_registry_kernel(managers):
    registry = get_default_registry().extended(AddOneKernel)
    m = managers(chain(("test.add_one", {})), registry=registry)
    m.build()
    m.start()
    m.get_stream("s0").write(np.arange(8.0), frame_id=3)
    np.testing.assert_array_equal(wait_frame(m.get_stream("s1"), 3), np.arange(8.0) + 1)


def test_context_manager_unlinks_everything(shm_namespace, worker_options):
    with PipelineManager(chain(("cpu.copy", {})), **worker_options) as m:
        m.build()
        m.start()
        names = [m.get_stream(n).segment_name for n in ("s0", "s1")]
        assert all(os.path.exists(f"/dev/shm/{n}") for n in names)
    assert m.state is PipelineState.STOPPED
    assert not any(os.path.exists(f"/dev/shm/{n}") for n in names)


def test_get_stream_errors(managers):
    m = managers(chain(("cpu.copy", {})))
    with pytest.raises(StateTransitionError, match="build"):
        m.get_stream("s0")
    m.build()
    with pytest.raises(KeyError, match="s0, s1"):
        m.get_stream("nope")


def test_synthetic_input_drives_pipeline(managers):
    m = managers(chain(("cpu.scale", {"parameters": {"factor": 2.0}})))
    m.build()
    m.start()
    snap = m.start_synthetic_input({"stream_name": "s0", "pattern": "ramp", "rate_hz": 200})
    assert isinstance(snap, dict)
    wait_frame(m.get_stream("s1"), 3)
    assert "s0" in m.synthetic_input_status()
    status = m.status()  # the published key names the same snapshots
    assert status["synthetic_sources"]["s0"]["alive"] is True
    assert status["synthetic_sources"] is status["synthetic_inputs"]
    m.stop_synthetic_input("s0")
    assert m.synthetic_input_status() == {}
    with pytest.raises(ConfigValidationError, match="produced by kernel"):
        m.start_synthetic_input({"stream_name": "s1", "pattern": "constant"})


def test_lockstep_aux_from_sibling_and_feedback(managers):
    """C triggers on A's output, reads B's output (a sibling) and its own
    integrator feedback (D's output, downstream of C): lockstep replay gives
    exactly the sequential NumPy result, frame after frame."""
    shape = [4]
    streams = [{"name": n, "shape": shape, "dtype": "float64"} for n in ("src", "a", "b", "c", "d")]
    config = {
        "shared_memory": streams,
        "kernels": [
            {"name": "A", "kind": "cpu.scale", "input": "src", "output": "a", "parameters": {"factor": 2.0}},
            {"name": "B", "kind": "cpu.add_constant", "input": "src", "output": "b", "parameters": {"constant": 5.0}},
            {"name": "C", "kind": "cpu.custom_operation", "input": "a", "output": "c",
             "auxiliary": {"sib": "b", "fb": "d"}, "operation": "input + sib - 0.5 * fb"},
            {"name": "D", "kind": "cpu.scale", "input": "c", "output": "d", "parameters": {"factor": 0.9}},
        ],
    }
    m = managers(config)
    m.set_lockstep()
    m.build()
    m.start()
    rng = np.random.default_rng(42)
    d_prev = np.zeros(4)
    src, d = m.get_stream("src"), m.get_stream("d")
    for k in range(200):
        x = rng.normal(size=4)
        src.write(x, frame_id=k)
        got = wait_frame(d, k)
        c = 2.0 * x + (x + 5.0) - 0.5 * d_prev
        expected = 0.9 * c
        np.testing.assert_array_equal(got, expected)
        d_prev = expected


def test_status_counts_every_published_frame(managers):
    """Frame statistics are recorded before the output is published, so a
    reader that sees frame k's output also sees frame k counted (recorded
    after publishing, about 1 frame in 200 showed k-1's statistics)."""
    m = managers(chain(("cpu.copy", {})))
    m.build()
    m.start()
    source, sink = m.get_stream("s0"), m.get_stream("s1")
    frame = np.zeros(8)
    stale = []
    for k in range(2000):
        source.write(frame, frame_id=k)
        wait_frame(sink, k)
        stats = m.status(poll=False)["workers"]["k0"]
        if stats["last_frame_id"] < k or stats["frames_processed"] < k + 1:
            stale.append((k, stats["last_frame_id"], stats["frames_processed"]))
    assert stale == []
