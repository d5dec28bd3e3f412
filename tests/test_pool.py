"""WorkerPool: warm workers lent to managers, returned clean, failed or
killed ones replaced; results equal to the one-process-per-kernel path."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from _runtime_kernels import FailingInitKernel
from test_manager import chain, wait_frame

from shmpipeline import PipelineManager, PipelineState
from shmpipeline.errors import WorkerProcessError
from shmpipeline.pool import WorkerPool
from shmpipeline.registry import get_default_registry
from shmpipeline.stream._process import process_alive

INTEGRATOR = ("cpu.leaky_integrator", {"parameters": {"leak": 0.5, "gain": 1.0}})


@pytest.fixture(scope="module", params=["spawn", "forkserver"])
def pool(request):
    workers = WorkerPool(2, spawn_method=request.param)
    yield workers
    workers.shutdown()


def _run(config, frames, **options):
    """Outputs of the last stream for each input frame, one at a time."""
    with PipelineManager(config, **options) as manager:
        manager.build()
        manager.start()
        last = manager.config.kernels[-1].output
        outputs = []
        for k, frame in enumerate(frames):
            manager.get_stream("s0").write(frame, frame_id=k)
            outputs.append(wait_frame(manager.get_stream(last), k))
        pids = [w["pid"] for w in manager.status()["workers"].values()]
        manager.stop()
        assert manager.state is PipelineState.BUILT
    return np.array(outputs), pids


def test_pool_results_equal_fresh_processes_and_workers_are_reused(pool):
    config = chain(("cpu.scale", {"parameters": {"factor": 3.0}}), INTEGRATOR)
    frames = [np.random.default_rng(k).normal(size=8) for k in range(10)]
    fresh, _ = _run(config, frames)
    first, pids_first = _run(config, frames, workers=pool)
    # a fresh kernel instance each run: the integrator starts from zero again
    second, pids_second = _run(config, frames, workers=pool)
    np.testing.assert_array_equal(first, fresh)
    np.testing.assert_array_equal(second, fresh)
    assert sorted(pids_first) == sorted(pids_second)  # the same warm processes
    assert pool.idle == pool.size >= 2


def test_pool_grows_to_the_largest_pipeline(pool):
    config = chain(*[("cpu.copy", {})] * 3)
    out, pids = _run(config, [np.ones(8)], workers=pool)
    np.testing.assert_array_equal(out[0], np.ones(8))
    assert len(set(pids)) == 3 and pool.size >= 3


def _failed_start(workers):
    """Start a pipeline whose first kernel fails in init; its worker's pid."""
    registry = get_default_registry().extended(FailingInitKernel)
    manager = PipelineManager(
        chain(("test.failing_init", {}), ("cpu.copy", {})), registry=registry, workers=workers
    )
    try:
        manager.build()
        with pytest.raises(WorkerProcessError, match="bad calibration file"):
            manager.start()
        return manager.status(poll=False)["workers"]["k0"]["pid"]
    finally:
        manager.shutdown(force=True)


