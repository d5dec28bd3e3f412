"""Stream waiting: the wait policies, level-triggered waits
(``wait_for_count``, ``read_after``, ``wait_for_frame_id``) and a reader
noticing its writer's death instead of hanging."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time

import _stream_procs as procs
import numpy as np
import pytest

from shmpipeline.errors import ConfigValidationError, StreamError, StreamWriterDiedError
from shmpipeline.stream import SharedStream
from shmpipeline.stream.wait_policy import (
    WAIT_POLICY_ENV,
    WaitPolicy,
    default_wait_policy,
    parse_wait_policy,
    shared_cpu_wait_policy,
)


@pytest.fixture
def stream():
    handle = SharedStream.create("w", (4,), "float64")
    yield handle
    handle.unlink()
    handle.close()


def _write_later(handle, values, delay=0.001):
    def body():
        for value in values:
            time.sleep(delay)
            handle.write(np.full(4, value, float), frame_id=int(value))

    thread = threading.Thread(target=body)
    thread.start()
    return thread


# --- policies ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("adaptive", WaitPolicy("adaptive", 200.0)),
        ("adaptive:50", WaitPolicy("adaptive", 50.0)),
        ("spin:20", WaitPolicy("spin", 20.0)),
        ("spin:20us", WaitPolicy("spin", 20.0)),
        (" Busy ", WaitPolicy("busy", 0.0)),
        ("sleep", WaitPolicy("sleep", 0.0)),
    ],
)
def test_parse_wait_policy(text, expected):
    assert parse_wait_policy(text) == expected
    assert parse_wait_policy(str(expected)) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("fast", "unknown wait policy 'fast'"),
        ("spin", "'spin' needs a budget"),
        ("spin:x", "must be a number"),
        ("spin:-1", "must be in 0.."),
        ("spin:nan", "must be in 0.."),
        ("busy:5", "takes no budget"),
    ],
)
def test_bad_wait_policy_is_one_line_naming_the_source(text, fragment):
    with pytest.raises(ConfigValidationError) as info:
        parse_wait_policy(text, source="kernel 'k0': wait_policy")
    message = str(info.value)
    assert message.startswith("kernel 'k0': wait_policy")
    assert fragment in message and "\n" not in message


def test_environment_sets_the_default_of_new_handles(monkeypatch, stream):
    monkeypatch.setenv(WAIT_POLICY_ENV, "spin:30")
    assert default_wait_policy() == WaitPolicy("spin", 30.0)
    other = SharedStream.open("w")
    try:
        assert other.wait_policy == WaitPolicy("spin", 30.0)
        other.wait_policy = "busy"
        assert other.wait_policy == WaitPolicy("busy", 0.0)
        other.wait_policy = None
        assert other.wait_policy == WaitPolicy("spin", 30.0)
    finally:
        other.close()
    monkeypatch.setenv(WAIT_POLICY_ENV, "bogus")
    with pytest.raises(ConfigValidationError, match=WAIT_POLICY_ENV):
        default_wait_policy()


@pytest.mark.parametrize(
    ("cpu", "cpus", "expected"),
    [
        (0, [0, 1, 0, 1, 0], "sleep"),  # five kernels round-robin on two CPUs
        (1, [0, 1, 0, 1, 0], "sleep"),
        (0, [0], None),  # a kernel alone on its CPU keeps the default
        (1, [0, 1], None),
        (2, [0, 1, 2, 2], "sleep"),
        (None, [None, None], None),  # not pinned: the scheduler places it
    ],
)
def test_a_kernel_sharing_its_cpu_sleeps_by_default(monkeypatch, cpu, cpus, expected):
    monkeypatch.delenv(WAIT_POLICY_ENV, raising=False)
    assert shared_cpu_wait_policy(cpu, cpus) == expected
    monkeypatch.setenv(WAIT_POLICY_ENV, "busy")  # the environment wins
    assert shared_cpu_wait_policy(cpu, cpus) is None


@pytest.mark.parametrize("policy", ["adaptive", "spin:50", "busy", "sleep"])
def test_every_policy_delivers_every_frame_and_honours_timeouts(stream, policy):
    reader = SharedStream.open("w")
    reader.wait_policy = policy
    try:
        thread = _write_later(stream, [1.0, 2.0, 3.0])
        got = [reader.read_new(timeout=10)[0]]
        while got[-1] != 3.0:
            got.append(reader.read_new(timeout=10)[0])
        thread.join()
        # a frame may be skipped to the latest, never repeated or reordered
        assert got == sorted(set(got)) and got[-1] == 3.0
        assert reader.wait_new(reader.count, timeout=0.01) == 3
        with pytest.raises(TimeoutError):
            reader.read_new(timeout=0.01)
    finally:
        reader.close()


def test_busy_wait_returns_on_a_kick(stream):
    stream.wait_policy = "busy"
    timer = threading.Timer(0.01, stream.wake_waiters)
    timer.start()
    assert stream.wait_new(0, timeout=10) == 0
    timer.join()


def test_adaptive_stops_spinning_for_slow_frames_and_spins_after_a_quick_one(stream):
    reader = SharedStream.open("w")
    try:
        reader.wait_policy = "adaptive:100"
        assert reader.spin_ns == 100_000  # starts at the cap
        thread = _write_later(stream, [1.0], delay=0.01)  # far past the cap
        reader.read_new(timeout=10)
        thread.join()
        assert reader.spin_ns == 50_000  # halved
        for value in (2.0, 3.0, 4.0, 5.0):
            thread = _write_later(stream, [value], delay=0.01)
            reader.read_new(timeout=10)
            thread.join()
        assert reader.spin_ns == 0  # 25, 12.5, 6.25 µs, then below the minimum
        reader.wait_policy = "adaptive:1000000"  # a 1 s cap
        thread = _write_later(stream, [2.0], delay=0.002)
        reader.read_new(timeout=10)
        thread.join()
        # spin about four times the (>= 2 ms) arrival delay next time
        assert reader.spin_ns >= 8_000_000
    finally:
        reader.close()


# --- level-triggered waits -------------------------------------------------------------


def test_wait_for_count_is_level_triggered(stream):
    stream.write(np.zeros(4), frame_id=10)
    stream.write(np.ones(4), frame_id=11)
    assert stream.wait_for_count(0, timeout=0) == 2
    assert stream.wait_for_count(after=1, timeout=1) == 2
    with pytest.raises(TimeoutError, match="past count 2"):
        stream.wait_for_count(2, timeout=0.01)
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match="after must be a non-negative integer"):
            stream.wait_for_count(bad, timeout=0)


def test_read_after_reads_the_latest_frame_past_the_count(stream):
    reader = SharedStream.open("w")
    try:
        thread = _write_later(stream, [5.0, 6.0])
        frame = reader.read_after(1, timeout=10)
        thread.join()
        assert frame[0] == 6.0 and reader.last_read_count == 2
        out = np.empty(4)
        assert reader.read_after(0, 0, out=out) is out and out[0] == 6.0
        with pytest.raises(TimeoutError):
            reader.read_after(2, timeout=0.01)
    finally:
        reader.close()


def test_wait_for_frame_id(stream):
    with pytest.raises(TimeoutError, match="frame id 0"):
        stream.wait_for_frame_id(0, timeout=0.01)  # nothing published yet
    thread = _write_later(stream, [3.0, 7.0, 9.0])
    assert stream.wait_for_frame_id(7, timeout=10) >= 7
    thread.join()
    assert stream.wait_for_frame_id(9, timeout=0) == 9
    with pytest.raises(TimeoutError, match="latest id 9"):
        stream.wait_for_frame_id(10, timeout=0.01)


# --- dead writers ------------------------------------------------------------------


def test_reader_without_timeout_raises_when_its_writer_was_killed(stream):
    assert stream.writer_pid == 0 and stream.writer_alive()  # the creator: us
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=procs.write_one_and_hang, args=("w", ready))
    child.start()
    try:
        assert ready.wait(60)
        assert stream.writer_pid == child.pid and stream.writer_alive()
        stream.read_new()  # the frame it wrote
        os.kill(child.pid, signal.SIGKILL)
        child.join(10)
        with pytest.raises(StreamWriterDiedError, match=f"writer process {child.pid} is dead"):
            stream.read_new()  # no timeout: must not hang
        assert isinstance(StreamWriterDiedError("x"), StreamError)
        with pytest.raises(StreamWriterDiedError):
            stream.wait_for_frame_id(2)
        with pytest.raises(TimeoutError):  # a bounded wait just times out
            stream.read_new(timeout=0.01)
        stream.write(np.zeros(4))  # a new writer takes over
        assert stream.writer_pid == os.getpid() and stream.writer_alive()
    finally:
        if child.is_alive():
            child.kill()
        child.join(10)


def test_interruptible_wait_for_frame_id_returns_on_a_kick(stream):
    stream.write(np.zeros(4), frame_id=3)
    timer = threading.Timer(0.01, stream.wake_waiters)
    timer.start()
    assert stream.wait_for_frame_id(5, timeout=10, interruptible=True) == 3
    timer.join()
    with pytest.raises(TimeoutError):
        stream.wait_for_frame_id(5, timeout=0.01, interruptible=True)


def test_a_kick_before_the_wait_is_seen_through_kicks_seen(stream):
    """A waiter that read kick_count before it started expecting a frame
    returns on a kick that came before its wait began (a failing worker's
    kick can precede the driver's wait)."""
    stream.write(np.zeros(4), frame_id=3)
    before = stream.kick_count
    stream.wake_waiters()  # the kick lands first
    assert stream.kick_count == before + 1
    assert stream.wait_for_frame_id(5, timeout=10, kicks_seen=before) == 3
    # from the current count on, only a new kick (or the frame) ends the wait
    with pytest.raises(TimeoutError):
        stream.wait_for_frame_id(5, timeout=0.01, kicks_seen=stream.kick_count)
    stream.write(np.zeros(4), frame_id=5)
    assert stream.wait_for_frame_id(5, timeout=10, kicks_seen=before) == 5


def test_claim_writer_before_the_first_write(stream):
    reader = SharedStream.open("w")
    try:
        reader.claim_writer()
        assert stream.writer_pid == os.getpid() and stream.writer_alive()
        assert stream.count == 0  # claiming publishes nothing
    finally:
        reader.close()
