"""cpu.concatenate, cpu.tip_tilt_controller and cpu.tomographic_controller
against NumPy references; their validation names the field at fault; steady
frames allocate nothing; multi-output and multi-input kernel interface."""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest
from _controller_cases import (
    SENSORS,
    TomographicReference,
    concat_config,
    random_aux,
    spot_reference,
    tip_tilt_config,
    tip_tilt_specs,
    tomo_config,
    tomo_specs,
)
from _kernel_support import create, expect_error, spec, specs
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.config import KernelConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernel import Kernel, KernelContext

# --- concatenate -------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("dtype", ["float32", "int16", "uint8"])
def test_concatenate_joins_inputs_in_order(axis, dtype):
    rng = np.random.default_rng(3)
    sides = {0: [(1, 3), (2, 3), (3, 3)], 1: [(2, 1), (2, 2), (2, 4)]}
    shapes = sides[axis % 2]
    frames = tuple((rng.random(s) * 9).astype(dtype) for s in shapes)
    expected = np.concatenate(frames, axis=axis)
    config = concat_config(3, axis)
    sm = specs(
        *(spec(f"in{i}", s, dtype) for i, s in enumerate(shapes)),
        spec("out", expected.shape, dtype),
    )
    kernel = create(config, sm)
    out = np.full(expected.shape, 7, dtype)
    kernel.compute_into(frames, out, {})
    np.testing.assert_array_equal(out, expected)
    assert kernel.context.trigger_input_specs == tuple(sm[f"in{i}"] for i in range(3))


@pytest.mark.parametrize(
    "change, fragments",
    [
        (
            {"trigger_policy": "any_new"},
            ["trigger_policy", "requires trigger_policy 'all_new'"],
        ),
        ({"parameters": {"axis": 2}}, ["parameters.axis", "out of bounds"]),
        ({"parameters": {"axis": 1.5}}, ["parameters.axis", "must be an integer"]),
        ({"parameters": {"axes": 0}}, ["parameters.axes", "did you mean 'axis'"]),
        ({"inputs": ("in0",)}, ["inputs", "at least 2 trigger inputs, got 1"]),
    ],
)
def test_concatenate_validation(change, fragments):
    config = dataclasses.replace(concat_config(2), **change)
    sm = specs(spec("in0", (2, 3)), spec("in1", (2, 3)), spec("out", (4, 3)))
    expect_error(config, sm, *fragments)


@pytest.mark.parametrize(
    "streams, fragments",
    [
        ([(2, 3), (2, 4), (4, 3)], ["inputs[1]", "non-concatenated dimensions"]),
        ([(2, 3), (6,), (4, 3)], ["inputs[1]", "equal input ranks"]),
        ([(2, 3), (2, 3), (5, 3)], ["output", "shape (4, 3)"]),
    ],
)
def test_concatenate_geometry_errors(streams, fragments):
    a, b, out = streams
    sm = specs(spec("in0", a), spec("in1", b), spec("out", out))
    expect_error(concat_config(2), sm, *fragments)


def test_concatenate_dtype_mismatch():
    sm = specs(spec("in0", (2,)), spec("in1", (2,), "float32"), spec("out", (4,)))
    expect_error(concat_config(2), sm, "inputs[1]", "dtype float32")


# --- tip/tilt --------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    leak=st.floats(0.0, 1.0),
    gain=st.floats(-2.0, 2.0),
    threshold=st.sampled_from([0.0, 0.3]),
    power=st.sampled_from([1.0, 2.0]),
    image_dtype=st.sampled_from(["float64", "uint16", "float32"]),
    dtype=st.sampled_from(["float64", "float32"]),
)
def test_tip_tilt_matches_the_reference(
    seed, leak, gain, threshold, power, image_dtype, dtype
):
    rng = np.random.default_rng(seed)
    config = tip_tilt_config(
        leak=leak,
        control_gain=gain,
        threshold=threshold,
        weight_power=power,
        background=0.1,
    )
    sm = tip_tilt_specs(image_dtype=image_dtype, dtype=dtype)
    kernel = create(config, sm)
    matrix = rng.standard_normal((2, 2)).astype(dtype)
    bias = rng.standard_normal(2).astype(dtype)
    state = np.zeros(2)
    out = np.empty(2, dtype)
    for _ in range(4):
        image = (rng.random((6, 5)) * 10).astype(image_dtype)
        kernel.compute_into(image, out, {"matrix": matrix, "bias": bias})
        c = spot_reference(image, threshold, 0.1, power)
        state = leak * state + gain * c
        expected = matrix.astype(np.float64) @ state + bias
        rtol = 1e-4 if dtype == "float32" else 1e-10
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    kernel.reset()
    assert not kernel.state.any()