def test_failed_worker_is_replaced_never_reused(pool):
    _, before = _run(chain(("cpu.copy", {})), [np.zeros(8)], workers=pool)
    failed_pid = _failed_start(pool)
    deadline = time.monotonic() + 10
    while process_alive(failed_pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not process_alive(failed_pid)
    assert failed_pid not in pool.pids()
    out, after = _run(chain(("cpu.copy", {})), [np.full(8, 2.0)], workers=pool)
    np.testing.assert_array_equal(out[0], np.full(8, 2.0))
    assert failed_pid not in after


def test_killed_worker_is_reported_and_replaced(pool):
    manager = PipelineManager(chain(("cpu.copy", {})), workers=pool)
    try:
        manager.build()
        manager.start()
        pid = manager.status()["workers"]["k0"]["pid"]
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not manager.failures and time.monotonic() < deadline:
            manager.poll_events()
            time.sleep(0.01)
        assert manager.failures and "signal 9" in manager.failures[0]["message"]
        assert manager.state is PipelineState.FAILED
    finally:
        manager.shutdown(force=True)
    assert pid not in pool.pids()
    out, pids = _run(chain(("cpu.copy", {})), [np.full(8, 5.0)], workers=pool)
    np.testing.assert_array_equal(out[0], np.full(8, 5.0))
    assert pid not in pids


def test_pause_resume_and_restart_on_the_pool(pool):
    with PipelineManager(chain(("cpu.copy", {})), workers=pool) as manager:
        manager.build()
        manager.start()
        manager.pause()
        manager.resume()
        manager.get_stream("s0").write(np.full(8, 1.0), frame_id=1)
        np.testing.assert_array_equal(wait_frame(manager.get_stream("s1"), 1), np.ones(8))
        manager.stop()
        manager.start()  # a second lease from the same manager
        manager.get_stream("s0").write(np.full(8, 2.0), frame_id=2)
        np.testing.assert_array_equal(wait_frame(manager.get_stream("s1"), 2), np.full(8, 2.0))


def test_shutdown_ends_every_worker():
    workers = WorkerPool(2)
    pids = workers.pids()
    assert len(pids) == 2
    workers.shutdown()
    assert workers.size == 0
    assert not any(process_alive(pid) for pid in pids)
    with pytest.raises(WorkerProcessError, match="shut down"):
        workers.lease(1)
    with pytest.raises(ValueError, match="non-negative integer"):
        WorkerPool(-1)
    with pytest.raises(ValueError, match="'spawn' or 'forkserver'"):
        WorkerPool(spawn_method="fork")


_LATE_KERNEL = '''
from shmpipeline.kernel import Kernel


class LateDoubleKernel(Kernel):
    kind = "test.late_double"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        output[...] = trigger_input * 2
'''


def test_kernel_from_a_path_added_after_the_pool_started(pool, tmp_path, monkeypatch):
    """A kernel module importable only through a sys.path entry added after
    the pool (and its fork server) started still runs on the pool: each task
    carries the manager's import path."""
    assert pool.size >= 1  # the pool's workers exist before the path does
    module_dir = tmp_path / "late_plugins"
    module_dir.mkdir()
    (module_dir / "late_kernels_mod.py").write_text(_LATE_KERNEL)
    monkeypatch.syspath_prepend(str(module_dir))
    import late_kernels_mod

    registry = get_default_registry().extended(late_kernels_mod.LateDoubleKernel)
    frames = [np.full(8, float(k)) for k in range(3)]
    out, _ = _run(chain(("test.late_double", {})), frames, workers=pool, registry=registry)
    np.testing.assert_array_equal(out, np.array(frames) * 2)


def test_a_lost_worker_is_replaced_in_the_background_and_a_spare_kept():
    """The failed worker leaves the pool when its run stops; its replacement
    and one spare start in the background, and the next run gets ready
    workers (never the failed one)."""
    with WorkerPool(2, spawn_method="forkserver") as workers:
        failed_pid = _failed_start(workers)
        assert failed_pid not in workers.pids()
        deadline = time.monotonic() + 30
        while workers.idle < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert workers.idle == workers.size == 3  # the survivor, a replacement, a spare
        out, pids = _run(chain(("cpu.copy", {}), ("cpu.copy", {})), [np.full(8, 4.0)], workers=workers)
        np.testing.assert_array_equal(out[0], np.full(8, 4.0))
        assert failed_pid not in pids and len(set(pids)) == 2
    assert not any(process_alive(pid) for pid in [*pids, failed_pid])


def test_recurring_losses_keep_two_spares():
    """A pool that keeps losing workers (a suite replaying a fault scenario)
    keeps two spares beyond its largest lease, each replacement then having
    two runs' time to start; the failed workers are never among them."""
    with WorkerPool(2, spawn_method="forkserver") as workers:
        failed = [_failed_start(workers), _failed_start(workers)]
        deadline = time.monotonic() + 30
        while workers.idle < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert workers.idle == workers.size == 4  # largest lease (2) + two spares
        assert not set(failed) & set(workers.pids())
