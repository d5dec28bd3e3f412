"""The replay harness's worker pool ends with the pytest session and with
the ``scenario`` CLI invocation that made it, not only at interpreter exit.

Each case runs in a new interpreter that records the pids of every pool
worker lent, runs a pytest session (or the CLI) in-process, then reports,
still in that interpreter, which of those workers are alive and whether a
harness pool is still running. ``fault_raise_error`` loses a worker, so a
background replacement is in flight when the session ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[1] / "scenarios"
FAULT = SHIPPED / "fault_raise_error.yaml"

_PROBE = """
import json, sys
from shmpipeline import pool as pool_module
from shmpipeline.stream import _process

lent = []
original = pool_module.WorkerPool.lease


def lease(self, count):
    granted = original(self, count)
    lent.extend(worker.pid for worker in granted.workers)
    return granted


pool_module.WorkerPool.lease = lease
status = run()
from shmpipeline.testing.replay import active_harness_pool

print(json.dumps({
    "status": status,
    "lent": len(lent),
    "alive": [pid for pid in lent if _process.process_alive(pid)],
    "pool_running": active_harness_pool() is not None,
}))
"""

_PYTEST_RUN = """
import pytest


def run():
    return int(pytest.main(["-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                            "-p", "no:xdist", "test_replays.py"]))
"""

_TEST_FILE = f"""
from shmpipeline.testing.replay import replay


def test_two_replays_on_the_harness_pool():
    for _ in range(2):
        result = replay({str(FAULT)!r})
        assert result.ok and result.failure.kernel == "boom"
"""

_CLI_RUN = f"""
from shmpipeline.cli import main


def run():
    return main(["scenario", "run", {str(FAULT)!r}])
"""


def _probe(tmp_path: Path, runner: str) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", "")]
        ),
    }
    env.pop("PYTEST_XDIST_WORKER", None)
    script = tmp_path / "probe.py"
    script.write_text(runner + _PROBE)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pytest_session_end_shuts_the_harness_pool_down(tmp_path):
    (tmp_path / "test_replays.py").write_text(_TEST_FILE)
    report = _probe(tmp_path, _PYTEST_RUN)
    assert report["status"] == 0
    assert report["lent"] == 4  # two replays of two kernels
    assert report["alive"] == []
    assert report["pool_running"] is False


def test_cli_invocation_end_shuts_the_harness_pool_down(tmp_path):
    report = _probe(tmp_path, _CLI_RUN)
    assert report["status"] == 0
    assert report["lent"] == 2
    assert report["alive"] == []
    assert report["pool_running"] is False
