"""Builders of the built-in wavefront kinds: spot and Shack-Hartmann
centroids, the tip-tilt and the tomographic controller.

Each registers with :func:`~._builders.builtin_builder` when imported
(by :mod:`._kernels`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.testing.strategies._builders import (
    builtin_builder,
    declared_kernel,
    declared_parameter_values,
    is_real_stream,
    stream_of_ndim,
    timings,
    trigger_of_ndim,
)
from shmpipeline.testing.strategies._slots import KernelDraft, KernelSlot
from shmpipeline.testing.strategies._streams import (
    FLOAT_DTYPES,
    Limits,
    stream_configs,
)

__all__: list[str] = []


@builtin_builder(
    "cpu.spot_centroid",
    accepts=stream_of_ndim(2, is_real_stream),
    trigger=trigger_of_ndim(2),
)
@st.composite
def _spot_centroid(draw: Any, slot: KernelSlot) -> KernelDraft:
    dtype = draw(st.sampled_from((*FLOAT_DTYPES, slot.trigger.dtype.name)))
    config = declared_kernel(draw, slot)
    return KernelDraft(config, slot.output(shape=(2,), dtype=dtype))


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _square_trigger(name: str, limits: Limits) -> st.SearchStrategy[SharedMemoryConfig]:
    side = st.integers(1, max(limits.max_side, 2))
    return stream_configs(name=name, shape=st.tuples(side, side), dtypes=limits.dtypes)


def _tile_not_dividing(
    config: KernelConfig, streams: Mapping[str, SharedMemoryConfig]
) -> list[tuple[str, Any]]:
    height, width = streams[config.input].shape
    return [("tile_size", max(height, width) + 1)]


@builtin_builder(
    "cpu.shack_hartmann_centroid",
    "cpu.centroid",
    accepts=stream_of_ndim(2, is_real_stream),
    trigger=_square_trigger,
    bad_parameters=_tile_not_dividing,
)
@st.composite
def _shack_hartmann(draw: Any, slot: KernelSlot) -> KernelDraft:
    height, width = slot.trigger.shape
    common = [d for d in _divisors(height) if width % d == 0]
    tile = draw(st.sampled_from(common[::-1]))  # shrinks towards the largest
    dtype = draw(st.sampled_from((*FLOAT_DTYPES, slot.trigger.dtype.name)))
    config = slot.kernel(parameters={"tile_size": tile}, **draw(timings()))
    output = slot.output(shape=(height // tile, width // tile, 2), dtype=dtype)
    return KernelDraft(config, output)


@builtin_builder(
    "cpu.tip_tilt_controller",
    accepts=stream_of_ndim(2, is_real_stream),
    trigger=trigger_of_ndim(2),
)
@st.composite
def _tip_tilt(draw: Any, slot: KernelSlot) -> KernelDraft:
    """Matrix (2, 2), bias (2,) and output (2,) of one floating dtype."""
    dtype = draw(st.sampled_from(slot.limits.floats))
    matrix = draw(slot.auxiliary("matrix", shape=(2, 2), dtype=dtype))
    bias = draw(slot.auxiliary("bias", shape=(2,), dtype=dtype))
    if draw(st.booleans()):
        aux: list[Any] = [("matrix", matrix.name), ("bias", bias.name)]
    else:
        aux = [matrix.name, bias.name]
    params = draw(declared_parameter_values(slot.kind, skip=("leak",)))
    if draw(st.booleans()):
        params["leak"] = draw(st.floats(0.0, 1.0))
    config = slot.kernel(auxiliary=aux, parameters=params, **draw(timings()))
    return KernelDraft(config, slot.output(shape=(2,), dtype=dtype), (matrix, bias))


def _sensor_batch_trigger(
    name: str, limits: Limits
) -> st.SearchStrategy[SharedMemoryConfig]:
    side = st.integers(1, max(limits.max_side, 2))
    return stream_configs(
        name=name, shape=st.tuples(st.just(8), side, side), dtypes=limits.dtypes
    ).filter(is_real_stream)


@builtin_builder(
    "cpu.tomographic_controller",
    accepts=lambda s: len(s.shape) == 3 and s.shape[0] == 8 and is_real_stream(s),
    trigger=_sensor_batch_trigger,
)
@st.composite
def _tomographic(draw: Any, slot: KernelSlot) -> KernelDraft:
    """The batched form: one (8, rows, cols) trigger, calibration streams
    with a leading 8, a reconstructor of a drawn actuator count."""
    _, rows, cols = slot.trigger.shape
    common = [d for d in _divisors(rows) if cols % d == 0]
    tile = draw(st.sampled_from(common[::-1]))
    dtype = draw(st.sampled_from(slot.limits.floats))
    actuators = draw(st.integers(1, slot.limits.max_side))
    slopes = (rows // tile) * (cols // tile) * 2 * 8
    shapes = {
        "reconstructor": (actuators, slopes),
        "wfs_dark": (8, rows, cols),
        "wfs_inverse_flat": (8, rows, cols),
        "wfs_slope_offset": (8, rows // tile, cols // tile, 2),
    }
    for alias in ("reconstructor_bias", "command_offset", "command_low"):
        shapes[alias] = (actuators,)
    shapes["command_high"] = (actuators,)
    specs: list[SharedMemoryConfig] = []
    for alias, shape in shapes.items():
        taken = [s.name for s in specs]
        spec = draw(slot.auxiliary(alias, shape=shape, dtype=dtype, exclude=taken))
        specs.append(spec)
    aux = [(alias, spec.name) for alias, spec in zip(shapes, specs, strict=True)]
    params = draw(declared_parameter_values(slot.kind, skip=("tile_size", "leak")))
    params["tile_size"] = tile
    if draw(st.booleans()):
        params["leak"] = draw(st.floats(0.0, 1.0))
    config = slot.kernel(
        auxiliary=aux, parameters=params, trigger_policy="all_new", **draw(timings())
    )
    output = slot.output(shape=(actuators,), dtype=dtype)
    return KernelDraft(config, output, tuple(specs))
