"""Helpers shared by the ping-pong benchmarks (ours and pyshmem's).

Standard library + NumPy only: the pyshmem side runs this file in the
published package's virtual environment, where shmpipeline is not ours.
"""

from __future__ import annotations

import os

import numpy as np

STOP_VALUE = -1.0  # a frame whose first element is this ends the echo loop


def parse_shape(text: str) -> tuple[int, ...]:
    """ "256x256" -> (256, 256)."""
    return tuple(int(part) for part in text.lower().split("x"))


def shape_label(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def usable_cpus() -> list[int]:
    """CPUs this process may run on (call before pinning anything)."""
    if not hasattr(os, "sched_getaffinity"):
        return []
    return sorted(os.sched_getaffinity(0))


def pin(cpu_index: int, cpus: list[int]) -> int | None:
    """Pin this process to ``cpus[cpu_index]``; None (no pinning) when there
    are fewer than two CPUs to spread the two processes over."""
    if len(cpus) < 2 or not hasattr(os, "sched_setaffinity"):
        return None
    cpu = cpus[cpu_index % len(cpus)]
    os.sched_setaffinity(0, {cpu})
    return cpu


def summarize(latencies_ns: list[int], elapsed_s: float) -> dict:
    """p50/p99/max round trip in µs and round trips per second."""
    lat = np.asarray(latencies_ns, dtype=np.float64) / 1000.0
    return {
        "iterations": int(lat.size),
        "p50_us": float(np.percentile(lat, 50)),
        "p99_us": float(np.percentile(lat, 99)),
        "max_us": float(lat.max()),
        "mean_us": float(lat.mean()),
        "frames_per_s": float(lat.size / elapsed_s) if elapsed_s > 0 else 0.0,
    }


def iteration_budget(shape: tuple[int, ...], seconds: float) -> tuple[int, int]:
    """(warm-up round trips, cap on measured round trips) for a shape."""
    nbytes = int(np.prod(shape)) * 4
    warmup = 500 if nbytes <= 1 << 16 else 20
    cap = max(200, int(seconds * 200_000))
    return warmup, cap
