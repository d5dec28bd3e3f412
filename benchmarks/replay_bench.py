"""Replay cost: inline executor vs the real pipeline (spawn, forkserver, pool).

Measured in one process (warm: every figure is the median of ``--repeats``
runs after one warm-up run):

- per shipped CPU scenario: wall time of ``run_inline`` and of ``replay``
  with a new process per kernel (``spawn``, ``forkserver``) and on the
  shared worker pool (the harness default). Lockstep scenarios run as fast
  as their frames go through, so the pool is compared with the inline
  executor; a free-running scenario is paced by its own ``rate_hz`` and
  ``duration`` (frames / rate_hz of waiting by definition), so it is
  reported apart, as its wall time against that declared duration;
- where a pool replay's time goes (lockstep scenarios): build, start, the
  frames, stop and the rest (shutdown, source plan), medians in ms;
- lifecycle of the five-kernel AO loop on the pool: build, start, stop,
  shutdown (ms, medians);
- single-stage round trip (driver writes one frame, waits for the output)
  over the first 1000 frames after ``start()`` against frames 1000-2000
  (warm), on the pool and with spawn;
- the single-stage round trip's p50 over ``--runs`` fresh pipelines at [4]
  and [256,256] (how many are within 1.5x of the best);
- ``shmpipeline scenario run`` of the shipped CPU lockstep scenarios from a
  new interpreter (wall time including interpreter start).

    python benchmarks/replay_bench.py [--record benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO))
from stream_pingpong import machine  # noqa: E402

SCENARIOS = REPO / "scenarios"
CONFIGS = HERE / "configs"
#: what the benchmark measures, in order (``--sections`` picks a subset)
SECTIONS = ("scenarios", "phases", "lifecycle", "cold_start", "distribution", "cli")


def _median_s(run, repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def cpu_scenarios() -> list[Path]:
    from shmpipeline.testing.scenario import declared_requirements

    return [
        path
        for path in sorted(SCENARIOS.glob("*.yaml"))
        if "gpu" not in declared_requirements(path)
    ]


def scenario_walls(repeats: int) -> list[dict]:
    from shmpipeline.testing.inline import run_inline
    from shmpipeline.testing.replay import replay
    from shmpipeline.testing.scenario import load_scenario

    rows = []
    for path in cpu_scenarios():
        scenario = load_scenario(path)
        row = {"scenario": scenario.name, "mode": scenario.mode, "frames": scenario.frame_count}
        row["inline_s"] = _median_s(lambda s=scenario: run_inline(s), repeats)
        row["spawn_s"] = _median_s(lambda s=scenario: replay(s, workers=False), repeats)
        row["forkserver_s"] = _median_s(
            lambda s=scenario: replay(s, spawn_method="forkserver"), repeats
        )
        row["pool_s"] = _median_s(lambda s=scenario: replay(s), repeats)
        result = replay(scenario)
        row["pool_ok"] = result.ok
        if scenario.mode == "free_running":
            # paced by its schedule: compare with the duration it declares
            row["paced"] = True
            row["declared_s"] = scenario.frame_count / scenario.rate_hz
            row["pool_over_declared"] = row["pool_s"] / row["declared_s"]
        else:
            row["paced"] = False
            row["pool_over_inline"] = row["pool_s"] / row["inline_s"]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    return rows


def pool_phases(repeats: int) -> list[dict]:
    """Median ms of each phase of a pool replay, per lockstep scenario."""
    from shmpipeline.manager import PipelineManager
    from shmpipeline.testing import replay as replay_module
    from shmpipeline.testing.scenario import load_scenario

    spent: dict[str, float] = {}

    def timed(owner, name: str, phase: str):
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - began

        setattr(owner, name, wrapper)
        return original

    targets = [
        (PipelineManager, "build", "build"),
        (PipelineManager, "start", "start"),
        (PipelineManager, "stop", "stop"),
        (replay_module, "run_lockstep", "frames"),
    ]
    originals = [(owner, name, timed(owner, name, phase)) for owner, name, phase in targets]
    rows = []
    try:
        for path in cpu_scenarios():
            scenario = load_scenario(path)
            if scenario.mode != "lockstep":
                continue
            replay_module.replay(scenario)  # warm-up
            samples: dict[str, list[float]] = {}
            for _ in range(max(repeats, 5)):
                spent.clear()
                began = time.perf_counter()
                replay_module.replay(scenario)
                total = time.perf_counter() - began
                spent["other"] = total - sum(spent.values())
                spent["total"] = total
                for phase, value in spent.items():
                    samples.setdefault(phase, []).append(value * 1e3)
            rows.append(
                {"scenario": scenario.name}
                | {f"{phase}_ms": statistics.median(v) for phase, v in samples.items()}
            )
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    return rows


def pool_lifecycle(repeats: int) -> dict:
    from shmpipeline import PipelineManager
    from shmpipeline.testing.replay import harness_pool

    pool = harness_pool()
    phases: dict[str, list[float]] = {"build": [], "start": [], "stop": [], "shutdown": []}
    for _ in range(repeats + 1):
        manager = PipelineManager(CONFIGS / "ao_loop.yaml", workers=pool)
        t0 = time.perf_counter()
        manager.build()
        t1 = time.perf_counter()
        manager.start()
        t2 = time.perf_counter()
        manager.stop()
        t3 = time.perf_counter()
        manager.shutdown()
        t4 = time.perf_counter()
        for name, value in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            phases[name].append(value * 1e3)
    return {f"{name}_ms": statistics.median(values[1:]) for name, values in phases.items()}


def _single_stage(shape: tuple[int, ...]) -> dict:
    return {
        "shared_memory": [
            {"name": "frame", "shape": list(shape), "dtype": "float32"},
            {"name": "out", "shape": list(shape), "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "scale_stage",
                "kind": "cpu.scale",
                "input": "frame",
                "output": "out",
                "parameters": {"factor": 2.0},
            }
        ],
    }


def round_trips(frames: int, shape=(4,), **options) -> np.ndarray:
    """Round trip (µs) of each of ``frames`` frames, written one at a time
    right after ``start()``. The kernel is pinned to the first CPU (the
    manager's round-robin); this driver runs on the last one meanwhile, as
    in ``stream_pingpong.py``: unpinned, it lands on the kernel's CPU by
    chance now and then, where both sides sleep (a waiter does not spin on
    its writer's CPU) and every frame costs a context switch."""
    from shmpipeline.placement import RoundRobinPlacement, available_cpus

    cpus = available_cpus()
    if len(cpus) < 2:
        return _round_trips(frames, shape, **options)
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpus[-1]})
    try:  # the placement is given: the default would see only the driver's CPU
        placement = RoundRobinPlacement(cpus=(cpus[0],))
        return _round_trips(frames, shape, placement_policy=placement, **options)
    finally:
        os.sched_setaffinity(0, before)


