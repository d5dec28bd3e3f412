"""What a pool task carries and what a pool worker runs: a kernel class
defined in the main script reaches the workers (which otherwise never re-run
that script), a registry's kinds a pipeline does not use stay in the manager,
and a failing middle stage wakes whoever waits for a later stage."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _pool_task_kernels import SlowFailingKernel
from test_manager import chain, wait_frame

from shmpipeline import PipelineManager
from shmpipeline.kernel import Kernel
from shmpipeline.pool import WorkerPool
from shmpipeline.registry import get_default_registry

REPO = Path(__file__).resolve().parents[1]

_MAIN_SCRIPT = '''
import os
import sys

import numpy as np

from shmpipeline import PipelineManager
from shmpipeline.kernel import Kernel
from shmpipeline.pool import WorkerPool
from shmpipeline.registry import get_default_registry

with open(os.environ["MAIN_RUNS"], "a") as runs:  # who ran this script, and as what
    runs.write(f"{{os.getpid()}} {{__name__}}\\n")


class TripleKernel(Kernel):
    kind = "test.main_triple"
    storage = "cpu"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.multiply(trigger_input, 3, out=output)


def run(pool, kind):
    registry = get_default_registry().extended(TripleKernel)
    config = {{
        "shared_memory": [
            {{"name": "s0", "shape": [4], "dtype": "float64"}},
            {{"name": "s1", "shape": [4], "dtype": "float64"}},
        ],
        "kernels": [{{"name": "k0", "kind": kind, "input": "s0", "output": "s1"}}],
    }}
    with PipelineManager(config, registry=registry, workers=pool) as manager:
        manager.build()
        manager.start()
        out = manager.get_stream("s1")
        manager.get_stream("s0").write(np.arange(4.0), frame_id=1)
        out.wait_for_frame_id(1, timeout=30)
        return out.read().tolist()


if __name__ == "__main__":
    with WorkerPool(1, spawn_method=sys.argv[1]) as pool:
        print("builtin", run(pool, "cpu.copy"), flush=True)
        with open(os.environ["MAIN_RUNS"], "a") as runs:
            runs.write("-- main-defined kind next\\n")
        print("main", run(pool, "test.main_triple"), flush=True)
'''


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_kernel_class_defined_in_the_main_script_reaches_pool_workers(tmp_path, method):
    """Pool workers do not re-run the main script when they start (a task
    with a built-in kind never runs it); a task whose kernel class lives in
    ``__main__`` has its worker run the script then, as ``__mp_main__``
    (its ``if __name__ == "__main__":`` part not)."""
    script = tmp_path / "main_kernel_script.py"
    script.write_text(textwrap.dedent(_MAIN_SCRIPT.format()))
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "MAIN_RUNS": str(runs), "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    )}
    done = subprocess.run(
        [sys.executable, str(script), method], env=env, capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "builtin [0.0, 1.0, 2.0, 3.0]",
        "main [0.0, 3.0, 6.0, 9.0]",
    ]
    before, after = runs.read_text().split("-- main-defined kind next\n")
    assert [line.split()[1] for line in before.splitlines()] == ["__main__"]
    assert [line.split()[1] for line in after.splitlines()] == ["__mp_main__"]


def test_a_registry_kind_the_pipeline_does_not_use_stays_in_the_manager():
    """Only the kernel's own class travels to its worker: a registry that
    also holds a class no worker could unpickle (defined in a function)
    still runs a pipeline of other kinds, pooled or not."""

    class LocalKernel(Kernel):  # cannot be pickled by reference
        kind = "test.local_only"
        storage = "cpu"

        def compute_into(self, trigger_input, output, auxiliary_inputs):
            output[...] = trigger_input

    registry = get_default_registry().extended(LocalKernel)
    config = chain(("cpu.scale", {"parameters": {"factor": 2.0}}))
    with WorkerPool(1, spawn_method="forkserver") as pool:
        for workers in (pool, None):
            with PipelineManager(config, registry=registry, workers=workers) as manager:
                manager.build()
                manager.start()
                manager.get_stream("s0").write(np.full(8, 1.5), frame_id=1)
                np.testing.assert_array_equal(wait_frame(manager.get_stream("s1"), 1), np.full(8, 3.0))


@pytest.mark.parametrize("pooled", [False, True], ids=["spawned", "pooled"])
def test_a_failing_middle_stage_wakes_a_waiter_on_the_last_stage(pooled):
    """A kernel that fails while computing kicks every stream's waiters, so
    an interruptible wait on a stage after it returns (no frame) instead of
    lasting until its timeout; the manager then has the failure."""
    registry = get_default_registry().extended(SlowFailingKernel)
    config = chain(("cpu.copy", {}), ("test.slow_failing", {}), ("cpu.copy", {}))
    pool = WorkerPool(3, spawn_method="forkserver") if pooled else None
    try:
        with PipelineManager(config, registry=registry, workers=pool) as manager:
            manager.build()
            manager.start()
            last = manager.get_stream("s3")
            manager.get_stream("s0").write(np.ones(8), frame_id=1)
            # the failure comes SLOW_FAILURE_S after the write: this wait is
            # under way by then; without the kick it would raise TimeoutError
            latest = last.wait_for_frame_id(1, timeout=30, interruptible=True)
            assert latest < 1 and last.count == 0
            deadline_polls = 200
            while not manager.failures and deadline_polls:
                manager.poll_events()
                deadline_polls -= 1
                if not manager.failures:
                    manager.get_stream("s2").wait_new(0, timeout=0.05)
            assert [f["kernel"] for f in manager.failures] == ["k1"]
            assert "middle stage failed" in manager.failures[0]["message"]
    finally:
        if pool is not None:
            pool.shutdown()
