"""CPU catalog, AO/control kernels: leaky_integrator, spot_centroid and
shack_hartmann_centroid against independent NumPy references."""

from __future__ import annotations

import numpy as np
import pytest
from _kernel_support import create, expect_error, kconf, run, spec, specs
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shmpipeline.kernels.cpu import ShackHartmannCentroidCpuKernel
from shmpipeline.registry import get_default_registry

# --- leaky_integrator ---------------------------------------------------------------


def integrate(frames, leak, gain):
    state = np.zeros_like(frames[0], dtype=np.float64)
    outs = []
    for frame in frames:
        state = leak * state + gain * frame
        outs.append(state.copy())
    return outs


@given(
    frames=st.lists(
        hnp.arrays(np.float64, (5,), elements=st.floats(-10, 10)),
        min_size=1,
        max_size=8,
    ),
    leak=st.floats(0, 1),
    gain=st.floats(-2, 2),
)
def test_leaky_integrator_matches_recurrence(frames, leak, gain):
    sm = specs(spec("in", (5,)), spec("out", (5,)))
    kernel = create(kconf("cpu.leaky_integrator", leak=leak, gain=gain), sm)
    for frame, expected in zip(frames, integrate(frames, leak, gain), strict=True):
        np.testing.assert_allclose(run(kernel, frame), expected, rtol=1e-12, atol=1e-12)


def test_leaky_integrator_any_shape_float32_and_reset():
    sm = specs(spec("in", (2, 3), "float32"), spec("out", (2, 3), "float32"))
    kernel = create(kconf("cpu.leaky_integrator", leak=0.5, gain=1.0), sm)
    x = np.ones((2, 3), np.float32)
    run(kernel, x)
    out = run(kernel, x)
    np.testing.assert_allclose(out, 1.5)
    assert out.dtype == np.float32
    kernel.reset()
    np.testing.assert_allclose(run(kernel, x), 1.0)


def _aux_specs(*aliases, dtype="float64"):
    return specs(
        spec("in", (3,)), spec("out", (3,)), *(spec(a, (1,), dtype) for a in aliases)
    )


def test_leaky_integrator_gain_and_leak_auxiliaries_override_parameters():
    sm = _aux_specs("g", "l")
    config = kconf(
        "cpu.leaky_integrator", aux={"gain": "g", "leak": "l"}, leak=0.0, gain=0.0
    )
    kernel = create(config, sm)
    x = np.array([1.0, 2.0, 3.0])
    aux = {"gain": np.array([2.0]), "leak": np.array([0.5])}
    np.testing.assert_allclose(run(kernel, x, aux), 2 * x)
    aux = {"gain": np.array([1.0]), "leak": np.array([0.5])}
    np.testing.assert_allclose(run(kernel, x, aux), 0.5 * 2 * x + x)


def test_leaky_integrator_auxiliary_replaces_missing_parameter():
    sm = _aux_specs("g")
    kernel = create(kconf("cpu.leaky_integrator", aux={"gain": "g"}, leak=1.0), sm)
    x = np.ones(3)
    np.testing.assert_allclose(run(kernel, x, {"gain": np.array([3.0])}), 3.0)
    np.testing.assert_allclose(run(kernel, x, {"gain": np.array([3.0])}), 6.0)


def test_leaky_integrator_override_enabled_switches_between_aux_and_parameters():
    sm = _aux_specs("g", "flag", dtype="float32")
    config = kconf(
        "cpu.leaky_integrator",
        aux={"gain": "g", "override_enabled": "flag"},
        leak=0.0,
        gain=1.0,
    )
    kernel = create(config, sm)
    x = np.ones(3)
    off = {
        "gain": np.array([5.0], np.float32),
        "override_enabled": np.array([0.0], np.float32),
    }
    on = {
        "gain": np.array([5.0], np.float32),
        "override_enabled": np.array([1.0], np.float32),
    }
    np.testing.assert_allclose(run(kernel, x, off), 1.0)  # parameter gain
    np.testing.assert_allclose(run(kernel, x, on), 5.0)  # auxiliary gain
    np.testing.assert_allclose(run(kernel, x, off), 1.0)