def _round_trips(frames: int, shape, **options) -> np.ndarray:
    from shmpipeline import PipelineManager

    with PipelineManager(_single_stage(shape), **options) as manager:
        manager.build()
        manager.start()
        source, sink = manager.get_stream("frame"), manager.get_stream("out")
        frame = np.ones(shape, np.float32)
        samples = np.empty(frames)
        clock = time.perf_counter_ns
        for k in range(1, frames + 1):
            began = clock()
            source.write(frame, frame_id=k)
            sink.wait_for_frame_id(k, timeout=10)
            samples[k - 1] = clock() - began
        manager.stop()
    return samples / 1e3


def cold_start() -> dict:
    from shmpipeline.testing.replay import harness_pool

    result = {}
    for label, options in (("pool", {"workers": harness_pool()}), ("spawn", {})):
        samples = round_trips(2000, **options)
        first, warm = samples[:1000], samples[1000:]
        result[label] = {
            "first_1000_p50_us": float(np.median(first)),
            "first_1000_mean_us": float(first.mean()),
            "warm_p50_us": float(np.median(warm)),
            "warm_mean_us": float(warm.mean()),
            "first_over_warm_mean": float(first.mean() / warm.mean()),
        }
    return result


def distribution(runs: int, frames: int) -> list[dict]:
    from shmpipeline.testing.replay import harness_pool

    rows = []
    for shape in ((4,), (256, 256)):
        p50s = [
            float(np.median(round_trips(frames, shape, workers=harness_pool())))
            for _ in range(runs)
        ]
        best = min(p50s)
        rows.append(
            {
                "shape": list(shape),
                "runs": runs,
                "frames_per_run": frames,
                "p50s_us": [round(v, 1) for v in p50s],
                "best_p50_us": best,
                "within_1_5x_of_best": sum(1 for v in p50s if v <= 1.5 * best),
            }
        )
    return rows


def cli_wall(repeats: int) -> dict:
    from shmpipeline.testing.scenario import load_scenario

    lockstep = [p for p in cpu_scenarios() if load_scenario(p).mode == "lockstep"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    times = []
    with tempfile.TemporaryDirectory() as cwd:
        for index in range(repeats):
            env["SHMPIPELINE_NAMESPACE"] = f"rb{os.getpid()}c{index}"
            began = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "shmpipeline", "scenario", "run", *map(str, lockstep)],
                capture_output=True,
                text=True,
                cwd=cwd,
                env=env,
            )
            times.append(time.perf_counter() - began)
    return {
        "scenarios": [p.stem for p in lockstep],
        "exit_status": done.returncode,
        "median_s": statistics.median(times),
        "all_s": [round(t, 3) for t in times],
    }


def _table(title: str, columns: list[str], rows: list[list[str]], intro: tuple = ()) -> list[str]:
    """A Markdown section: a heading, optional intro lines, a table."""
    return [
        f"## {title}",
        "",
        *([*intro, ""] if intro else []),
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *("| " + " | ".join(cells) + " |" for cells in rows),
    ]


