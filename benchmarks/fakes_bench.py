"""Per-frame cost of the hardware fakes.

Times ``frame(n)`` (best of several repeats of a run of frames, median per
frame) for: phase screens (static, infinite frozen flow at whole and
fractional wind, three layers), the Shack-Hartmann camera (geometric and
diffraction models, 16x16 lenslets of 8x8 pixels, with a detector model),
the deformable mirror (grid and Fried/misregistered layouts) and the
closed-loop camera with latency. ``--record DIR`` writes a dated Markdown
file with the machine description.

    python benchmarks/fakes_bench.py --record benchmarks/results
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing
from shmpipeline.testing.fakes import (  # noqa: E402
    DeformableMirror,
    PhaseScreen,
    ShackHartmann,
)


def _cases():
    wfs = {"lenslets": 16, "pixels": 8, "read_noise": 1.0}
    command = np.zeros(17 * 17)
    yield "phase screen 256², static", PhaseScreen(size=256, wind=(0, 0)), None
    yield (
        "phase screen 256², infinite, 1 px/frame",
        PhaseScreen(size=256, wind=(0, 1)),
        None,
    )
    yield (
        "phase screen 256², infinite, 0.37 px/frame",
        PhaseScreen(size=256, wind=(0.2, 0.37)),
        None,
    )
    yield (
        "phase screen 128², 3 layers",
        PhaseScreen(
            size=128,
            layers=[
                {"fraction": 0.6, "wind": 0.5, "direction": 0},
                {"fraction": 0.3, "wind": 1.2, "direction": 60},
                {"fraction": 0.1, "wind": 2.0, "direction": 200},
            ],
        ),
        None,
    )
    yield "SH 16x16 geometric", ShackHartmann(**wfs, atmosphere=None), None
    yield (
        "SH 16x16 geometric + atmosphere",
        ShackHartmann(**wfs, atmosphere={"wind": [0, 0.5]}),
        None,
    )
    yield (
        "SH 16x16 diffraction",
        ShackHartmann(**wfs, model="diffraction", atmosphere=None),
        None,
    )
    yield (
        "SH 16x16 diffraction + pupil + detector",
        ShackHartmann(
            **wfs,
            model="diffraction",
            atmosphere=None,
            pupil={"obstruction": 0.2, "spiders": 4},
            detector={
                "bias": 100,
                "gain": 2,
                "dark_current": 1,
                "flat_rms": 0.02,
                "hot_pixels": 5,
                "adc_bits": 12,
            },
            dtype="uint16",
        ),
        None,
    )
    yield (
        "SH 16x16 closed loop, latency 1.5",
        ShackHartmann(
            **wfs,
            atmosphere={"wind": [0, 0.5]},
            mirror={"n_act": 17, "layout": "fried"},
            latency_frames=1.5,
        ),
        command,
    )
    yield "DM 17² grid", DeformableMirror(n_act=17, size=128), command
    yield (
        "DM 17² Fried, shifted and magnified",
        DeformableMirror(
            n_act=17, size=128, layout="fried", shift=[0.3, 0], magnification=1.02
        ),
        command,
    )
    yield (
        "DM 17² Fried, rotated 1°",
        DeformableMirror(
            n_act=17, size=128, layout="fried", rotation=1.0, shift=[0.3, 0]
        ),
        command,
    )


def measure(fake, command, frames: int, repeats: int) -> float:
    best = float("inf")
    n = 0
    for _ in range(repeats):
        times = []
        for _ in range(frames):
            start = time.perf_counter()
            fake.frame(n, command=command)
            times.append(time.perf_counter() - start)
            n += 1
        best = min(best, float(np.median(times)))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--record", type=Path, help="write a dated result file here")
    parser.add_argument(
        "--note", default="", help="a sentence about the machine's load"
    )
    args = parser.parse_args()
    rows = []
    for label, fake, command in _cases():
        fake.frame(0, command=command)  # warm caches
        cost = measure(fake, command, args.frames, args.repeats)
        rows.append((label, cost))
        print(f"{label:45s} {cost * 1e3:8.3f} ms/frame", flush=True)
    if args.record:
        today = dt.date.today().isoformat()
        path = args.record / f"fakes_bench-{today}.md"
        lines = [
            f"# fakes_bench, {today}",
            "",
            f"Machine: {platform.node()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"numpy {np.__version__}.",
            "",
            args.note or "",
            "",
            f"Median per frame of {args.frames} frames, best of {args.repeats} runs.",
            "",
            "| fake | ms/frame |",
            "|---|---:|",
            *[f"| {label} | {cost * 1e3:.3f} |" for label, cost in rows],
            "",
        ]
        path.write_text("\n".join(lines))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
