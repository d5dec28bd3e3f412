"""CPU kernels compute in place: the output buffer handed in is the one
written, and steady-state frames allocate no arrays (tracemalloc peak over
1000 frames stays far below the size of one frame)."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from _kernel_support import create, kconf, spec, specs

N = 128  # frames of 128 x 128 float64 = 128 KiB; any temporary would show
FRAME = (N, N)
ONE = np.array([1.0])


CASES = {
    "copy": (kconf("cpu.copy"), specs(spec("in", FRAME), spec("out", FRAME))),
    "scale": (
        kconf("cpu.scale", factor=1.5),
        specs(spec("in", FRAME), spec("out", FRAME)),
    ),
    "scale int fractional": (
        kconf("cpu.scale", factor=1.5),
        specs(spec("in", FRAME, "int32"), spec("out", FRAME, "int32")),
    ),
    "add_constant": (
        kconf("cpu.add_constant", constant=2),
        specs(spec("in", FRAME), spec("out", FRAME)),
    ),
    "scale_offset": (
        kconf("cpu.scale_offset", aux={"o": "o"}, gain=2.0),
        specs(spec("in", FRAME), spec("o", FRAME), spec("out", FRAME)),
    ),
    "elementwise_add": (
        kconf("cpu.elementwise_add", aux={"b": "b"}),
        specs(spec("in", FRAME), spec("b", FRAME), spec("out", FRAME)),
    ),
    "elementwise_divide": (
        kconf("cpu.elementwise_divide", aux={"b": "b"}),
        specs(spec("in", FRAME), spec("b", FRAME), spec("out", FRAME)),
    ),
    "flatten": (kconf("cpu.flatten"), specs(spec("in", FRAME), spec("out", (N * N,)))),
    "reduce mean int": (
        kconf("cpu.reduce", params={"operation": "mean"}),
        specs(spec("in", FRAME, "int32"), spec("out", (1,), "int32")),
    ),
    "reduce max": (
        kconf("cpu.reduce", params={"operation": "max"}),
        specs(spec("in", FRAME), spec("out", (1,))),
    ),
    "affine_transform": (
        kconf(
            "cpu.affine_transform",
            input="x",
            output="y",
            aux={"matrix": "A", "offset": "b"},
        ),
        specs(
            spec("x", (N * N,)), spec("A", (8, N * N)), spec("b", (8,)), spec("y", (8,))
        ),
    ),
    "leaky_integrator": (
        kconf(
            "cpu.leaky_integrator",
            aux={"gain": "g", "override_enabled": "f"},
            leak=0.9,
            gain=0.1,
        ),
        specs(spec("in", FRAME), spec("out", FRAME), spec("g", (1,)), spec("f", (1,))),
    ),
    "custom_operation": (
        kconf(
            "cpu.custom_operation",
            aux={"a": "a"},
            operation="clip(where(input > 0, sqrt(abs(input)) * 2 - a, -a), -1, 1) + max(input, a, 0.5)",
        ),
        specs(spec("in", FRAME), spec("a", FRAME), spec("out", FRAME)),
    ),
    "custom_operation matmul": (
        kconf("cpu.custom_operation", aux={"m": "m"}, operation="m @ input * 0.5 + 1"),
        specs(spec("in", (N * N,)), spec("m", (8, N * N)), spec("out", (8,))),
    ),
    "custom_operation mixed dtypes": (
        kconf(
            "cpu.custom_operation",
            aux={"a": "a", "b": "b"},
            operation="clip(input, 0, 2.5) * a + where(b, input, a / 2) - (input < a)",
        ),
        specs(
            spec("in", FRAME, "int32"),
            spec("a", FRAME, "float32"),
            spec("b", FRAME, "uint8"),
            spec("out", FRAME),
        ),
    ),
    "spot_centroid uint16": (
        kconf("cpu.spot_centroid", threshold=1.0),
        specs(spec("in", FRAME, "uint16"), spec("out", (2,))),
    ),
    "reduce sum int16 to float32": (
        kconf("cpu.reduce", params={"operation": "sum"}),
        specs(spec("in", FRAME, "int16"), spec("out", (1,), "float32")),
    ),
    "scale_offset int fractional": (
        kconf("cpu.scale_offset", aux={"o": "o"}, gain=0.5),
        specs(
            spec("in", FRAME, "int32"),
            spec("o", FRAME, "int32"),
            spec("out", FRAME, "int32"),
        ),
    ),
    "spot_centroid": (
        kconf("cpu.spot_centroid", threshold=0.1, background=0.05, weight_power=1.5),
        specs(spec("in", FRAME), spec("out", (2,), "float32")),
    ),
    "shack_hartmann_centroid": (
        kconf("cpu.shack_hartmann_centroid", tile_size=8),
        specs(
            spec("in", FRAME, "float32"), spec("out", (N // 8, N // 8, 2), "float32")
        ),
    ),
}


def _inputs(kernel, rng):
    def make(s):
        return (rng.random(s.shape) * 10).astype(s.dtype)

    x = make(kernel.context.trigger_input_spec)
    aux = {
        b.alias: make(kernel.context.shared_memory[b.name])
        for b in kernel.config.auxiliary
    }
    if "f" in [b.name for b in kernel.config.auxiliary]:
        aux["override_enabled"] = ONE.copy()
    return x, aux


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_buffer_is_written_in_place(name):
    config, sm = CASES[name]
    kernel = create(config, sm)
    x, aux = _inputs(kernel, np.random.default_rng(1))
    out_spec = kernel.context.output_spec
    # the output is a view into a larger buffer, as a shared-memory slot is
    arena = np.zeros(
        out_spec.dtype.itemsize * int(np.prod(out_spec.shape)) + 64, np.uint8
    )
    out = arena[64:].view(out_spec.dtype).reshape(out_spec.shape)
    kernel.compute_into(x, out, aux)
    reference_kernel = create(config, sm)
    expected = np.empty(out_spec.shape, out_spec.dtype)
    reference_kernel.compute_into(x, expected, aux)
    np.testing.assert_array_equal(out, expected)
    assert np.shares_memory(out, arena)
    assert not np.all(arena[64:] == 0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_no_per_frame_allocation(name):
    config, sm = CASES[name]
    kernel = create(config, sm)
    x, aux = _inputs(kernel, np.random.default_rng(2))
    out_spec = kernel.context.output_spec
    outs = [
        np.empty(out_spec.shape, out_spec.dtype) for _ in range(3)
    ]  # rotating slots
    for i in range(5):  # warm-up: lazy imports, caches
        kernel.compute_into(x, outs[i % 3], aux)
    frame_bytes = x.nbytes
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(1000):
            kernel.compute_into(x, outs[i % 3], aux)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - before < 4096, f"{name}: retained {current - before} bytes"
    assert peak - before < min(8192, frame_bytes // 4), (
        f"{name}: peak +{peak - before} bytes"
    )
