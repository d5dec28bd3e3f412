"""GPU benchmark: cpu.affine_transform vs gpu.affine_transform on
y = A @ x + b with A of shape [1024, 1024] (x, b, y of 1024), float32.

Sections:

1. Kernel compute time per frame (``compute_into`` only, inputs already in
   place): the NumPy kernel; the torch kernel on torch's CPU device (what the
   parity tests run); the torch kernel on CUDA, timed with a synchronise
   after every frame (so it is the time until the result exists, not only
   the launch) and, separately, the launch time alone.
2. End to end through the manager (``PipelineManager``, one worker): the
   driver writes ``x`` with frame id k and waits until ``y`` publishes frame
   k; round trip p50/p99. All-CPU pipeline, and the GPU pipeline of
   ``examples/gpu_affine.yaml`` minus its clip stage (host ``x`` uploaded by
   the worker, ``A``/``b``/``y`` on the device, ``y`` read through its host
   mirror).

Without a CUDA device the GPU parts print "no CUDA device: GPU section
skipped" and the rest runs. Nothing is written unless ``--record DIR`` is
given (e.g. ``--record benchmarks/results``).

    python benchmarks/gpu_affine.py [--frames N] [--record DIR] [--note TEXT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from stream_pingpong import machine  # noqa: E402

N = 1024
NO_CUDA = "no CUDA device: GPU section skipped"


def cuda_present() -> tuple[bool, str]:
    """Ask a subprocess, so this process initialises CUDA only when used."""
    code = "import torch; print(int(torch.cuda.is_available()))"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"probe failed: {exc}"
    if out.returncode != 0:
        return False, "torch is not installed"
    if out.stdout.strip() != "1":
        return False, "torch.cuda.is_available() is False"
    return True, ""


def stats_us(samples_ns: list[int]) -> dict:
    us = np.asarray(samples_ns, dtype=np.float64) / 1e3
    return {
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "mean_us": float(us.mean()),
        "frames": int(us.size),
    }


def specs(storage: str):
    from shmpipeline.config import SharedMemoryConfig

    def spec(name, shape, where):
        if where == "gpu":
            return SharedMemoryConfig(name, shape, np.dtype("float32"), "gpu", "cuda:0")
        return SharedMemoryConfig(name, shape, np.dtype("float32"))

    return {
        "x": spec("x", (N,), storage),
        "A": spec("A", (N, N), storage),
        "b": spec("b", (N,), storage),
        "y": spec("y", (N,), storage),
    }


def kernel_config(kind: str):
    from shmpipeline.config import AuxiliaryBinding, KernelConfig

    return KernelConfig(
        name="affine",
        kind=kind,
        input="x",
        output="y",
        auxiliary=(AuxiliaryBinding("matrix", "A"), AuxiliaryBinding("offset", "b")),
    )


def inputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=N).astype(np.float32)
    a = (rng.normal(size=(N, N)) / np.sqrt(N)).astype(np.float32)
    b = rng.normal(size=N).astype(np.float32)
    return x, a, b


def time_kernel(kernel, x, out, aux, frames: int, sync=None) -> dict:
    for _ in range(min(50, frames)):  # warm up (BLAS threads, CUDA kernels)
        kernel.compute_into(x, out, aux)
    if sync:
        sync()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(frames):
        t0 = clock()
        kernel.compute_into(x, out, aux)
        if sync:
            sync()
        samples.append(clock() - t0)
    return stats_us(samples)


def kernel_section(frames: int, cuda: bool) -> dict:
    from shmpipeline.kernel import KernelContext
    from shmpipeline.registry import get_default_registry

    registry = get_default_registry()
    x, a, b = inputs()
    results: dict = {}
    cpu_kernel = registry.create(kernel_config("cpu.affine_transform"), specs("cpu"))
    out = np.zeros(N, np.float32)
    results["numpy (cpu.affine_transform)"] = time_kernel(
        cpu_kernel, x, out, {"matrix": a, "offset": b}, frames
    )
    reference = a @ x + b
    try:
        import torch
    except ImportError:
        results["note"] = "torch not installed: torch rows skipped"
        return results
    gpu_cls = registry.get("gpu.affine_transform")
    config = kernel_config("gpu.affine_transform")
    registry.validate(config, specs("gpu"))
    devices = ["cpu"] + (["cuda:0"] if cuda else [])
    for device in devices:
        kernel = gpu_cls(KernelContext(config, specs("gpu")), device=device)
        tx = torch.from_numpy(x).to(device)
        aux = {
            "matrix": torch.from_numpy(a).to(device),
            "offset": torch.from_numpy(b).to(device),
        }
        tout = torch.zeros(N, dtype=torch.float32, device=device)
        if device == "cpu":
            results["torch cpu device (gpu.affine_transform)"] = time_kernel(
                kernel, tx, tout, aux, frames
            )
        else:
            sync = torch.cuda.synchronize
            results["cuda, until done (gpu.affine_transform)"] = time_kernel(
                kernel, tx, tout, aux, frames, sync=sync
            )
            results["cuda, launch only (gpu.affine_transform)"] = time_kernel(
                kernel, tx, tout, aux, frames
            )
            sync()
        error = float(np.max(np.abs(tout.cpu().numpy() - reference)))
        results[f"max |error| vs numpy float32, {device}"] = error
    return results


def pipeline(kind: str, storage: str) -> dict:
    gpu = storage == "gpu"

    def stream(name, shape, on_gpu, mirror=False):
        entry = {"name": name, "shape": list(shape), "dtype": "float32"}
        if on_gpu:
            entry.update(storage="gpu", gpu_device="cuda:0")
            if mirror:
                entry["cpu_mirror"] = True
        return entry

    return {
        "shared_memory": [
            stream("x", (N,), False),  # host input, uploaded by a gpu worker
            stream("A", (N, N), gpu),
            stream("b", (N,), gpu),
            stream("y", (N,), gpu, mirror=True),
        ],
        "kernels": [
            {
                "name": "affine",
                "kind": kind,
                "input": "x",
                "output": "y",
                "auxiliary": {"matrix": "A", "offset": "b"},
            }
        ],
    }


def round_trips(kind: str, storage: str, frames: int) -> dict:
    from shmpipeline.config import SharedMemoryConfig
    from shmpipeline.manager import PipelineManager
    from shmpipeline.stream import open_stream

    x, a, b = inputs()
    manager = PipelineManager(pipeline(kind, storage))
    samples = []
    try:
        t0 = time.perf_counter()
        manager.build()
        manager.start()
        startup = time.perf_counter() - t0
        manager.get_stream("A").write(a)
        manager.get_stream("b").write(b)
        source = manager.get_stream("x")
        y_spec = SharedMemoryConfig(
            "y",
            (N,),
            np.dtype("float32"),
            storage,
            "cuda:0" if storage == "gpu" else None,
            True if storage == "gpu" else None,
        )
        sink = open_stream(y_spec, storage="cpu")  # the host mirror for gpu
        result = np.zeros(N, np.float32)
        clock = time.perf_counter_ns
        try:
            for k in range(1, frames + 51):
                t0 = clock()
                source.write(x, frame_id=k)
                count = sink.count
                while sink.frame_id < k:
                    count = sink.wait_new(count, timeout=1.0)
                    manager.raise_if_failed()
                sink.read_into(result)
                if k > 50:  # the first frames warm up
                    samples.append(clock() - t0)
        finally:
            sink.close()
        error = float(np.max(np.abs(result - (a @ x + b))))
    finally:
        manager.shutdown()
    return {**stats_us(samples), "build_start_s": startup, "max_abs_error": error}


def manager_section(frames: int, cuda: bool) -> dict:
    results = {
        "cpu.affine_transform, cpu streams": round_trips(
            "cpu.affine_transform", "cpu", frames
        )
    }
    if cuda:
        results["gpu.affine_transform, gpu streams (+mirror)"] = round_trips(
            "gpu.affine_transform", "gpu", frames
        )
    return results


def render(
    kernels: dict, e2e: dict, info: dict, argv: list[str], cuda_note: str
) -> str:
    lines = [f"- command: `python benchmarks/gpu_affine.py {shlex.join(argv)}`"]
    lines += [f"- {k}: {v}" for k, v in info.items()]
    if cuda_note:
        lines.append(f"- {cuda_note}")
    lines += [
        "",
        "## Kernel compute time per frame (A [1024, 1024] float32)",
        "",
        "| kernel | p50 µs | p99 µs | mean µs |",
        "|---|---|---|---|",
    ]
    for name, row in kernels.items():
        if isinstance(row, dict):
            lines.append(
                f"| {name} | {row['p50_us']:.1f} | {row['p99_us']:.1f} | "
                f"{row['mean_us']:.1f} |"
            )
    lines += [
        "",
        "## End to end through the manager (write x frame k, wait y frame k)",
        "",
        "| pipeline | p50 µs | p99 µs | build+start s |",
        "|---|---|---|---|",
    ]
    for name, row in e2e.items():
        lines.append(
            f"| {name} | {row['p50_us']:.1f} | {row['p99_us']:.1f} | "
            f"{row['build_start_s']:.2f} |"
        )
    payload = {"kernels": kernels, "end_to_end": e2e}
    lines += ["", "```json", json.dumps(payload, indent=2), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--e2e-frames", type=int, default=1000)
    parser.add_argument("--record", type=Path, help="write a dated result file here")
    parser.add_argument("--note", default="", help="free text for the record")
    args = parser.parse_args(argv)
    os.environ.setdefault("SHMPIPELINE_NAMESPACE", f"gpubench{os.getpid()}")

    info = machine()
    info["date"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    cuda, why = cuda_present()
    if cuda:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0)
        info["torch"] = torch.__version__
    else:
        print(f"{NO_CUDA} ({why})", file=sys.stderr)
    kernels = kernel_section(args.frames, cuda)
    e2e = manager_section(args.e2e_frames, cuda)
    text = render(kernels, e2e, info, argv, "" if cuda else f"{NO_CUDA} ({why})")
    print(text)
    if args.record:
        args.record.mkdir(parents=True, exist_ok=True)
        day = dt.date.today().isoformat()
        body = "# GPU affine benchmark\n\n" + (
            f"Note: {args.note}\n\n" if args.note else ""
        )
        (args.record / f"gpu_affine-{day}.md").write_text(body + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
