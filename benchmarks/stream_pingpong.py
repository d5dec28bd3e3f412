"""Round-trip latency of shmpipeline streams: two processes ping-pong frames.

The parent writes a frame to stream ``ping``; an echo process (spawned,
pinned to another CPU where possible) waits for it with ``read_new_into``
and writes it back to ``pong``; the parent's ``read_new_into`` on ``pong``
completes the round trip. Reported per shape (float32): p50 / p99 / max
round trip in µs and round trips per second.

``--runs 20 --frames 2000`` measures the distribution instead: 20 fresh
process pairs of 2,000 round trips each (no warm-up), reporting every run's
p50 and how many are within 1.5x of the best (a latency that depends on luck
shows up as a bimodal list). ``--wait-policy`` sets the streams' policy
(``adaptive``, ``spin:<µs>``, ``busy``, ``sleep``) for both processes.

``--against pyshmem`` runs the same measurement through the published
pyshmem package (in its own virtual environment, never a dependency of this
project) in the same invocation and prints the ratios. ``--record DIR``
writes a dated Markdown result file with the machine description.

    python benchmarks/stream_pingpong.py --against pyshmem --record benchmarks/results
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))  # run from a checkout without installing
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
DEFAULT_PYSHMEM_PYTHON = "/tmp/pubvenv/bin/python"


def _echo(namespace: str, shape, ready, cpus) -> None:
    from shmpipeline.stream import SharedStream

    pin(1, cpus)
    ping = SharedStream.open("ping", namespace=namespace)
    pong = SharedStream.open("pong", namespace=namespace)
    buf = np.empty(shape, np.float32)
    ready.set()
    try:
        while True:
            ping.read_new_into(buf, timeout=TIMEOUT)
            if buf.item(0) == STOP_VALUE:
                break
            pong.write(buf)
    finally:
        ping.close()
        pong.close()


def run_shape(
    shape: tuple[int, ...],
    seconds: float,
    cpus: list[int],
    *,
    frames: int | None = None,
) -> dict:
    from shmpipeline.stream import SharedStream

    namespace = f"bench{os.getpid()}x{'x'.join(map(str, shape))}"
    ping = SharedStream.create("ping", shape, np.float32, namespace=namespace)
    pong = SharedStream.create("pong", shape, np.float32, namespace=namespace)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    child = ctx.Process(target=_echo, args=(namespace, shape, ready, cpus))
    child.start()
    try:
        if not ready.wait(TIMEOUT):
            raise RuntimeError("echo process did not start")
        frame = np.zeros(shape, np.float32)
        back = np.empty(shape, np.float32)
        warmup, cap = iteration_budget(shape, seconds)
        if frames is not None:
            warmup, cap, seconds = 0, frames, 1e6
        for _ in range(warmup):
            ping.write(frame)
            pong.read_new_into(back, timeout=TIMEOUT)
        latencies = []
        append = latencies.append
        clock = time.perf_counter_ns
        start = clock()
        end = start + int(seconds * 1e9)
        for _ in range(cap):
            t0 = clock()
            ping.write(frame)
            pong.read_new_into(back, timeout=TIMEOUT)
            t1 = clock()
            append(t1 - t0)
            if t1 >= end:
                break
        elapsed = (clock() - start) * 1e-9
        ping.write(np.full(shape, STOP_VALUE, np.float32))
        child.join(TIMEOUT)
    finally:
        if child.is_alive():
            child.kill()
            child.join()
        for handle in (ping, pong):
            handle.unlink()
            handle.close()
    result = summarize(latencies, elapsed)
    result.update(shape=shape_label(shape), impl="shmpipeline")
    return result


def run_distribution(shape: tuple[int, ...], runs: int, frames: int, cpus: list[int]) -> dict:
    """``runs`` fresh process pairs of ``frames`` round trips each: every
    run's p50, the best, and how many runs are within 1.5x of the best."""
    p50s = [run_shape(shape, 0.0, cpus, frames=frames)["p50_us"] for _ in range(runs)]
    best = min(p50s)
    return {
        "shape": shape_label(shape),
        "impl": "shmpipeline",
        "runs": runs,
        "frames_per_run": frames,
        "p50s_us": [round(v, 1) for v in p50s],
        "best_p50_us": best,
        "median_p50_us": float(np.median(p50s)),
        "within_1_5x_of_best": sum(1 for v in p50s if v <= 1.5 * best),
    }


def render_distribution(results: list[dict], info: dict, argv) -> str:
    lines = [
        "| shape (float32) | runs within 1.5x of best | best p50 µs | median p50 µs | every run's p50 µs |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['shape']} | {r['within_1_5x_of_best']}/{r['runs']} | "
            f"{r['best_p50_us']:.1f} | {r['median_p50_us']:.1f} | "
            f"{', '.join(f'{v:.1f}' for v in r['p50s_us'])} |"
        )
    head = [
        f"- command: `python benchmarks/stream_pingpong.py {shlex.join(argv)}`",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
    ]
    return "\n".join(head + lines) + "\n"