def test_leaky_integrator_override_disabled_without_parameters_falls_back_to_zero():
    sm = _aux_specs("g", "l", "flag")
    config = kconf(
        "cpu.leaky_integrator",
        aux={"gain": "g", "leak": "l", "override_enabled": "flag"},
    )
    kernel = create(config, sm)
    aux = {
        "gain": np.array([2.0]),
        "leak": np.array([1.0]),
        "override_enabled": np.array([0.0]),
    }
    np.testing.assert_allclose(run(kernel, np.ones(3), aux), 0.0)


LEAKY_CASES = [
    (
        "missing leak",
        kconf("cpu.leaky_integrator", gain=1.0),
        specs(spec("in", (3,)), spec("out", (3,))),
        ["parameters.leak", "missing"],
    ),
    (
        "missing gain",
        kconf("cpu.leaky_integrator", leak=1.0),
        specs(spec("in", (3,)), spec("out", (3,))),
        ["parameters.gain"],
    ),
    (
        "bad gain",
        kconf("cpu.leaky_integrator", leak=1.0, gain="high"),
        specs(spec("in", (3,)), spec("out", (3,))),
        ["parameters.gain", "real number", "'high'"],
    ),
    (
        "unknown alias",
        kconf("cpu.leaky_integrator", aux={"gian": "g"}, leak=1, gain=1),
        _aux_specs("g"),
        ["auxiliary.gian", "did you mean 'gain'"],
    ),
    (
        "aux size",
        kconf("cpu.leaky_integrator", aux={"gain": "g"}, leak=1),
        specs(spec("in", (3,)), spec("out", (3,)), spec("g", (2,))),
        ["auxiliary.gain", "1 element"],
    ),
    (
        "aux dtype",
        kconf("cpu.leaky_integrator", aux={"gain": "g"}, leak=1),
        specs(spec("in", (3,)), spec("out", (3,)), spec("g", (1,), "complex64")),
        ["auxiliary.gain", "real numeric"],
    ),
    (
        "int stream",
        kconf("cpu.leaky_integrator", leak=1, gain=1),
        specs(spec("in", (3,), "int32"), spec("out", (3,), "int32")),
        ["input", "floating or complex"],
    ),
    (
        "shape",
        kconf("cpu.leaky_integrator", leak=1, gain=1),
        specs(spec("in", (3,)), spec("out", (4,))),
        ["output", "shape (4,)"],
    ),
    (
        "four aux",
        kconf(
            "cpu.leaky_integrator",
            aux={"gain": "a", "leak": "b", "override_enabled": "c", "x": "d"},
            leak=1,
            gain=1,
        ),
        _aux_specs("a", "b", "c", "d"),
        ["auxiliary", "between 0 and 3", "got 4"],
    ),
]


@pytest.mark.parametrize("case", LEAKY_CASES, ids=[c[0] for c in LEAKY_CASES])
def test_leaky_integrator_validation(case):
    _, config, sm, fragments = case
    expect_error(config, sm, *fragments)


# --- spot_centroid --------------------------------------------------------------------


def spot_reference(image, threshold=0.0, background=0.0, power=1.0):
    signal = image.astype(np.float64) - background
    weights = np.where(signal > threshold, signal, 0.0) ** power
    total = weights.sum()
    if total <= 0:
        return np.zeros(2)
    rows, cols = np.indices(image.shape)
    h, w = image.shape
    return np.array(
        [
            (weights * rows).sum() / total - (h - 1) / 2,
            (weights * cols).sum() / total - (w - 1) / 2,
        ]
    )


