"""Streams across processes: no torn frames under a full-speed writer, slow
readers of big frames still get frames, and blocked readers sleep (futex)
instead of burning a CPU, yet wake when written. Assertions are on values
and counts, never on timings."""

from __future__ import annotations

import multiprocessing as mp
import time

import _stream_procs as procs
import numpy as np

from shmpipeline.stream import SharedStream
from shmpipeline.stream import _header as H

CTX = mp.get_context("spawn")


def _finish(*processes, timeout=60):
    for proc in processes:
        proc.join(timeout)
    for proc in processes:
        if proc.is_alive():
            proc.kill()
            proc.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)


def test_no_torn_frames_under_a_full_speed_writer(record_property):
    """A writer process publishes frames whose every element is the frame's
    count, as fast as it can, into a 2-slot stream (so readers are lapped
    often and the seqlock has to reject copies); two reader processes check
    every frame they get for ~3 s: all elements equal to the count they were
    told, and frame_id matching."""
    stream = SharedStream.create("torture", (32, 128), "int64", slots=2)
    start, stop = CTX.Event(), CTX.Event()
    ready = [CTX.Event(), CTX.Event()]
    results = CTX.Queue()
    readers = [
        CTX.Process(
            target=procs.uniform_reader,
            args=("torture", mode, ready[i], stop, results),
        )
        for i, mode in enumerate(("latest", "new"))
    ]
    writer = CTX.Process(
        target=procs.uniform_writer, args=("torture", 3.0, start, results)
    )
    try:
        for proc in readers + [writer]:
            proc.start()
        assert all(event.wait(60) for event in ready)
        start.set()
        writer.join(120)
        stop.set()
        got = dict(results.get(timeout=60) for _ in range(3))
        _finish(writer, *readers)
    finally:
        stop.set()
        start.set()
        stream.unlink()
        stream.close()
    written = got["writer"]
    summary = {"written": written, **{m: got[m] for m in ("latest", "new")}}
    record_property("torture", summary)
    print(summary)
    assert written > 1000
    for mode in ("latest", "new"):
        assert got[mode]["torn"] == 0, summary
        assert got[mode]["bad_meta"] == 0, summary
        assert got[mode]["reads"] > 1000, summary
        assert got[mode]["distinct"] > 10, summary  # really concurrent


def test_slow_reader_of_big_frames_gets_a_healthy_share():
    """4 MiB frames, writer at full speed, reader that copies and verifies
    each frame (slower than the writer): with 3 slots the reader's copy is not
    overwritten mid-way, so it makes progress while the writer runs."""
    frames = 300
    stream = SharedStream.create("big", (1024, 1024), "float32")
    start = CTX.Event()
    writer = CTX.Process(target=procs.full_speed_writer, args=("big", frames, start))
    reader = SharedStream.open("big")
    buf = np.empty((1024, 1024), np.float32)
    seen, torn = [], 0
    try:
        writer.start()
        start.set()
        while True:
            count = reader.read_new_into(buf, timeout=60)
            seen.append(count)
            if not (buf == count).all():
                torn += 1
            if count == frames:
                break
        _finish(writer)
    finally:
        start.set()
        reader.close()
        stream.unlink()
        stream.close()
    print(
        f"slow reader got {len(seen)} of {frames} frames, retries {reader.read_retries}"
    )
    assert torn == 0
    assert seen == sorted(set(seen))  # only newer frames, in order
    # A reader whose copies kept being overwritten would only ever see the
    # last frame (the writer stopped). How many more it sees depends on how
    # the CPUs were shared (76-104 of 300 alone, 8 under load 4), so only
    # progress mid-stream is asserted here (the -s output prints the share).
    assert len(seen) >= 3, (len(seen), reader.read_retries)


def test_blocked_reader_sleeps_and_wakes_when_written():
    """A reader in another process blocks in read_new; once it is asleep on
    the futex (waiters flag up) we leave it ~1 s, then write. It must wake
    with that frame, having used little CPU meanwhile."""
    stream = SharedStream.create("wake", (8,), "float64")
    ready, results = CTX.Event(), CTX.Queue()
    child = CTX.Process(target=procs.blocked_reader, args=("wake", ready, results))
    try:
        child.start()
        assert ready.wait(60)
        flags = stream._h32
        deadline = time.monotonic() + 60
        while not flags[H.I_WAITERS] and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flags[H.I_WAITERS] == 1, "reader never went to sleep on the futex"
        time.sleep(1.0)
        stream.write(np.arange(8.0), frame_id=99)
        frame, cpu, count = results.get(timeout=60)
        _finish(child)
    finally:
        stream.unlink()
        stream.close()
    assert np.array_equal(frame, np.arange(8.0))
    assert count == 1
    assert cpu < 0.2, f"blocked reader used {cpu:.3f} s of CPU in ~1 s of waiting"
