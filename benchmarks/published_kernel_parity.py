"""Same frames through the published shmpipeline kernels and ours.

Runs the fan-in and fused controller kinds (``cpu.concatenate``,
``cpu.tip_tilt_controller``, ``cpu.tomographic_controller`` batched and with
eight inputs) of both implementations on identical frames for a number of
steps (the controllers integrate, so errors would accumulate) and reports the
largest difference relative to the output scale. Each implementation runs in
its own interpreter: this one for ours, ``--published-python`` (a virtual
environment with ``pip install shmpipeline==1.3.0``) for the published one;
frames and outputs travel as ``.npz`` files.

    python benchmarks/published_kernel_parity.py \\
        --published-python /tmp/pubvenv/bin/python --steps 200

Exit status 1 when a case differs by more than float32 rounding allows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

SENSORS = 8


def _tomographic(batched: bool, rows=16, cols=16, tile=4, actuators=40) -> dict:
    streams: list[dict[str, Any]] = []
    centroids = [rows // tile, cols // tile, 2]
    slopes = centroids[0] * centroids[1] * 2 * SENSORS
    batch = [SENSORS] if batched else []
    inputs = ["wfs"] if batched else [f"wfs{i}" for i in range(SENSORS)]
    for name in inputs:
        shape = [*batch, rows, cols]
        streams.append({"name": name, "shape": shape, "dtype": "float32"})
    aux = {"reconstructor": [actuators, slopes]}
    for alias in ("reconstructor_bias", "command_offset", "command_low"):
        aux[alias] = [actuators]
    aux["command_high"] = [actuators]
    for i in range(1 if batched else SENSORS):
        prefix = "wfs_" if batched else f"wfs{i}_"
        aux[prefix + "dark"] = [*batch, rows, cols]
        aux[prefix + "inverse_flat"] = [*batch, rows, cols]
        aux[prefix + "slope_offset"] = [*batch, *centroids]
    for alias, shape in aux.items():
        streams.append({"name": f"s_{alias}", "shape": shape, "dtype": "float32"})
    streams.append({"name": "dm", "shape": [actuators], "dtype": "float32"})
    kernel = {
        "name": "tomo",
        "kind": "cpu.tomographic_controller",
        "output": "dm",
        "auxiliary": {alias: f"s_{alias}" for alias in aux},
        "trigger_policy": "all_new",
        "parameters": {
            "tile_size": tile,
            "slope_gain": 0.8,
            "leak": 0.99,
            "control_gain": 0.3,
            "command_gain": 1.2,
        },
    }
    kernel["inputs" if not batched else "input"] = inputs if not batched else inputs[0]
    return {"shared_memory": streams, "kernels": [kernel]}


CASES: dict[str, dict] = {
    "concatenate": {
        "shared_memory": [
            {"name": "a", "shape": [4, 6], "dtype": "float32"},
            {"name": "b", "shape": [3, 6], "dtype": "float32"},
            {"name": "c", "shape": [5, 6], "dtype": "float32"},
            {"name": "joined", "shape": [12, 6], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "join",
                "kind": "cpu.concatenate",
                "inputs": ["a", "b", "c"],
                "output": "joined",
                "parameters": {"axis": 0},
            }
        ],
    },
    "tip_tilt_controller": {
        "shared_memory": [
            {"name": "img", "shape": [32, 32], "dtype": "float32"},
            {"name": "m", "shape": [2, 2], "dtype": "float32"},
            {"name": "b", "shape": [2], "dtype": "float32"},
            {"name": "cmd", "shape": [2], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "tt",
                "kind": "cpu.tip_tilt_controller",
                "input": "img",
                "output": "cmd",
                "auxiliary": {"matrix": "m", "bias": "b"},
                "parameters": {
                    "threshold": 0.2,
                    "background": 0.1,
                    "leak": 0.98,
                    "control_gain": 0.4,
                },
            }
        ],
    },
    "tomographic_controller batched": _tomographic(True),
    "tomographic_controller eight inputs": _tomographic(False),
}


def _frames(raw: dict, steps: int, seed: int) -> dict[str, np.ndarray]:
    """Per stream read by the kernel: ``steps`` frames (triggers) or one
    (auxiliaries), float32."""
    rng = np.random.default_rng(seed)
    kernel = raw["kernels"][0]
    triggers = kernel.get("inputs") or [kernel["input"]]
    aux = kernel.get("auxiliary", {})
    out: dict[str, np.ndarray] = {}
    for stream in raw["shared_memory"]:
        name, shape = stream["name"], tuple(stream["shape"])
        alias = next((a for a, n in aux.items() if n == name), None)
        if name in triggers:
            out[name] = (rng.random((steps, *shape)) * 10).astype(np.float32)
        elif alias is not None:
            values = rng.standard_normal(shape)
            if alias.endswith("inverse_flat"):
                values = 1 + 0.05 * values
            elif alias.endswith("dark"):
                values = 0.1 * np.abs(values)
            elif alias == "command_low":
                values = -np.abs(values) - 5
            elif alias == "command_high":
                values = np.abs(values) + 5
            elif alias == "reconstructor":
                values = values * 0.05
            out[name] = values.astype(np.float32)
    return out


def run_case(raw: dict, frames: dict[str, np.ndarray], steps: int) -> np.ndarray:
    """Run the installed shmpipeline's kernel for ``steps`` frames; return
    every output frame."""
    from shmpipeline.config import PipelineConfig
    from shmpipeline.registry import get_default_registry

    config = PipelineConfig.from_dict(raw)
    specs = {s.name: s for s in config.shared_memory}
    kernel_config = config.kernels[0]
    kernel = get_default_registry().create(kernel_config, specs)
    out_spec = specs[kernel_config.output]
    output = np.zeros(tuple(out_spec.shape), np.dtype(out_spec.dtype))
    aux = {b.alias: frames[b.name] for b in kernel_config.auxiliary}
    triggers = list(kernel_config.trigger_inputs)
    results = []
    for step in range(steps):
        values = tuple(frames[name][step] for name in triggers)
        kernel.compute_into(values if len(values) > 1 else values[0], output, aux)
        results.append(output.copy())
    return np.stack(results)


def _role(args: argparse.Namespace) -> int:
    """Inside one interpreter: read the frames, write the outputs."""
    work = Path(args.work)
    outputs = {}
    for index, raw in enumerate(CASES.values()):
        with np.load(work / f"frames{index}.npz") as data:
            frames = {key: data[key] for key in data.files}
        outputs[f"case{index}"] = run_case(raw, frames, args.steps)
    import shmpipeline

    outputs["module"] = np.array(shmpipeline.__file__)
    np.savez(work / f"{args.role}.npz", **outputs)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--published-python", required=False)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", choices=("ours", "published"), help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role:
        return _role(args)
    if not args.published_python:
        parser.error("--published-python is required")
    here = Path(__file__).resolve()
    report = {}
    with tempfile.TemporaryDirectory() as work:
        for index, raw in enumerate(CASES.values()):
            frames = _frames(raw, args.steps, args.seed + index)
            np.savez(Path(work, f"frames{index}.npz"), **frames)
        common = [str(here), "--steps", str(args.steps), "--work", work, "--role"]
        subprocess.run([sys.executable, *common, "ours"], check=True)
        # the published package must not see this checkout on its path
        subprocess.run(
            [args.published_python, *common, "published"],
            check=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ""},
            cwd=work,
        )
        with (
            np.load(Path(work, "ours.npz")) as ours,
            np.load(Path(work, "published.npz")) as published,
        ):
            for index, name in enumerate(CASES):
                a, b = ours[f"case{index}"], published[f"case{index}"]
                scale = float(np.max(np.abs(b))) or 1.0
                report[name] = {
                    "steps": args.steps,
                    "output_scale": scale,
                    "max_abs_diff": float(np.max(np.abs(a - b))),
                    "max_diff_over_scale": float(np.max(np.abs(a - b)) / scale),
                }
            report["implementations"] = {
                "ours": str(ours["module"]),
                "published": str(published["module"]),
            }
    print(json.dumps(report, indent=2))
    # float32 rounding, grown over a few hundred integrating steps
    worst = max(report[name]["max_diff_over_scale"] for name in CASES)
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    raise SystemExit(main())