def _render_scenarios(rows: list[dict]) -> list[str]:
    lockstep = [
        [r["scenario"], str(r["frames"]), f"{r['inline_s']:.3f}", f"{r['spawn_s']:.3f}",
         f"{r['forkserver_s']:.3f}", f"{r['pool_s']:.3f}", f"{r['pool_over_inline']:.1f}x"]
        for r in rows if not r["paced"]
    ]
    paced = [
        [r["scenario"], str(r["frames"]), f"{r['declared_s']:.3f}", f"{r['spawn_s']:.3f}",
         f"{r['forkserver_s']:.3f}", f"{r['pool_s']:.3f}", f"{r['pool_over_declared']:.2f}x"]
        for r in rows if r["paced"]
    ]
    return [
        *_table(
            "Lockstep scenarios (s, warm median)",
            ["scenario", "frames", "inline", "spawn", "forkserver", "pool", "pool / inline"],
            lockstep,
        ),
        "",
        *_table(
            "Paced (free-running) scenarios (s, warm median)",
            ["scenario", "frames", "declared duration", "spawn", "forkserver", "pool",
             "pool / declared"],
            paced,
            intro=(
                "Written on their own schedule (rate_hz, duration): the wall time is",
                "compared with the declared duration, not with the inline executor",
                "(which does not wait between frames).",
            ),
        ),
    ]


def _render_phases(rows: list[dict]) -> list[str]:
    phases = ("build", "start", "frames", "stop", "other", "total")
    return _table(
        "Where a pool replay's time goes (ms, median)",
        ["scenario", *phases],
        [[r["scenario"], *(f"{r[f'{p}_ms']:.1f}" for p in phases)] for r in rows],
    )


def _render_lifecycle(life: dict) -> list[str]:
    return [
        "## Five-kernel AO loop lifecycle on the pool (ms, median)",
        "",
        f"build {life['build_ms']:.1f}, start {life['start_ms']:.1f}, "
        f"stop {life['stop_ms']:.1f}, shutdown {life['shutdown_ms']:.1f}",
    ]


def _render_cold_start(cold: dict) -> list[str]:
    keys = ("first_1000_p50_us", "first_1000_mean_us", "warm_p50_us", "warm_mean_us")
    return _table(
        "Single-stage round trip right after start() (µs)",
        ["workers", "first 1000 p50", "first 1000 mean", "warm p50", "warm mean",
         "first / warm (mean)"],
        [
            [label, *(f"{r[k]:.1f}" for k in keys), f"{r['first_over_warm_mean']:.2f}"]
            for label, r in cold.items()
        ],
    )


def _render_distribution(rows: list[dict]) -> list[str]:
    return _table(
        "Single-stage round trip p50 over fresh pipelines (pool)",
        ["shape", "runs within 1.5x of best", "best p50 µs", "every run's p50 µs"],
        [
            [str(r["shape"]), f"{r['within_1_5x_of_best']}/{r['runs']}",
             f"{r['best_p50_us']:.1f}", ", ".join(f"{v:.1f}" for v in r["p50s_us"])]
            for r in rows
        ],
    )


def _render_cli(cli: dict) -> list[str]:
    return [
        "## `shmpipeline scenario run` from a new interpreter",
        "",
        f"{', '.join(cli['scenarios'])}: median {cli['median_s']:.2f} s "
        f"(runs {cli['all_s']}; exit status {cli['exit_status']})",
    ]


_RENDERERS = {
    "scenarios": _render_scenarios,
    "phases": _render_phases,
    "lifecycle": _render_lifecycle,
    "cold_start": _render_cold_start,
    "distribution": _render_distribution,
    "cli": _render_cli,
}


def render(data: dict, info: dict, argv: list[str]) -> str:
    lines = [
        f"- command: `python benchmarks/replay_bench.py {shlex.join(argv)}`",
        *(f"- {k}: {v}" for k, v in info.items()),
    ]
    for name, section in data.items():
        lines += ["", *_RENDERERS[name](section)]
    lines += ["", "```json", json.dumps(data, indent=2), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=20, help="fresh pipelines per shape")
    parser.add_argument("--frames", type=int, default=2000, help="frames per fresh pipeline")
    parser.add_argument("--record", type=Path, help="write a dated result file here")
    parser.add_argument("--note", default="", help="free text for the record")
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("SHMPIPELINE_NAMESPACE", f"rb{os.getpid()}")
    chosen = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections: {', '.join(unknown)}")

    info = machine()
    info["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    measure = {
        "scenarios": lambda: scenario_walls(args.repeats),
        "phases": lambda: pool_phases(args.repeats),
        "lifecycle": lambda: pool_lifecycle(args.repeats),
        "cold_start": cold_start,
        "distribution": lambda: distribution(args.runs, args.frames),
        "cli": lambda: cli_wall(args.repeats),
    }
    data = {name: measure[name]() for name in SECTIONS if name in chosen}
    try:
        info["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        info["loadavg_at_end"] = "n/a"
    text = render(data, info, argv)
    print(text)
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        day = dt.date.today().isoformat()
        body = "# Replay benchmark\n\n" + (f"Note: {args.note}\n\n" if args.note else "") + text
        (args.record / f"replay_bench-{day}.md").write_text(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
