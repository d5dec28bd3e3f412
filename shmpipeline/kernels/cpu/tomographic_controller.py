"""``cpu.tomographic_controller``: eight Shack-Hartmann front ends, the
tomographic reconstruction and the DM control law, fused in one kernel."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline.kernels import _validation as v
from shmpipeline.kernels._ops import ArrayOps, leaky_update
from shmpipeline.kernels._parameters import Parameter, parse_parameters
from shmpipeline.kernels.cpu._base import CpuKernel
from shmpipeline.kernels.cpu.concatenate import require_all_new
from shmpipeline.kernels.cpu.shack_hartmann_centroid import TileCentroids

#: wavefront sensors the controller fuses
SENSORS = 8
#: per-actuator auxiliaries, each of shape (actuators,)
COMMAND_ALIASES = (
    "reconstructor_bias",
    "command_offset",
    "command_low",
    "command_high",
)
#: per-sensor calibration auxiliaries (``wfs_<suffix>`` batched, else
#: ``wfs<i>_<suffix>``)
SENSOR_SUFFIXES = ("dark", "inverse_flat", "slope_offset")

TOMOGRAPHIC_PARAMETERS = (
    Parameter("tile_size", "positive_int", 4),
    Parameter("slope_gain", "real", 1.0),
    Parameter("leak", "real", 1.0),
    Parameter("control_gain", "real", 1.0),
    Parameter("command_gain", "real", 1.0),
    # accepted from published files; frames are always read into the
    # kernel's own buffers, so it changes no result
    Parameter("borrow_gpu_inputs", "boolean", False),
)


@dataclass(frozen=True)
class TomographicSettings:
    """Parsed parameters and the geometry they imply."""

    tile_size: int
    slope_gain: float
    leak: float
    control_gain: float
    command_gain: float
    batched: bool
    image_shape: tuple[int, int]
    actuators: int

    @property
    def centroid_shape(self) -> tuple[int, int, int]:
        """One sensor's tile centroids: (tile rows, tile columns, 2)."""
        rows, cols = self.image_shape
        return (rows // self.tile_size, cols // self.tile_size, 2)

    @property
    def slopes_per_sensor(self) -> int:
        """Length of one sensor's block of the slope vector."""
        tile_rows, tile_cols, _ = self.centroid_shape
        return tile_rows * tile_cols * 2

    @functools.cached_property
    def _sensor_aliases(self) -> tuple[tuple[str, ...], ...]:
        """Per sensor, its calibration aliases (SENSOR_SUFFIXES order)."""
        return tuple(
            tuple(sensor_alias(self.batched, suffix, i) for suffix in SENSOR_SUFFIXES)
            for i in range(SENSORS)
        )

    def calibration(
        self, index: int, auxiliary: Mapping[str, Any]
    ) -> tuple[Any, Any, Any]:
        """Sensor ``index``'s dark, inverse flat and slope offset frames
        (arrays or tensors; a batched stream's row ``index``)."""
        # no tuple(generator) per frame: its resized tuples defeat the free
        # list, which the allocation tests see as memory kept per frame
        dark, flat, offset = self._sensor_aliases[index]
        dark, flat, offset = auxiliary[dark], auxiliary[flat], auxiliary[offset]
        if self.batched:
            return dark[index], flat[index], offset[index]
        return dark, flat, offset


def sensor_alias(batched: bool, suffix: str, index: int) -> str:
    """The alias of sensor ``index``'s ``suffix`` calibration stream."""
    return f"wfs_{suffix}" if batched else f"wfs{index}_{suffix}"


def slope_blocks(slopes: Any, per_sensor: int) -> list[Any]:
    """Views of ``slopes`` (an array or tensor), one block per sensor."""
    return [slopes[i * per_sensor : (i + 1) * per_sensor] for i in range(SENSORS)]


def parse_tomographic(config, shared_memory) -> TomographicSettings:
    """Validate a tomographic controller config (shared with the GPU twin)."""
    require_all_new(config)
    values = parse_parameters(TOMOGRAPHIC_PARAMETERS, config)
    triggers = [(f, shared_memory[name]) for f, name in v.trigger_fields(config)]
    batched = len(triggers) == 1
    if len(triggers) not in (1, SENSORS):
        raise v.error(
            config,
            "inputs",
            f"requires one batched or eight WFS inputs, got {len(triggers)}",
        )
    required = {*COMMAND_ALIASES, "reconstructor"}
    for index in range(1 if batched else SENSORS):
        required.update(sensor_alias(batched, s, index) for s in SENSOR_SUFFIXES)
    aliases = {b.alias for b in config.auxiliary}
    if aliases != required:
        missing, extra = sorted(required - aliases), sorted(aliases - required)
        raise v.error(
            config,
            "auxiliary",
            f"auxiliary aliases mismatch: missing={missing}, extra={extra}",
        )
    field, first = triggers[0]
    if batched:
        if len(first.shape) != 3 or first.shape[0] != SENSORS:
            raise v.error(
                config,
                field,
                f"stream {first.name!r} must have the batched input shape "
                f"({SENSORS}, rows, columns), got {tuple(first.shape)}",
            )
        image_shape = tuple(first.shape[1:])
    else:
        v.require_ndim(config, field, first, 2)
        image_shape = tuple(first.shape)
        for other_field, spec in triggers[1:]:
            v.require_shape(config, other_field, spec, image_shape)
    for field, spec in triggers:
        v.require_dtype_kind(config, field, spec, "real")
    tile = values["tile_size"]
    if image_shape[0] % tile or image_shape[1] % tile:
        raise v.error(
            config,
            "parameters.tile_size",
            f"{tile} must divide the image shape {image_shape}",
        )
    centroid_shape = (image_shape[0] // tile, image_shape[1] // tile, 2)
    slopes = centroid_shape[0] * centroid_shape[1] * 2 * SENSORS
    by_alias = config.auxiliary_by_alias

    def aux(alias: str) -> tuple[str, Any]:
        return f"auxiliary.{alias}", shared_memory[by_alias[alias]]

    matrix = aux("reconstructor")
    v.require_ndim(config, *matrix, 2)
    if matrix[1].shape[1] != slopes:
        raise v.error(
            config,
            matrix[0],
            f"reconstructor columns must equal the slope count {slopes}, got "
            f"shape {tuple(matrix[1].shape)}",
        )
    actuators = matrix[1].shape[0]
    output = ("output", shared_memory[config.output])
    v.require_shape(config, *output, (actuators,))
    v.require_dtype_kind(config, *output, "floating")
    batch = (SENSORS,) if batched else ()
    calibration = []
    for index in range(1 if batched else SENSORS):
        for suffix, shape in (
            ("dark", image_shape),
            ("inverse_flat", image_shape),
            ("slope_offset", centroid_shape),
        ):
            binding = aux(sensor_alias(batched, suffix, index))
            v.require_shape(config, *binding, (*batch, *shape))
            calibration.append(binding)
    commands = [aux(alias) for alias in COMMAND_ALIASES]
    for binding in commands:
        v.require_shape(config, *binding, (actuators,))
    v.require_same_dtype(config, output, matrix, *calibration, *commands)
    return TomographicSettings(
        tile_size=tile,
        slope_gain=values["slope_gain"],
        leak=values["leak"],
        control_gain=values["control_gain"],
        command_gain=values["command_gain"],
        batched=batched,
        image_shape=image_shape,  # type: ignore[arg-type]
        actuators=actuators,
    )


class TomographicLaw:
    """The per-frame steps of ``tomographic_controller``, written once over
    ``self.ops`` (this kernel computes them with NumPy, the GPU twin with
    torch) into the buffers each allocates in ``__init__``."""

    settings: TomographicSettings
    ops: ArrayOps
    tiles: Any
    state: Any

    def _slopes_of(self, index: int, image: Any, auxiliary: Mapping[str, Any]) -> None:
        ops = self.ops
        dark, flat, offset = self.settings.calibration(index, auxiliary)
        calibrated = self._calibrated
        ops.copy(calibrated, image)  # cast first: no ufunc casting buffer
        ops.subtract(calibrated, dark, out=calibrated)
        ops.multiply(calibrated, flat, out=calibrated)
        self.tiles.compute_into(calibrated, self._centroids)
        block = self._slope_blocks[index]
        ops.multiply(self._centroids_flat, self.settings.slope_gain, out=block)
        ops.subtract(block, offset.reshape(-1), out=block)

    def compute_into(
        self, trigger_input: Any, output: Any, auxiliary_inputs: Mapping[str, Any]
    ) -> None:
        s, ops = self.settings, self.ops
        for index in range(SENSORS):
            self._slopes_of(index, trigger_input[index], auxiliary_inputs)
        residual, state = self._residual, self.state
        ops.matvec(auxiliary_inputs["reconstructor"], self._slopes, out=residual)
        ops.add(residual, auxiliary_inputs["reconstructor_bias"], out=residual)
        leaky_update(ops, state, residual, s.leak, s.control_gain, residual)
        ops.multiply(state, s.command_gain, out=output)
        ops.subtract(output, auxiliary_inputs["command_offset"], out=output)
        ops.maximum(output, auxiliary_inputs["command_low"], out=output)
        ops.minimum(output, auxiliary_inputs["command_high"], out=output)

    def reset(self) -> None:
        """Zero the integrator state."""
        self.state[...] = 0


class TomographicControllerCpuKernel(TomographicLaw, CpuKernel):
    """Tomographic adaptive-optics control from eight wavefront sensors.

    Inputs: one batched ``(8, rows, cols)`` stream or eight ``(rows, cols)``
    streams (``inputs:``; ``trigger_policy: all_new``). Per sensor ``i``:
    ``calibrated = (image - dark) * inverse_flat``, tile centroids as
    ``cpu.shack_hartmann_centroid`` (``tile_size``, default 4), slopes
    ``slope_gain * centroids - slope_offset`` into block ``i`` of the slope
    vector. Then ``residual = reconstructor @ slopes + reconstructor_bias``,
    ``state = leak * state + control_gain * residual`` and
    ``out = clip(command_gain * state - command_offset, command_low,
    command_high)``.

    Auxiliary aliases: ``reconstructor`` (actuators, slopes), the four
    ``(actuators,)`` vectors ``reconstructor_bias``, ``command_offset``,
    ``command_low``, ``command_high``, and per sensor ``wfs<i>_dark``,
    ``wfs<i>_inverse_flat`` (image shape), ``wfs<i>_slope_offset`` (centroid
    shape) -- batched: ``wfs_dark``... with a leading 8. Images are any real
    dtype; the auxiliaries and the output share one floating dtype.
    """

    kind = "cpu.tomographic_controller"
    input_arity = (1, SENSORS)
    auxiliary_arity = None
    parameter_specs = TOMOGRAPHIC_PARAMETERS

    @classmethod
    def _settings(cls, config, shared_memory) -> TomographicSettings:
        return parse_tomographic(config, shared_memory)

    def __init__(self, context) -> None:
        super().__init__(context)
        s = self.settings
        dtype = np.dtype(context.output_spec.dtype)
        self.tiles = TileCentroids(*s.image_shape, s.tile_size, dtype)
        self._calibrated = np.zeros(s.image_shape, dtype)
        self._centroids = np.zeros(s.centroid_shape, dtype)
        self._centroids_flat = self._centroids.reshape(-1)
        self._slopes = np.zeros(s.slopes_per_sensor * SENSORS, dtype)
        self._slope_blocks = slope_blocks(self._slopes, s.slopes_per_sensor)
        self._residual = np.zeros(s.actuators, dtype)
        self.state = np.zeros(s.actuators, dtype)


__all__ = [
    "COMMAND_ALIASES",
    "SENSORS",
    "SENSOR_SUFFIXES",
    "TOMOGRAPHIC_PARAMETERS",
    "TomographicControllerCpuKernel",
    "TomographicLaw",
    "TomographicSettings",
    "parse_tomographic",
    "sensor_alias",
    "slope_blocks",
]
