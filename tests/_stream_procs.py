"""Child-process bodies for the stream tests (spawned, so kept importable and
light: no pytest import here). Streams are found through the inherited
``SHMPIPELINE_NAMESPACE``."""

from __future__ import annotations

import os
import time

import numpy as np

from shmpipeline.stream import SharedStream

FRAME_ID_FACTOR = 7  # writers stamp frame_id = count * 7, readers check it


def create_and_exit(name: str, shape, dtype: str) -> None:
    """Create a stream, publish one frame, exit without unlinking (a crash)."""
    stream = SharedStream.create(name, shape, dtype)
    stream.write(np.ones(shape, dtype))
    stream.close()


def uniform_writer(name: str, seconds: float, start, result) -> None:
    """Write frames whose every element equals their count, as fast as
    possible, alternating write() and write_view(); report how many."""
    stream = SharedStream.open(name)
    frame = np.empty(stream.shape, stream.dtype)
    start.wait(60)
    written = stream.count
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(64):
            written += 1
            if written & 1:
                frame.fill(written)
                stream.write(frame, frame_id=written * FRAME_ID_FACTOR)
            else:
                with stream.write_view(frame_id=written * FRAME_ID_FACTOR) as buf:
                    buf.fill(written)
    result.put(("writer", written))
    stream.close()


def uniform_reader(name: str, mode: str, ready, stop, result) -> None:
    """Read frames until ``stop`` is set; count reads, torn frames (not all
    elements equal to the frame's count) and metadata mismatches."""
    stream = SharedStream.open(name)
    buf = np.empty(stream.shape, stream.dtype)
    equal = np.empty(stream.shape, bool)
    reads = torn = bad_meta = distinct = 0
    last = -1
    ready.set()
    while not stop.is_set():
        for _ in range(256):
            if mode == "new":
                try:
                    count = stream.read_new_into(buf, timeout=0.05)
                except TimeoutError:
                    break  # writer done? check stop
            else:
                count = stream.read_into(buf)
            reads += 1
            if count != last:
                distinct += 1
                last = count
            np.equal(buf, count, out=equal)
            if not equal.all():
                torn += 1
            if count and stream.last_frame_id != count * FRAME_ID_FACTOR:
                bad_meta += 1
    result.put(
        (
            mode,
            {
                "reads": reads,
                "torn": torn,
                "bad_meta": bad_meta,
                "distinct": distinct,
                "retries": stream.read_retries,
            },
        )
    )
    stream.close()


def blocked_reader(name: str, ready, result) -> None:
    """Block in read_new on a stream nobody writes yet; report the frame and
    the CPU time (user + system) this process used while waiting."""
    stream = SharedStream.open(name)
    ready.set()
    before = os.times()
    frame = stream.read_new(timeout=60)
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    result.put((frame, cpu, stream.last_read_count))
    stream.close()


def open_read_exit(name: str, result) -> None:
    """Open a stream, read it and exit (resource_tracker check)."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    stream = SharedStream.open(name)
    result.put(stream.read())
    stream.close()


def full_speed_writer(name: str, frames: int, start) -> None:
    """Write ``frames`` frames back to back, every element = the count."""
    stream = SharedStream.open(name)
    start.wait(60)
    for n in range(stream.count + 1, stream.count + frames + 1):
        with stream.write_view() as buf:
            buf.fill(n)
    stream.close()


def write_one_and_hang(name: str, ready) -> None:
    """Open a stream, publish one frame, then sleep until killed (a writer
    that dies without warning)."""
    stream = SharedStream.open(name)
    stream.write(np.ones(stream.shape, stream.dtype))
    ready.set()
    time.sleep(600)