def test_tip_tilt_positional_aliases_and_defaults():
    config = tip_tilt_config(aliases=("rot", "off"))
    kernel = create(config, tip_tilt_specs())
    image = np.zeros((6, 5))
    image[4, 1] = 3.0
    rot, off = np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0.5, -0.5])
    out = np.empty(2)
    kernel.compute_into(image, out, {"rot": rot, "off": off})
    # centroid (4 - 2.5, 1 - 2) = (1.5, -1); leak = gain = 1; swapped by rot
    np.testing.assert_allclose(out, [-1 + 0.5, 1.5 - 0.5])
    kernel.compute_into(image, out, {"rot": rot, "off": off})
    np.testing.assert_allclose(out, [-2 + 0.5, 3.0 - 0.5])


@pytest.mark.parametrize(
    "sm_change, params, fragments",
    [
        ({"m": spec("m", (3, 2))}, {}, ["auxiliary.matrix", "shape (2, 2)"]),
        ({"b": spec("b", (3,))}, {}, ["auxiliary.bias", "shape (2,)"]),
        ({"cmd": spec("cmd", (2,), "int32")}, {}, ["output", "floating"]),
        (
            {"m": spec("m", (2, 2), "float32")},
            {},
            ["auxiliary.matrix", "dtype float32"],
        ),
        ({"img": spec("img", (6,))}, {}, ["input", "2-D"]),
        ({}, {"leak": "x"}, ["parameters.leak", "real number"]),
        ({}, {"weight_power": 0}, ["parameters.weight_power", "positive"]),
        ({}, {"gain": 1.0}, ["parameters.gain", "unknown parameter"]),
    ],
)
def test_tip_tilt_validation(sm_change, params, fragments):
    sm = {**tip_tilt_specs(), **sm_change}
    expect_error(tip_tilt_config(**params), sm, *fragments)


# --- tomographic -----------------------------------------------------------------------


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize(
    "image_dtype, dtype", [("float64", "float64"), ("uint16", "float32")]
)
def test_tomographic_matches_the_reference(batched, image_dtype, dtype):
    rng = np.random.default_rng(11)
    config = tomo_config(
        batched, tile=2, slope_gain=0.7, leak=0.9, control_gain=0.5, command_gain=1.3
    )
    sm = tomo_specs(config, image_dtype=image_dtype, dtype=dtype)
    kernel = create(config, sm)
    aux = random_aux(config, sm, rng)
    reference = TomographicReference(config, actuators=5)
    out = np.empty(5, dtype)
    for _ in range(3):
        if batched:
            images = (rng.random((SENSORS, 4, 6)) * 50).astype(image_dtype)
        else:
            images = tuple(
                (rng.random((4, 6)) * 50).astype(image_dtype) for _ in range(SENSORS)
            )
        kernel.compute_into(images, out, aux)
        expected = reference.step(
            images, {k: v.astype(np.float64) for k, v in aux.items()}
        )
        rtol = 1e-4 if dtype == "float32" else 1e-10
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=rtol)
    assert np.all(out >= aux["command_low"]) and np.all(out <= aux["command_high"])


def test_tomographic_validation():
    config = tomo_config(True)
    sm = tomo_specs(config)
    bad_aux = dataclasses.replace(config, auxiliary=config.auxiliary[:-1])
    expect_error(bad_aux, sm, "auxiliary", "missing=['wfs_slope_offset']")
    expect_error(
        dataclasses.replace(config, trigger_policy="any_new"),
        sm,
        "trigger_policy",
        "all_new",
    )
    wide = {**sm, "s_reconstructor": spec("s_reconstructor", (5, 7))}
    expect_error(config, wide, "auxiliary.reconstructor", "slope count 96")
    expect_error(
        dataclasses.replace(config, parameters={"tile_size": 4}),
        sm,
        "parameters.tile_size",
        "must divide",
    )
    flat = {**sm, "wfs": spec("wfs", (4, 6))}
    expect_error(config, flat, "input", "batched input shape")
    three = dataclasses.replace(tomo_config(False), inputs=("wfs0", "wfs1", "wfs2"))
    expect_error(
        three, tomo_specs(tomo_config(False)), "inputs", "one batched or eight"
    )


# --- allocation-free steady state ------------------------------------------------------


