"""Pipeline config mappings shared by the config and graph tests."""

from __future__ import annotations

import copy
from typing import Any


def stream(name: str, shape, dtype: str = "float32", **extra: Any) -> dict[str, Any]:
    return {"name": name, "shape": list(shape), "dtype": dtype, **extra}


def kernel(name: str, kind: str, input: str, output: str, **extra: Any) -> dict:
    return {"name": name, "kind": kind, "input": input, "output": output, **extra}


def scale_pipeline() -> dict[str, Any]:
    """The smallest valid pipeline: frame -> scale -> out."""
    return {
        "shared_memory": [stream("frame", (64, 64)), stream("out", (64, 64))],
        "kernels": [
            kernel(
                "scale_stage", "cpu.scale", "frame", "out", parameters={"factor": 2.0}
            )
        ],
    }


def ao_loop(*, feedback: bool = False) -> dict[str, Any]:
    """Five-stage AO-style loop (valid for the built-in CPU kernels):
    centroid -> flatten -> affine (aux matrix, offset) -> leaky integrator ->
    custom_operation clip. With ``feedback`` the affine offset is the clipped
    command (an auxiliary back-edge, as in a closed loop)."""
    return {
        "shared_memory": [
            stream("frame", (32, 32)),
            stream("slopes", (4, 4, 2)),
            stream("slopes_flat", (32,)),
            stream("matrix", (8, 32)),
            stream("offset", (8,)),
            stream("residual", (8,)),
            stream("integrated", (8,)),
            stream("command", (8,)),
        ],
        "kernels": [
            kernel(
                "centroid",
                "cpu.shack_hartmann_centroid",
                "frame",
                "slopes",
                parameters={"tile_size": 8},
            ),
            kernel("flatten", "cpu.flatten", "slopes", "slopes_flat"),
            kernel(
                "reconstruct",
                "cpu.affine_transform",
                "slopes_flat",
                "residual",
                auxiliary={
                    "matrix": "matrix",
                    "offset": "command" if feedback else "offset",
                },
            ),
            kernel(
                "integrate",
                "cpu.leaky_integrator",
                "residual",
                "integrated",
                parameters={"leak": 0.99, "gain": 0.5},
            ),
            kernel(
                "clip",
                "cpu.custom_operation",
                "integrated",
                "command",
                operation="clip(input, -0.5, 0.5)",
            ),
        ],
    }


def diamond() -> dict[str, Any]:
    """a -> (left -> b, right -> c) -> join(b, aux c) -> d, plus a fan-out
    tap on a and an unused stream."""
    return {
        "shared_memory": [
            stream("a", (4,)),
            stream("b", (4,)),
            stream("c", (4,)),
            stream("d", (4,)),
            stream("tap", (4,)),
            stream("unused", (2,)),
        ],
        "kernels": [
            kernel("join", "cpu.elementwise_add", "b", "d", auxiliary=["c"]),
            kernel("left", "cpu.scale", "a", "b", parameters={"factor": 2.0}),
            kernel("right", "cpu.add_constant", "a", "c", parameters={"constant": 1}),
            kernel("tapper", "cpu.copy", "a", "tap"),
        ],
    }


def clone(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
