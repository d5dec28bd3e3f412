"""Ping-pong through the published pyshmem package (run with its venv's python).

Same measurement as ``stream_pingpong.py`` does for shmpipeline: an echo
process copies each frame of stream A back into stream B; the parent times
write(A) -> blocking read of B. Uses pyshmem idiomatically in its fastest
blocking mode: streams created with ``notify=True`` (futex-woken readers)
and the level-triggered ``read_after(count, out=buffer)`` its docs prescribe
for request/reply exchanges. Prints one JSON object per shape on stdout.

    /tmp/pubvenv/bin/python benchmarks/_pyshmem_pingpong.py --shapes 4 256x256
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pingpong_common import (  # noqa: E402
    STOP_VALUE,
    iteration_budget,
    parse_shape,
    pin,
    shape_label,
    summarize,
    usable_cpus,
)

TIMEOUT = 30.0


def _echo(ping_name: str, pong_name: str, shape, ready, cpus) -> None:
    import pyshmem

    pin(1, cpus)
    ping = pyshmem.open(ping_name)
    pong = pyshmem.open(pong_name)
    buf = np.empty(shape, np.float32)
    last = ping.count
    ready.set()
    try:
        while True:
            ping.read_after(last, out=buf, timeout=TIMEOUT)
            last = ping.last_read_count
            if buf.item(0) == STOP_VALUE:
                break
            pong.write(buf)
    finally:
        ping.close()
        pong.close()


def run_shape(shape: tuple[int, ...], seconds: float, cpus: list[int]) -> dict:
    import pyshmem

    tag = f"ppb{os.getpid()}_{'x'.join(map(str, shape))}"
    ping = pyshmem.create(f"{tag}_ping", shape=shape, dtype=np.float32, notify=True)
    pong = pyshmem.create(f"{tag}_pong", shape=shape, dtype=np.float32, notify=True)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_echo, args=(ping.name, pong.name, shape, ready, cpus))
    child.start()
    try:
        if not ready.wait(TIMEOUT):
            raise RuntimeError("echo process did not start")
        frame = np.zeros(shape, np.float32)
        back = np.empty(shape, np.float32)
        warmup, cap = iteration_budget(shape, seconds)
        last = pong.count
        for _ in range(warmup):
            ping.write(frame)
            pong.read_after(last, out=back, timeout=TIMEOUT)
            last = pong.last_read_count
        latencies = []
        append = latencies.append
        clock = time.perf_counter_ns
        start = clock()
        end = start + int(seconds * 1e9)
        for _ in range(cap):
            t0 = clock()
            ping.write(frame)
            pong.read_after(last, out=back, timeout=TIMEOUT)
            t1 = clock()
            last = pong.last_read_count
            append(t1 - t0)
            if t1 >= end:
                break
        elapsed = (clock() - start) * 1e-9
        stop = np.full(shape, STOP_VALUE, np.float32)
        ping.write(stop)
        child.join(TIMEOUT)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        for handle in (ping, pong):
            handle.unlink()
    result = summarize(latencies, elapsed)
    result.update(shape=shape_label(shape), impl=f"pyshmem {pyshmem.__version__}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["4", "256x256", "1024x1024"])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args(argv)
    cpus = usable_cpus()
    pin(0, cpus)
    for text in args.shapes:
        result = run_shape(parse_shape(text), args.seconds, cpus)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