@given(
    image=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
        elements=st.floats(0, 100),
    ),
    threshold=st.floats(0, 50),
    background=st.floats(0, 20),
    power=st.sampled_from([1.0, 2.0, 0.5, 1.5]),
)
def test_spot_centroid_matches_reference(image, threshold, background, power):
    sm = specs(spec("in", image.shape), spec("out", (2,)))
    params = {"threshold": threshold, "background": background, "weight_power": power}
    kernel = create(kconf("cpu.spot_centroid", **params), sm)
    np.testing.assert_allclose(
        run(kernel, image),
        spot_reference(image, threshold, background, power),
        rtol=1e-9,
        atol=1e-9,
    )


@pytest.mark.parametrize("row,col", [(0, 0), (3, 7), (5, 2)])
def test_spot_centroid_single_bright_pixel_uint16_into_float32(row, col):
    image = np.zeros((6, 8), np.uint16)
    image[row, col] = 1000
    sm = specs(spec("in", (6, 8), "uint16"), spec("out", (2,), "float32"))
    out = run(create(kconf("cpu.spot_centroid"), sm), image)
    np.testing.assert_allclose(out, [row - 2.5, col - 3.5])
    assert out.dtype == np.float32


def test_spot_centroid_zero_weight_gives_zero():
    sm = specs(spec("in", (4, 4)), spec("out", (2,)))
    kernel = create(kconf("cpu.spot_centroid", threshold=10.0), sm)
    np.testing.assert_array_equal(run(kernel, np.full((4, 4), 5.0)), [0.0, 0.0])


SPOT_CASES = [
    (
        "1d input",
        kconf("cpu.spot_centroid"),
        specs(spec("in", (16,)), spec("out", (2,))),
        ["input", "2-D"],
    ),
    (
        "out shape",
        kconf("cpu.spot_centroid"),
        specs(spec("in", (4, 4)), spec("out", (3,))),
        ["output", "(2,)"],
    ),
    (
        "out int",
        kconf("cpu.spot_centroid"),
        specs(spec("in", (4, 4)), spec("out", (2,), "int32")),
        ["output", "floating"],
    ),
    (
        "complex in",
        kconf("cpu.spot_centroid"),
        specs(spec("in", (4, 4), "complex128"), spec("out", (2,))),
        ["input", "real"],
    ),
    (
        "power zero",
        kconf("cpu.spot_centroid", weight_power=0),
        specs(spec("in", (4, 4)), spec("out", (2,))),
        ["parameters.weight_power", "positive"],
    ),
    (
        "threshold text",
        kconf("cpu.spot_centroid", threshold="low"),
        specs(spec("in", (4, 4)), spec("out", (2,))),
        ["parameters.threshold", "real number"],
    ),
    (
        "unknown param",
        kconf("cpu.spot_centroid", tile_size=4),
        specs(spec("in", (4, 4)), spec("out", (2,))),
        ["parameters.tile_size", "unknown parameter"],
    ),
]


@pytest.mark.parametrize("case", SPOT_CASES, ids=[c[0] for c in SPOT_CASES])
def test_spot_centroid_validation(case):
    _, config, sm, fragments = case
    expect_error(config, sm, *fragments)


# --- shack_hartmann_centroid -------------------------------------------------------------


def shack_reference(image, tile):
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    out = np.zeros((rows, cols, 2))
    r_idx, c_idx = np.indices((tile, tile))
    centre = (tile - 1) / 2
    for i in range(rows):
        for j in range(cols):
            patch = image[i * tile : (i + 1) * tile, j * tile : (j + 1) * tile].astype(
                np.float64
            )
            total = patch.sum()
            if total <= 0:
                continue
            out[i, j] = [
                (patch * r_idx).sum() / total - centre,
                (patch * c_idx).sum() / total - centre,
            ]
    return out