def run_pyshmem(python: str, shapes: list[str], seconds: float) -> list[dict]:
    """Run the pyshmem twin of this benchmark in its own interpreter."""
    script = HERE / "_pyshmem_pingpong.py"
    cmd = [python, str(script), "--seconds", str(seconds), "--shapes", *shapes]
    with tempfile.TemporaryDirectory(prefix="pyshmem-locks-") as locks:
        # pyshmem keeps one lock file per stream name; keep them out of /tmp.
        env = {**os.environ, "PYSHMEM_LOCK_DIR": locks}
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"pyshmem benchmark failed:\n{proc.stderr}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def machine() -> dict:
    """Describe this machine for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "n/a"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "loadavg_at_start": load,
    }


def _row(r: dict) -> str:
    return (
        f"| {r['shape']} | {r['impl']} | {r['p50_us']:.1f} | {r['p99_us']:.1f} | "
        f"{r['max_us']:.1f} | {r['frames_per_s']:.0f} | {r['iterations']} |"
    )


def render(results: list[dict], baseline: list[dict], info: dict, argv) -> str:
    lines = [
        "| shape (float32) | implementation | p50 µs | p99 µs | max µs | round trips/s | n |",
        "|---|---|---|---|---|---|---|",
    ]
    by_shape = {r["shape"]: r for r in baseline}
    for r in results:
        lines.append(_row(r))
        if r["shape"] in by_shape:
            lines.append(_row(by_shape[r["shape"]]))
    if baseline:
        lines += [
            "",
            "| shape | p50 ours / pyshmem | p99 ours / pyshmem | throughput ours / pyshmem |",
            "|---|---|---|---|",
        ]
        for r in results:
            b = by_shape.get(r["shape"])
            if b:
                lines.append(
                    f"| {r['shape']} | {r['p50_us'] / b['p50_us']:.3f} | "
                    f"{r['p99_us'] / b['p99_us']:.3f} | "
                    f"{r['frames_per_s'] / b['frames_per_s']:.2f}x |"
                )
    head = [
        f"- command: `python benchmarks/stream_pingpong.py {shlex.join(argv)}`",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
    ]
    return "\n".join(head + lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes",
        nargs="+",
        default=["4", "256x256", "1024x1024"],
        help="frame shapes, e.g. 4 256x256 (float32)",
    )
    parser.add_argument("--seconds", type=float, default=2.0, help="per shape")
    parser.add_argument("--against", choices=["pyshmem"], default=None)
    parser.add_argument("--pyshmem-python", default=DEFAULT_PYSHMEM_PYTHON)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--record", metavar="DIR", help="write a dated .md result")
    parser.add_argument("--note", default="", help="free text for the record")
    parser.add_argument("--runs", type=int, default=1, help="fresh runs per shape")
    parser.add_argument("--frames", type=int, default=2000, help="round trips per run (--runs > 1)")
    parser.add_argument("--wait-policy", default=None, help="adaptive, spin:<us>, busy, sleep")
    args = parser.parse_args(argv)
    if args.wait_policy:
        from shmpipeline.stream.wait_policy import WAIT_POLICY_ENV, parse_wait_policy

        parse_wait_policy(args.wait_policy, source="--wait-policy")
        os.environ[WAIT_POLICY_ENV] = args.wait_policy  # both processes

    info = machine()
    info["date"] = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    cpus = usable_cpus()
    pinned = pin(0, cpus)
    info["pinning"] = (
        f"parent on cpu {cpus[0]}, echo on cpu {cpus[1]}"
        if pinned is not None
        else "none"
    )

    info["wait_policy"] = args.wait_policy or "default (adaptive)"
    if args.runs > 1:
        results = [
            run_distribution(parse_shape(s), args.runs, args.frames, cpus)
            for s in args.shapes
        ]
        body = render_distribution(results, info, argv)
        print(body)
        if args.json:
            print(json.dumps({"machine": info, "shmpipeline": results}, indent=2))
        if args.record:
            out = Path(args.record)
            out.mkdir(parents=True, exist_ok=True)
            out = out / f"stream_pingpong_distribution-{dt.date.today().isoformat()}.md"
            with out.open("a") as handle:
                handle.write(
                    "# Stream ping-pong: p50 over fresh runs\n\n"
                    + (f"Note: {args.note}\n\n" if args.note else "")
                    + body
                    + "\n```json\n"
                    + json.dumps({"machine": info, "shmpipeline": results}, indent=2)
                    + "\n```\n\n"
                )
            print(f"recorded {out}", file=sys.stderr)
        return 0
    results = [run_shape(parse_shape(s), args.seconds, cpus) for s in args.shapes]
    baseline: list[dict] = []
    if args.against == "pyshmem":
        baseline = run_pyshmem(args.pyshmem_python, args.shapes, args.seconds)

    if args.json:
        print(
            json.dumps(
                {"machine": info, "shmpipeline": results, "pyshmem": baseline}, indent=2
            )
        )
    else:
        print(render(results, baseline, info, argv))
    if args.record:
        out = Path(args.record)
        if out.is_dir() or not out.suffix:
            out.mkdir(parents=True, exist_ok=True)
            out = out / f"stream_pingpong-{dt.date.today().isoformat()}.md"
        body = render(results, baseline, info, argv)
        out.write_text(
            "# Stream ping-pong round trip\n\n"
            "Two processes ping-pong float32 frames through two streams "
            "(write -> blocking read -> write back); round trip measured by the "
            "initiating process. Each round trip copies the frame four times "
            "(write, read, write back, read) across two CPUs, so big frames are "
            "bound by cross-core memory traffic for both implementations; small "
            "frames show the per-hop overhead (publish, wake-up, seqlock read).\n\n"
            + (f"Note: {args.note}\n\n" if args.note else "")
            + body
            + "\n```json\n"
            + json.dumps(
                {"machine": info, "shmpipeline": results, "pyshmem": baseline}, indent=2
            )
            + "\n```\n"
        )
        print(f"recorded {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