def _alloc_cases():
    rng = np.random.default_rng(5)
    n = 64
    concat = concat_config(2, axis=0)
    concat_sm = specs(spec("in0", (n, n)), spec("in1", (n, n)), spec("out", (2 * n, n)))
    concat_in = (rng.random((n, n)), rng.random((n, n)))
    tt = tip_tilt_config(leak=0.9, control_gain=0.2, weight_power=1.5)
    tt_sm = tip_tilt_specs(shape=(n, n), image_dtype="uint16", dtype="float32")
    tt_aux = {"matrix": np.eye(2, dtype="float32"), "bias": np.zeros(2, "float32")}
    tomo = tomo_config(True, tile=8)
    tomo_sm = tomo_specs(
        tomo,
        image=(32, 32),
        tile=8,
        actuators=16,
        image_dtype="uint16",
        dtype="float32",
    )
    return {
        "concatenate": (concat, concat_sm, concat_in, {}),
        "tip_tilt uint16": (
            tt,
            tt_sm,
            (rng.random((n, n)) * 100).astype("uint16"),
            tt_aux,
        ),
        "tomographic batched": (
            tomo,
            tomo_sm,
            (rng.random((SENSORS, 32, 32)) * 100).astype("uint16"),
            random_aux(tomo, tomo_sm, rng),
        ),
    }


@pytest.mark.parametrize(
    "name", ["concatenate", "tip_tilt uint16", "tomographic batched"]
)
def test_no_per_frame_allocation(name):
    config, sm, x, aux = _alloc_cases()[name]
    kernel = create(config, sm)
    out_spec = kernel.context.output_spec
    outs = [np.empty(out_spec.shape, out_spec.dtype) for _ in range(3)]
    for i in range(5):
        kernel.compute_into(x, outs[i % 3], aux)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(300):
            kernel.compute_into(x, outs[i % 3], aux)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - before < 4096, f"{name}: retained {current - before} bytes"
    assert peak - before < 8192, f"{name}: peak +{peak - before} bytes"


# --- the kernel interface --------------------------------------------------------------


class SplitKernel(Kernel):
    """A two-output kernel implementing only compute_into_multiple."""

    kind = "test.split"
    output_arity = 2

    def compute_into_multiple(self, trigger_input, outputs, auxiliary_inputs):
        np.copyto(outputs[0], trigger_input[:2])
        np.copyto(outputs[1], trigger_input[2:])


def test_multi_output_kernel_and_output_specs():
    config = split_config()
    sm = specs(spec("in", (5,)), spec("lo", (2,)), spec("hi", (3,)))
    SplitKernel.validate_config(config, sm)
    kernel = SplitKernel(KernelContext(config, sm))
    assert kernel.context.output_specs == (sm["lo"], sm["hi"])
    lo, hi = np.empty(2), np.empty(3)
    kernel.compute_into_multiple(np.arange(5.0), [lo, hi], {})
    assert lo.tolist() == [0, 1] and hi.tolist() == [2, 3, 4]
    with pytest.raises(NotImplementedError, match="compute_into_multiple"):
        kernel.compute_into(np.arange(5.0), lo, {})
    one = dataclasses.replace(config, outputs=())
    with pytest.raises(ConfigValidationError, match="exactly 2 output streams, got 1"):
        SplitKernel.validate_config(one, sm)


def split_config() -> KernelConfig:
    return KernelConfig(
        name="split", kind="test.split", input="in", output="lo", outputs=("lo", "hi")
    )


def test_single_output_kernels_compute_through_the_multiple_call():
    kernel = create(
        concat_config(2), specs(spec("in0", (2,)), spec("in1", (1,)), spec("out", (3,)))
    )
    out = np.empty(3)
    kernel.compute_into_multiple((np.ones(2), np.zeros(1)), [out], {})
    assert out.tolist() == [1, 1, 0]


# --- parameters of the published gpu kernels ----------------------------------------


def test_published_gpu_parameters_are_accepted_and_checked():
    from _kernel_support import kconf

    affine = kconf(
        "cpu.affine_transform",
        input="x",
        output="y",
        aux={"matrix": "A", "offset": "b"},
        matrix_layout="column_major",
    )
    sm = specs(spec("x", (3,)), spec("A", (2, 3)), spec("b", (2,)), spec("y", (2,)))
    create(affine, sm)
    bad = dataclasses.replace(affine, parameters={"matrix_layout": "row_major"})
    expect_error(bad, sm, "parameters.matrix_layout", "source, column_major")
    tomo = tomo_config(True, borrow_gpu_inputs=True)
    create(tomo, tomo_specs(tomo))
    bad = tomo_config(True, borrow_gpu_inputs="yes")
    expect_error(bad, tomo_specs(bad), "parameters.borrow_gpu_inputs", "true or false")
