"""No process outlives its manager: SIGKILL a manager (spawn, forkserver)
and every process it started (workers, the forkserver) exits; a reader of a
stream whose writer (a synthetic input, inside the manager) was killed gets
StreamWriterDiedError instead of hanging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shmpipeline.errors import StreamWriterDiedError
from shmpipeline.lifeline import Lifeline, ParentInfo
from shmpipeline.stream import SharedStream, cleanup_stale
from shmpipeline.stream._process import process_alive

HERE = Path(__file__).resolve().parent
#: generous bound for the test (the measured figure is printed)
GONE_WITHIN_S = 10.0


def _children() -> dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] not in (b"Z", b"X"):
            parents[int(entry)] = int(fields[1])
    return parents


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        for child, parent in parents.items():
            if parent == current and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _start_manager(method: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_orphan_manager.py"), method],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"manager did not start: {proc.stderr.read()[-2000:]}")
    assert json.loads(line) == {"ready": True}
    return proc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="walks /proc")
@pytest.mark.parametrize("method", ["spawn", "forkserver", "pool", "pool-forkserver"])
def test_sigkilled_manager_leaves_no_process_behind(method, shm_namespace, record_property):
    proc = _start_manager(method)
    try:
        children = _descendants(proc.pid)
        assert len(children) >= 2  # the two workers (plus forkserver, tracker)
        reader = SharedStream.open("src")
        try:
            reader.read_new(timeout=10)  # the synthetic writer runs
            assert reader.writer_pid == proc.pid
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
            killed = time.monotonic()
            with pytest.raises(StreamWriterDiedError, match=str(proc.pid)):
                while True:
                    reader.read_new()  # no timeout: must not hang
        finally:
            reader.close()
        while time.monotonic() - killed < GONE_WITHIN_S:
            alive = {pid for pid in children if process_alive(pid)}
            if not alive:
                break
            time.sleep(0.005)
        gone_after = time.monotonic() - killed
        record_property("children_gone_after_s", round(gone_after, 3))
        print(f"{method}: {len(children)} children gone {gone_after * 1e3:.0f} ms after SIGKILL")
        assert alive == set(), f"still alive {GONE_WITHIN_S} s after the manager died: {alive}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()
        cleanup_stale(shm_namespace)  # the killed manager's segments


def test_lifeline_in_this_process_sees_its_parent():
    parent = ParentInfo.current()
    assert parent.pid == os.getpid() and parent.main_thread
    line = Lifeline(os.getppid())
    assert line.parent_alive()
    line.exit_if_orphaned()  # returns: our parent lives
    assert not Lifeline(os.getppid() + 1_000_000).parent_alive()
