"""Drive one pipeline implementation through the seed API and print JSON.

Run by ``pipeline_bench.py`` twice in one invocation: with this project's
interpreter (``--impl ours``) and with the published package's venv
(``--impl published``). Only the seed API (PipelineManager, get_stream,
stream write/count) is used, plus each stream layer's own level-triggered
wait: ``wait_new`` here, ``wait_for_count`` in pyshmem.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _pingpong_common import summarize

from shmpipeline.manager import PipelineManager


def _waiter(impl: str, stream):
    """Return wait(after, deadline) -> count > after (or raise TimeoutError)."""
    if impl == "ours":

        def wait(after: int, deadline: float) -> int:
            count = stream.count
            while count <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(stream.name)
                count = stream.wait_new(after, timeout=remaining)
            return count

    else:

        def wait(after: int, deadline: float) -> int:
            return stream.wait_for_count(
                after=after, timeout=max(deadline - time.monotonic(), 1e-3)
            )

    return wait


def lifecycle(config: Path, repeats: int, **kwargs) -> dict:
    """Median build+start and stop+shutdown of a pipeline."""
    build_start, stop_shutdown = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        manager = PipelineManager(str(config), **kwargs)
        manager.build()
        manager.start()
        t1 = time.perf_counter()
        manager.stop()
        manager.shutdown()
        t2 = time.perf_counter()
        build_start.append(t1 - t0)
        stop_shutdown.append(t2 - t1)
    return {
        "build_start_s": float(np.median(build_start)),
        "stop_shutdown_s": float(np.median(stop_shutdown)),
        "repeats": repeats,
    }


def round_trip(impl: str, config: Path, seconds: float) -> dict:
    """Single stage: write the input, wait for the output, repeat."""
    manager = PipelineManager(str(config))
    manager.build()
    manager.start()
    try:
        src, out = manager.get_stream("frame"), manager.get_stream("out")
        wait = _waiter(impl, out)
        frame = np.ones(src.shape, dtype=src.dtype)
        latencies: list[int] = []
        end = time.monotonic() + seconds
        warmup = 300
        i = 0
        t_start = time.perf_counter()
        while time.monotonic() < end or i < warmup + 100:
            before = out.count
            t0 = time.perf_counter_ns()
            src.write(frame)
            wait(before, time.monotonic() + 5.0)
            t1 = time.perf_counter_ns()
            if i >= warmup:
                latencies.append(t1 - t0)
            elif i == warmup - 1:
                t_start = time.perf_counter()
            i += 1
        result = summarize(latencies, time.perf_counter() - t_start)
        check = np.asarray(out.read())
        result["value_ok"] = bool(np.allclose(check, 2.0 * frame))
        return result
    finally:
        manager.stop()
        manager.shutdown()


def throughput(impl: str, config: Path, seconds: float) -> dict:
    """Five-stage loop: each input frame is written as soon as the first
    stage has consumed the previous one; count frames at the last stage."""
    manager = PipelineManager(str(config))
    manager.build()
    manager.start()
    try:
        streams = {n: manager.get_stream(n) for n in ("wfs", "slopes", "command")}
        manager.get_stream("recon_matrix").write(
            np.random.default_rng(0).normal(size=(32, 128)).astype(np.float32) * 0.01
        )
        manager.get_stream("recon_offset").write(np.zeros(32, np.float32))
        wfs, slopes, command = streams["wfs"], streams["slopes"], streams["command"]
        first_stage = _waiter(impl, slopes)
        last_stage = _waiter(impl, command)
        frame = np.random.default_rng(1).random((64, 64)).astype(np.float32)
        # warm-up: one frame all the way through
        before = command.count
        wfs.write(frame)
        last_stage(before, time.monotonic() + 10.0)
        written = 0
        c0 = command.count
        t0 = time.perf_counter()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            before = slopes.count
            wfs.write(frame)
            written += 1
            first_stage(before, time.monotonic() + 5.0)
        elapsed = time.perf_counter() - t0
        time.sleep(0.05)  # frames still in flight count as delivered
        delivered = command.count - c0
        return {
            "frames_written": written,
            "frames_delivered": int(delivered),
            "elapsed_s": elapsed,
            "frames_per_s": delivered / elapsed,
        }
    finally:
        manager.stop()
        manager.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--impl", choices=["ours", "published"], required=True)
    parser.add_argument("--configs", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = {
        "impl": args.impl,
        "lifecycle": lifecycle(args.configs / "three_stage.yaml", args.repeats),
        "round_trip": round_trip(args.impl, args.configs / "single_stage.yaml", args.seconds),
        "throughput": throughput(args.impl, args.configs / "ao_loop.yaml", args.seconds),
    }
    if args.impl == "ours":
        # the first forkserver start also starts the server: report the warm ones
        warm = lifecycle(args.configs / "three_stage.yaml", args.repeats + 1,
                         spawn_method="forkserver")
        result["lifecycle_forkserver"] = warm
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
