"""Pipeline benchmark: the same YAML on this project and on the published
shmpipeline package, in one run.

Measures, for each implementation (see ``_pipeline_driver.py``):
- lifecycle of a three-kernel pipeline: median build+start, stop+shutdown;
- single-stage round trip (driver writes the input, waits for the output):
  p50/p99/max µs;
- sustained throughput of the five-stage AO loop with its input written as
  fast as the first stage consumes it: frames/s delivered at the last stage.

The published package runs from its own venv (default /tmp/pubvenv, made with
``python -m venv /tmp/pubvenv && /tmp/pubvenv/bin/pip install shmpipeline``);
it is never a dependency of this project.

    python benchmarks/pipeline_bench.py [--published-python PY] [--record DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from stream_pingpong import machine  # noqa: E402


def run_driver(python: str, impl: str, seconds: float, repeats: int) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if impl == "ours":
        env["PYTHONPATH"] = str(REPO)
        env["SHMPIPELINE_NAMESPACE"] = f"bench{os.getpid()}"
    cmd = [
        python,
        str(HERE / "_pipeline_driver.py"),
        "--impl",
        impl,
        "--configs",
        str(HERE / "configs"),
        "--seconds",
        str(seconds),
        "--repeats",
        str(repeats),
    ]
    # cwd outside the repo, so the published run cannot import our package
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/tmp", env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{impl} driver failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def render(ours: dict, pub: dict | None, info: dict, argv: list[str]) -> str:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.3f}" if b else "n/a"

    rows = [
        ("build+start, 3 kernels (s, median)", "lifecycle", "build_start_s", "{:.3f}"),
        ("stop+shutdown, 3 kernels (s, median)", "lifecycle", "stop_shutdown_s", "{:.3f}"),
        ("single-stage round trip p50 (µs)", "round_trip", "p50_us", "{:.1f}"),
        ("single-stage round trip p99 (µs)", "round_trip", "p99_us", "{:.1f}"),
        ("single-stage round trip max (µs)", "round_trip", "max_us", "{:.1f}"),
        ("five-stage loop throughput (frames/s)", "throughput", "frames_per_s", "{:.0f}"),
    ]
    lines = [
        "| metric | shmpipeline (this) | shmpipeline 1.3.0 (PyPI) | this / published |",
        "|---|---|---|---|",
    ]
    for label, group, key, fmt in rows:
        a = ours[group][key]
        b = pub[group][key] if pub else None
        lines.append(
            f"| {label} | {fmt.format(a)} | "
            f"{fmt.format(b) if b is not None else 'n/a'} | "
            f"{ratio(a, b) if b is not None else 'n/a'} |"
        )
    head = [
        f"- command: `python benchmarks/pipeline_bench.py {shlex.join(argv)}`",
        *(f"- {k}: {v}" for k, v in info.items()),
        "",
    ]
    if "lifecycle_forkserver" in ours:
        fs = ours["lifecycle_forkserver"]
        lines.append(
            f"| build+start / stop+shutdown with spawn_method='forkserver' (s, median) | "
            f"{fs['build_start_s']:.3f} / {fs['stop_shutdown_s']:.3f} | n/a | n/a |"
        )
    tail = ["", "```json", json.dumps({"ours": ours, "published": pub}, indent=2), "```"]
    return "\n".join(head + lines + tail) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published-python", default="/tmp/pubvenv/bin/python")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--record", type=Path, help="write a dated result file here")
    parser.add_argument("--note", default="", help="free text for the record")
    args = parser.parse_args(argv)

    info = machine()
    info["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    ours = run_driver(sys.executable, "ours", args.seconds, args.repeats)
    pub = None
    if Path(args.published_python).exists():
        pub = run_driver(args.published_python, "published", args.seconds, args.repeats)
    else:
        print(f"published package not found at {args.published_python}", file=sys.stderr)
    text = render(ours, pub, info, argv)
    print(text)
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        day = dt.date.today().isoformat()
        body = "# Pipeline benchmark\n\n" + (f"Note: {args.note}\n\n" if args.note else "") + text
        (args.record / f"pipeline_bench-{day}.md").write_text(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
