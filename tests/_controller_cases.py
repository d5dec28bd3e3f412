"""Configs, streams and NumPy references of the fan-in and fused controller
kinds (concatenate, tip_tilt_controller, tomographic_controller), shared by
their CPU tests and their gpu parity tests."""

from __future__ import annotations

from typing import Any

import numpy as np
from _kernel_support import spec

from shmpipeline.config import AuxiliaryBinding, KernelConfig

SENSORS = 8


def concat_config(n: int = 2, axis: int = 0, policy: str = "all_new") -> KernelConfig:
    inputs = tuple(f"in{i}" for i in range(n))
    return KernelConfig(
        name="join",
        kind="cpu.concatenate",
        input=inputs[0],
        output="out",
        inputs=inputs,
        trigger_policy=policy,
        parameters={"axis": axis},
    )


def tip_tilt_config(aliases=("matrix", "bias"), **parameters: Any) -> KernelConfig:
    return KernelConfig(
        name="tt",
        kind="cpu.tip_tilt_controller",
        input="img",
        output="cmd",
        auxiliary=(
            AuxiliaryBinding(aliases[0], "m"),
            AuxiliaryBinding(aliases[1], "b"),
        ),
        parameters=dict(parameters),
    )


def tip_tilt_specs(shape=(6, 5), image_dtype="float64", dtype="float64"):
    return {
        s.name: s
        for s in (
            spec("img", shape, image_dtype),
            spec("m", (2, 2), dtype),
            spec("b", (2,), dtype),
            spec("cmd", (2,), dtype),
        )
    }


def tomo_config(batched: bool, tile: int = 2, **parameters: Any) -> KernelConfig:
    aliases = ["reconstructor", "reconstructor_bias", "command_offset"]
    aliases += ["command_low", "command_high"]
    if batched:
        inputs: tuple[str, ...] = ("wfs",)
        aliases += ["wfs_dark", "wfs_inverse_flat", "wfs_slope_offset"]
    else:
        inputs = tuple(f"wfs{i}" for i in range(SENSORS))
        for i in range(SENSORS):
            aliases += [f"wfs{i}_dark", f"wfs{i}_inverse_flat", f"wfs{i}_slope_offset"]
    return KernelConfig(
        name="tomo",
        kind="cpu.tomographic_controller",
        input=inputs[0],
        output="dm",
        inputs=inputs if not batched else (),
        auxiliary=tuple(AuxiliaryBinding(a, f"s_{a}") for a in aliases),
        trigger_policy="all_new",
        parameters={"tile_size": tile, **parameters},
    )


def tomo_specs(
    config: KernelConfig,
    image=(4, 6),
    tile=2,
    actuators=5,
    image_dtype="float64",
    dtype="float64",
):
    batched = len(config.trigger_inputs) == 1
    centroids = (image[0] // tile, image[1] // tile, 2)
    slopes = centroids[0] * centroids[1] * 2 * SENSORS
    batch = (SENSORS,) if batched else ()
    out = {}
    for name in config.trigger_inputs:
        out[name] = spec(name, (*batch, *image), image_dtype)
    for b in config.auxiliary:
        if b.alias == "reconstructor":
            shape: tuple[int, ...] = (actuators, slopes)
        elif b.alias.endswith("slope_offset"):
            shape = (*batch, *centroids)
        elif b.alias.endswith(("dark", "inverse_flat")):
            shape = (*batch, *image)
        else:
            shape = (actuators,)
        out[b.name] = spec(b.name, shape, dtype)
    out["dm"] = spec("dm", (actuators,), dtype)
    return out


def random_aux(config, specs, rng) -> dict[str, np.ndarray]:
    aux = {}
    for b in config.auxiliary:
        s = specs[b.name]
        values = rng.standard_normal(s.shape)
        if b.alias.endswith("inverse_flat"):
            values = 1.0 + 0.1 * values
        elif b.alias.endswith("dark"):
            values = 0.1 * np.abs(values)
        elif b.alias == "command_low":
            values = -np.abs(values) - 0.5
        elif b.alias == "command_high":
            values = np.abs(values) + 0.5
        aux[b.alias] = values.astype(s.dtype)
    return aux


# --- NumPy references (plain formulas, no kernel code) ----------------------------


def spot_reference(image, threshold=0.0, background=0.0, weight_power=1.0):
    w = np.asarray(image, np.float64) - background
    w = np.where(w > threshold, w, 0.0)
    if weight_power != 1.0:
        w = w**weight_power
    total = w.sum()
    if not total > 0:
        return np.zeros(2)
    rows, cols = np.indices(w.shape)
    centre = ((w.shape[0] - 1) / 2, (w.shape[1] - 1) / 2)
    return np.array(
        [(w * rows).sum() / total - centre[0], (w * cols).sum() / total - centre[1]]
    )


def tiles_reference(image, tile):
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    out = np.zeros((rows, cols, 2))
    centre = (tile - 1) / 2
    local = np.indices((tile, tile))
    for r in range(rows):
        for c in range(cols):
            patch = np.asarray(
                image[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile], np.float64
            )
            total = patch.sum()
            if total > 0:
                out[r, c, 0] = (patch * local[0]).sum() / total - centre
                out[r, c, 1] = (patch * local[1]).sum() / total - centre
    return out


class TomographicReference:
    """The controller's equations, frame by frame, in float64."""

    def __init__(self, config, actuators):
        p = {"tile_size": 4, "slope_gain": 1.0, "leak": 1.0}
        p.update({"control_gain": 1.0, "command_gain": 1.0, **config.parameters})
        self.p = p
        self.batched = len(config.trigger_inputs) == 1
        self.state = np.zeros(actuators)

    def step(self, images, aux):
        p, slopes = self.p, []
        for i in range(SENSORS):

            def cal(suffix, i=i):
                if self.batched:
                    return aux[f"wfs_{suffix}"][i]
                return aux[f"wfs{i}_{suffix}"]

            calibrated = (np.asarray(images[i], np.float64) - cal("dark")) * cal(
                "inverse_flat"
            )
            centroids = tiles_reference(calibrated, p["tile_size"])
            slopes.append(
                p["slope_gain"] * centroids.reshape(-1)
                - cal("slope_offset").reshape(-1)
            )
        residual = aux["reconstructor"] @ np.concatenate(slopes)
        residual = residual + aux["reconstructor_bias"]
        self.state = p["leak"] * self.state + p["control_gain"] * residual
        command = p["command_gain"] * self.state - aux["command_offset"]
        return np.minimum(np.maximum(command, aux["command_low"]), aux["command_high"])