@st.composite
def sh_case(draw):
    tile = draw(st.integers(1, 5))
    rows = draw(st.integers(1, 4))
    cols = draw(st.integers(1, 4))
    dtype = draw(st.sampled_from(["float32", "float64", "uint16"]))
    elements = (
        st.integers(0, 1000) if dtype == "uint16" else st.floats(0, 100, width=32)
    )
    image = draw(hnp.arrays(dtype, (rows * tile, cols * tile), elements=elements))
    return tile, image


@given(sh_case())
def test_shack_hartmann_matches_reference(case):
    tile, image = case
    out_shape = (image.shape[0] // tile, image.shape[1] // tile, 2)
    sm = specs(spec("in", image.shape, image.dtype), spec("out", out_shape))
    kernel = create(kconf("cpu.shack_hartmann_centroid", tile_size=tile), sm)
    np.testing.assert_allclose(
        run(kernel, image), shack_reference(image, tile), rtol=1e-9, atol=1e-9
    )


def test_shack_hartmann_negative_and_empty_tiles_are_zero_float32_out():
    image = np.zeros((4, 6), np.float32)
    image[0:2, 0:2] = -1.0  # negative sum
    image[2, 3] = 4.0  # bright pixel at tile (1, 1), local (0, 1)
    sm = specs(spec("in", (4, 6), "float32"), spec("out", (2, 3, 2), "float32"))
    out = run(create(kconf("cpu.shack_hartmann_centroid", tile_size=2), sm), image)
    expected = np.zeros((2, 3, 2), np.float32)
    expected[1, 1] = [0 - 0.5, 1 - 0.5]
    np.testing.assert_array_equal(out, expected)


def test_centroid_is_an_alias_of_shack_hartmann():
    assert get_default_registry().get("cpu.centroid") is ShackHartmannCentroidCpuKernel
    image = np.arange(16.0).reshape(4, 4)
    sm = specs(spec("in", (4, 4)), spec("out", (2, 2, 2)))
    out = run(create(kconf("cpu.centroid", tile_size=2), sm), image)
    np.testing.assert_allclose(out, shack_reference(image, 2))


SH_SM = specs(spec("in", (8, 12)), spec("out", (2, 3, 2)))
SH_CASES = [
    (
        "missing tile",
        kconf("cpu.shack_hartmann_centroid"),
        SH_SM,
        ["parameters.tile_size", "missing"],
    ),
    (
        "zero tile",
        kconf("cpu.shack_hartmann_centroid", tile_size=0),
        SH_SM,
        ["parameters.tile_size", "positive integer"],
    ),
    (
        "float tile",
        kconf("cpu.shack_hartmann_centroid", tile_size=2.5),
        SH_SM,
        ["parameters.tile_size", "2.5"],
    ),
    (
        "bool tile",
        kconf("cpu.shack_hartmann_centroid", tile_size=True),
        SH_SM,
        ["parameters.tile_size", "True"],
    ),
    (
        "not dividing",
        kconf("cpu.shack_hartmann_centroid", tile_size=5),
        SH_SM,
        ["parameters.tile_size", "must divide", "(8, 12)"],
    ),
    (
        "out shape",
        kconf("cpu.shack_hartmann_centroid", tile_size=2),
        SH_SM,
        ["output", "(4, 6, 2)", "(2, 3, 2)"],
    ),
    (
        "3d input",
        kconf("cpu.shack_hartmann_centroid", tile_size=4),
        specs(spec("in", (8, 12, 1)), spec("out", (2, 3, 2))),
        ["input", "2-D"],
    ),
    (
        "out int",
        kconf("cpu.shack_hartmann_centroid", tile_size=4),
        specs(spec("in", (8, 12)), spec("out", (2, 3, 2), "int16")),
        ["output", "floating"],
    ),
    ("alias too", kconf("cpu.centroid", tile_size=-4), SH_SM, ["parameters.tile_size"]),
]


@pytest.mark.parametrize("case", SH_CASES, ids=[c[0] for c in SH_CASES])
def test_shack_hartmann_validation(case):
    _, config, sm, fragments = case
    expect_error(config, sm, *fragments)
