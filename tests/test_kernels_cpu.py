"""CPU catalog, stateless kernels: values against independent NumPy
computations (Hypothesis over shapes and values) and every validation rule."""

from __future__ import annotations

import numpy as np
import pytest
from _kernel_support import create, expect_error, kconf, run, spec, specs
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shmpipeline.kernels.cpu as cpu
from shmpipeline.kernel import Kernel

FLOATS = st.sampled_from(["float32", "float64"])
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6)


def finite(dtype: str, bound: float = 1e3):
    return st.floats(-bound, bound, allow_nan=False, width=np.dtype(dtype).itemsize * 8)


@st.composite
def float_arrays(draw, count: int = 1, bound: float = 1e3):
    dtype = draw(FLOATS)
    shape = draw(SHAPES)
    return [
        draw(hnp.arrays(dtype, shape, elements=finite(dtype, bound)))
        for _ in range(count)
    ]


def tol(dtype) -> dict:
    return {
        "rtol": 4 * float(np.finfo(dtype).eps),
        "atol": 4 * float(np.finfo(dtype).eps),
    }


# --- class names and exports ---------------------------------------------------

NAMES = [
    "Copy",
    "Scale",
    "AddConstant",
    "ScaleOffset",
    "ElementwiseAdd",
    "ElementwiseSubtract",
    "ElementwiseMultiply",
    "ElementwiseDivide",
    "Flatten",
    "Reduce",
    "AffineTransform",
    "LeakyIntegrator",
    "CustomOperation",
    "SpotCentroid",
    "ShackHartmannCentroid",
    "RaiseError",
]


@pytest.mark.parametrize("stem", NAMES)
def test_every_kind_is_exported_as_name_cpu_kernel(stem):
    kernel_cls = getattr(cpu, f"{stem}CpuKernel")
    assert issubclass(kernel_cls, Kernel)
    assert kernel_cls.storage == "cpu"
    snake = "".join("_" + c.lower() if c.isupper() else c for c in stem).lstrip("_")
    assert kernel_cls.kind == f"cpu.{snake}"
    assert f"{stem}CpuKernel" in cpu.__all__


# --- copy ------------------------------------------------------------------------


@given(
    hnp.arrays(
        st.sampled_from(["float32", "int16", "uint8", "complex64", "bool"]),
        SHAPES,
    )
)
def test_copy_equals_input(x):
    sm = specs(spec("in", x.shape, x.dtype), spec("out", x.shape, x.dtype))
    kernel = create(kconf("cpu.copy"), sm)
    out = np.zeros_like(x)
    kernel.compute_into(x, out, {})
    np.testing.assert_array_equal(out, x)


# --- scale / add_constant ------------------------------------------------------------


@given(float_arrays(), st.floats(-100, 100, allow_nan=False))
def test_scale_float(arrays, factor):
    (x,) = arrays
    sm = specs(spec("in", x.shape, x.dtype), spec("out", x.shape, x.dtype))
    out = run(create(kconf("cpu.scale", factor=factor), sm), x)
    assert out.dtype == x.dtype
    np.testing.assert_allclose(out, x.astype(np.float64) * factor, **tol(x.dtype))


@given(float_arrays(), st.floats(-100, 100, allow_nan=False))
def test_add_constant_float(arrays, constant):
    (x,) = arrays
    sm = specs(spec("in", x.shape, x.dtype), spec("out", x.shape, x.dtype))
    out = run(create(kconf("cpu.add_constant", constant=constant), sm), x)
    expected = x.astype(np.float64) + constant
    np.testing.assert_allclose(
        out, expected, rtol=1e-6, atol=1e-4 if x.dtype == np.float32 else 1e-12
    )


@given(
    hnp.arrays(np.int32, SHAPES, elements=st.integers(-1000, 1000)),
    st.integers(-50, 50),
)
def test_scale_integer_stream_integral_factor_is_exact(x, factor):
    sm = specs(spec("in", x.shape, "int32"), spec("out", x.shape, "int32"))
    out = run(create(kconf("cpu.scale", factor=float(factor)), sm), x)
    np.testing.assert_array_equal(out, x.astype(np.int64) * factor)


@given(
    hnp.arrays(np.int16, SHAPES, elements=st.integers(-1000, 1000)),
    st.sampled_from([0.5, -1.25, 2.75]),
)
def test_scale_and_add_integer_stream_fractional_truncates(x, value):
    sm = specs(spec("in", x.shape, "int16"), spec("out", x.shape, "int16"))
    out = run(create(kconf("cpu.scale", factor=value), sm), x)
    np.testing.assert_array_equal(out, np.trunc(x * value).astype(np.int16))
    out = run(create(kconf("cpu.add_constant", constant=value), sm), x)
    np.testing.assert_array_equal(out, np.trunc(x + value).astype(np.int16))


def test_scale_integer_factor_out_of_dtype_range_goes_through_float():
    x = np.array([1, 2, 3], np.int8)
    sm = specs(spec("in", (3,), "int8"), spec("out", (3,), "int8"))
    out = run(create(kconf("cpu.scale", factor=1000), sm), x)
    np.testing.assert_array_equal(
        out, (np.array([1000.0, 2000.0, 3000.0])).astype(np.int8)
    )


# --- scale_offset / elementwise ----------------------------------------------------


@given(float_arrays(count=2), st.floats(-10, 10, allow_nan=False))
def test_scale_offset(arrays, gain):
    x, offset = arrays
    sm = specs(*(spec(n, x.shape, x.dtype) for n in ("in", "off", "out")))
    kernel = create(kconf("cpu.scale_offset", aux={"offset": "off"}, gain=gain), sm)
    out = run(kernel, x, {"offset": offset})
    expected = gain * x.astype(np.float64) - offset
    np.testing.assert_allclose(
        out, expected, rtol=1e-5, atol=1e-3 if x.dtype == np.float32 else 1e-9
    )


def test_scale_offset_integer_stream():
    x = np.array([1, 2, 3], np.int32)
    offset = np.array([1, 1, 1], np.int32)
    sm = specs(*(spec(n, (3,), "int32") for n in ("in", "off", "out")))
    kernel = create(kconf("cpu.scale_offset", aux={"o": "off"}, gain=2), sm)
    np.testing.assert_array_equal(run(kernel, x, {"o": offset}), [1, 3, 5])
    kernel = create(kconf("cpu.scale_offset", aux={"o": "off"}, gain=0.5), sm)
    np.testing.assert_array_equal(run(kernel, x, {"o": offset}), [-0, 0, 0])


ELEMENTWISE = {
    "cpu.elementwise_add": lambda a, b: a + b,
    "cpu.elementwise_subtract": lambda a, b: a - b,
    "cpu.elementwise_multiply": lambda a, b: a * b,
    "cpu.elementwise_divide": lambda a, b: a / b,
}


@pytest.mark.parametrize("kind", sorted(ELEMENTWISE))
@settings(max_examples=40)
@given(arrays=float_arrays(count=2, bound=100.0))
def test_elementwise_float(kind, arrays):
    x, y = arrays
    if kind.endswith("divide"):
        y = np.where(np.abs(y) < 1, y + 3, y).astype(y.dtype)
    sm = specs(*(spec(n, x.shape, x.dtype) for n in ("in", "rhs", "out")))
    out = run(create(kconf(kind, aux={"rhs": "rhs"}), sm), x, {"rhs": y})
    expected = ELEMENTWISE[kind](x.astype(np.float64), y.astype(np.float64))
    np.testing.assert_allclose(
        out,
        expected,
        **tol(x.dtype)
        if kind.endswith(("divide", "multiply"))
        else {"rtol": 1e-6, "atol": 1e-4},
    )


@pytest.mark.parametrize(
    "kind",
    ["cpu.elementwise_add", "cpu.elementwise_subtract", "cpu.elementwise_multiply"],
)
@given(data=st.data())
def test_elementwise_integer_wraps_like_numpy(kind, data):
    x = data.draw(hnp.arrays(np.uint8, (4, 3)))
    y = data.draw(hnp.arrays(np.uint8, (4, 3)))
    sm = specs(*(spec(n, (4, 3), "uint8") for n in ("in", "rhs", "out")))
    out = run(create(kconf(kind, aux={"b": "rhs"}), sm), x, {"b": y})
    expected = ELEMENTWISE[kind](x.astype(np.int64), y.astype(np.int64)) % 256
    np.testing.assert_array_equal(out, expected)


# --- flatten --------------------------------------------------------------------


@given(hnp.arrays(st.sampled_from(["float32", "int64", "bool"]), SHAPES))
def test_flatten_is_c_order_ravel(x):
    sm = specs(spec("in", x.shape, x.dtype), spec("out", (x.size,), x.dtype))
    out = run(create(kconf("cpu.flatten"), sm), x)
    np.testing.assert_array_equal(out, x.reshape(-1, order="C"))


def test_flatten_non_contiguous_input_is_still_correct():
    base = np.arange(24.0).reshape(4, 6)
    x = base[:, ::2]  # (4, 3) strided view
    sm = specs(spec("in", (4, 3)), spec("out", (12,)))
    out = run(create(kconf("cpu.flatten"), sm), x)
    np.testing.assert_array_equal(out, np.ravel(x))


# --- reduce ---------------------------------------------------------------------

REDUCERS = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
}


@pytest.mark.parametrize("operation", sorted(REDUCERS))
@given(arrays=float_arrays())
def test_reduce_float(operation, arrays):
    (x,) = arrays
    sm = specs(spec("in", x.shape, x.dtype), spec("out", (1,), x.dtype))
    out = run(create(kconf("cpu.reduce", params={"operation": operation}), sm), x)
    expected = REDUCERS[operation](x.astype(np.float64))
    np.testing.assert_allclose(
        out[0], expected, rtol=1e-4 if x.dtype == np.float32 else 1e-9, atol=1e-2
    )


def test_reduce_default_is_mean_and_output_shapes_with_one_element():
    x = np.arange(12.0).reshape(3, 4)
    for out_shape in [(1,), (1, 1)]:
        sm = specs(spec("in", (3, 4)), spec("out", out_shape))
        out = run(create(kconf("cpu.reduce"), sm), x)
        assert out.reshape(-1)[0] == pytest.approx(5.5)


@pytest.mark.parametrize("operation", sorted(REDUCERS))
@given(x=hnp.arrays(np.int32, SHAPES, elements=st.integers(-(10**6), 10**6)))
def test_reduce_integer_input_float_output(operation, x):
    sm = specs(spec("in", x.shape, "int32"), spec("out", (1,), "float64"))
    out = run(create(kconf("cpu.reduce", params={"operation": operation}), sm), x)
    np.testing.assert_allclose(
        out[0], REDUCERS[operation](x.astype(np.float64)), rtol=1e-12
    )


def test_reduce_integer_mean_into_integer_truncates():
    x = np.array([1, 2, 2], np.int32)  # mean 1.666...
    sm = specs(spec("in", (3,), "int32"), spec("out", (1,), "int32"))
    assert run(create(kconf("cpu.reduce", params={"operation": "mean"}), sm), x)[0] == 1
    x = np.array([-1, -2, -2], np.int32)
    assert (
        run(create(kconf("cpu.reduce", params={"operation": "mean"}), sm), x)[0] == -1
    )


def test_reduce_float64_sum_into_float32_accumulates_in_float64():
    x = np.full(1000, 0.1)
    sm = specs(spec("in", (1000,)), spec("out", (1,), "float32"))
    out = run(create(kconf("cpu.reduce", params={"operation": "sum"}), sm), x)
    assert out[0] == np.float32(np.sum(x))


# --- affine_transform ------------------------------------------------------------


@st.composite
def affine_case(draw):
    dtype = draw(FLOATS)
    m = draw(st.integers(1, 6))
    n = draw(st.integers(1, 6))
    el = finite(dtype, 10.0)
    return (
        draw(hnp.arrays(dtype, (m, n), elements=el)),
        draw(hnp.arrays(dtype, (n,), elements=el)),
        draw(hnp.arrays(dtype, (m,), elements=el)),
    )


@given(affine_case())
def test_affine_transform_positional_aliases(case):
    a, x, b = case
    m, n = a.shape
    dtype = a.dtype
    sm = specs(
        spec("x", (n,), dtype),
        spec("A", (m, n), dtype),
        spec("b", (m,), dtype),
        spec("y", (m,), dtype),
    )
    kernel = create(
        kconf(
            "cpu.affine_transform",
            input="x",
            output="y",
            aux={"first": "A", "second": "b"},
        ),
        sm,
    )
    out = run(kernel, x, {"first": a, "second": b})
    expected = a.astype(np.float64) @ x.astype(np.float64) + b
    np.testing.assert_allclose(
        out, expected, rtol=1e-4, atol=1e-3 if dtype == np.float32 else 1e-10
    )


def test_affine_transform_named_aliases_in_any_order():
    a = np.arange(6.0).reshape(2, 3)
    x = np.array([1.0, -1.0, 2.0])
    b = np.array([10.0, 20.0])
    sm = specs(spec("x", (3,)), spec("A", (2, 3)), spec("b", (2,)), spec("y", (2,)))
    kernel = create(
        kconf(
            "cpu.affine_transform",
            input="x",
            output="y",
            aux={"offset": "b", "matrix": "A"},
        ),
        sm,
    )
    np.testing.assert_allclose(run(kernel, x, {"matrix": a, "offset": b}), a @ x + b)


# --- raise_error ---------------------------------------------------------------------


def test_raise_error_raises_runtime_error_every_frame():
    sm = specs(spec("in", (2,)), spec("out", (2,)))
    kernel = create(kconf("cpu.raise_error", message="boom"), sm)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="^boom$"):
            kernel.compute_into(np.zeros(2), np.zeros(2), {})


# --- validation -----------------------------------------------------------------

F = "float64"
UNARY = specs(spec("in", (4,)), spec("out", (4,)))


def _sm(*items):
    return specs(*items)


CASES = [
    # (id, config, specs, fragments)
    (
        "copy shape",
        kconf("cpu.copy"),
        _sm(spec("in", (4,)), spec("out", (5,))),
        ["output", "shape (5,)", "(4,)"],
    ),
    (
        "copy dtype",
        kconf("cpu.copy"),
        _sm(spec("in", (4,)), spec("out", (4,), "float32")),
        ["output", "dtype float32"],
    ),
    ("copy aux", kconf("cpu.copy", aux={"x": "in"}), UNARY, ["auxiliary", "exactly 0"]),
    (
        "copy params",
        kconf("cpu.copy", factor=2),
        UNARY,
        ["parameters.factor", "takes no parameters"],
    ),
    (
        "copy operation",
        kconf("cpu.copy", operation="input"),
        UNARY,
        ["operation", "custom_operation"],
    ),
    (
        "unknown input",
        kconf("cpu.copy", input="frame"),
        _sm(spec("fram", (4,)), spec("out", (4,))),
        ["input", "unknown shared memory 'frame'", "fram"],
    ),
    (
        "unknown output",
        kconf("cpu.copy", output="nope"),
        UNARY,
        ["output", "unknown shared memory 'nope'"],
    ),
    (
        "gpu storage",
        kconf("cpu.copy"),
        _sm(spec("in", (4,), storage="gpu"), spec("out", (4,))),
        ["input", "cpu storage", "gpu"],
    ),
    ("scale missing", kconf("cpu.scale"), UNARY, ["parameters.factor", "missing"]),
    (
        "scale string",
        kconf("cpu.scale", factor="x"),
        UNARY,
        ["parameters.factor: must be a real number, got 'x'"],
    ),
    (
        "scale bool",
        kconf("cpu.scale", factor=True),
        UNARY,
        ["parameters.factor", "real number", "True"],
    ),
    (
        "scale nan",
        kconf("cpu.scale", factor=float("nan")),
        UNARY,
        ["parameters.factor", "finite"],
    ),
    (
        "scale typo",
        kconf("cpu.scale", factr=2),
        UNARY,
        ["parameters.factr", "did you mean 'factor'"],
    ),
    (
        "scale bool stream",
        kconf("cpu.scale", factor=2),
        _sm(spec("in", (4,), "bool"), spec("out", (4,), "bool")),
        ["input", "numeric"],
    ),
    ("add_constant missing", kconf("cpu.add_constant"), UNARY, ["parameters.constant"]),
    (
        "add_constant list",
        kconf("cpu.add_constant", constant=[1]),
        UNARY,
        ["parameters.constant", "real number"],
    ),
    (
        "scale_offset arity",
        kconf("cpu.scale_offset", gain=1),
        UNARY,
        ["auxiliary", "exactly 1 auxiliary stream, got 0"],
    ),
    (
        "scale_offset gain",
        kconf("cpu.scale_offset", aux={"o": "o"}),
        _sm(spec("in", (4,)), spec("o", (4,)), spec("out", (4,))),
        ["parameters.gain"],
    ),
    (
        "scale_offset aux shape",
        kconf("cpu.scale_offset", aux={"o": "o"}, gain=1),
        _sm(spec("in", (4,)), spec("o", (3,)), spec("out", (4,))),
        ["auxiliary.o", "shape (3,)"],
    ),
    (
        "scale_offset aux dtype",
        kconf("cpu.scale_offset", aux={"o": "o"}, gain=1),
        _sm(spec("in", (4,)), spec("o", (4,), "float32"), spec("out", (4,))),
        ["auxiliary.o", "float32"],
    ),
    ("add arity", kconf("cpu.elementwise_add"), UNARY, ["auxiliary", "exactly 1"]),
    (
        "add two aux",
        kconf("cpu.elementwise_add", aux={"a": "in", "b": "in"}),
        UNARY,
        ["auxiliary", "got 2"],
    ),
    (
        "add aux shape",
        kconf("cpu.elementwise_add", aux={"b": "b"}),
        _sm(spec("in", (4,)), spec("b", (2, 2)), spec("out", (4,))),
        ["auxiliary.b", "shape (2, 2)"],
    ),
    (
        "subtract out dtype",
        kconf("cpu.elementwise_subtract", aux={"b": "b"}),
        _sm(spec("in", (4,)), spec("b", (4,)), spec("out", (4,), "int64")),
        ["output", "int64"],
    ),
    (
        "divide ints",
        kconf("cpu.elementwise_divide", aux={"b": "b"}),
        _sm(
            spec("in", (4,), "int32"),
            spec("b", (4,), "int32"),
            spec("out", (4,), "int32"),
        ),
        ["input", "floating or complex"],
    ),
    (
        "flatten size",
        kconf("cpu.flatten"),
        _sm(spec("in", (2, 3)), spec("out", (5,))),
        ["output", "(6,)", "(5,)"],
    ),
    (
        "flatten 2d out",
        kconf("cpu.flatten"),
        _sm(spec("in", (2, 3)), spec("out", (6, 1))),
        ["output", "(6,)"],
    ),
    (
        "flatten dtype",
        kconf("cpu.flatten"),
        _sm(spec("in", (2, 3)), spec("out", (6,), "float32")),
        ["output", "float32"],
    ),
    (
        "reduce op",
        kconf("cpu.reduce", params={"operation": "median"}),
        _sm(spec("in", (4,)), spec("out", (1,))),
        ["parameters.operation", "sum, mean, max, min", "'median'"],
    ),
    (
        "reduce op typo",
        kconf("cpu.reduce", params={"operation": "maxx"}),
        _sm(spec("in", (4,)), spec("out", (1,))),
        ["did you mean 'max'"],
    ),
    (
        "reduce out size",
        kconf("cpu.reduce"),
        _sm(spec("in", (4,)), spec("out", (2,))),
        ["output", "1 element"],
    ),
    (
        "reduce out int",
        kconf("cpu.reduce"),
        _sm(spec("in", (4,)), spec("out", (1,), "int32")),
        ["output", "int32"],
    ),
    (
        "affine arity",
        kconf("cpu.affine_transform", aux={"A": "A"}),
        _sm(spec("in", (3,)), spec("A", (2, 3)), spec("out", (2,))),
        ["auxiliary", "exactly 2"],
    ),
    (
        "affine x 2d",
        kconf("cpu.affine_transform", aux={"matrix": "A", "offset": "b"}),
        _sm(spec("in", (3, 1)), spec("A", (2, 3)), spec("b", (2,)), spec("out", (2,))),
        ["input", "1-D"],
    ),
    (
        "affine A 1d",
        kconf("cpu.affine_transform", aux={"matrix": "A", "offset": "b"}),
        _sm(spec("in", (3,)), spec("A", (6,)), spec("b", (2,)), spec("out", (2,))),
        ["auxiliary.matrix", "2-D"],
    ),
    (
        "affine cols",
        kconf("cpu.affine_transform", aux={"matrix": "A", "offset": "b"}),
        _sm(spec("in", (4,)), spec("A", (2, 3)), spec("b", (2,)), spec("out", (2,))),
        ["input", "length 4", "needs 3"],
    ),
    (
        "affine offset",
        kconf("cpu.affine_transform", aux={"matrix": "A", "offset": "b"}),
        _sm(spec("in", (3,)), spec("A", (2, 3)), spec("b", (3,)), spec("out", (2,))),
        ["auxiliary.offset", "(2,)"],
    ),
    (
        "affine out",
        kconf("cpu.affine_transform", aux={"matrix": "A", "offset": "b"}),
        _sm(spec("in", (3,)), spec("A", (2, 3)), spec("b", (2,)), spec("out", (3,))),
        ["output", "(2,)"],
    ),
    (
        "affine dtype",
        kconf("cpu.affine_transform", aux={"matrix": "A", "offset": "b"}),
        _sm(
            spec("in", (3,)),
            spec("A", (2, 3), "float32"),
            spec("b", (2,)),
            spec("out", (2,)),
        ),
        ["auxiliary.matrix", "float32"],
    ),
    (
        "affine blas",
        kconf(
            "cpu.affine_transform", aux={"matrix": "A", "offset": "b"}, blas_threads=0
        ),
        _sm(spec("in", (3,)), spec("A", (2, 3)), spec("b", (2,)), spec("out", (2,))),
        ["parameters.blas_threads", "positive integer"],
    ),
    ("raise_error message", kconf("cpu.raise_error"), UNARY, ["parameters.message"]),
    (
        "raise_error blank",
        kconf("cpu.raise_error", message="  "),
        UNARY,
        ["parameters.message", "non-empty"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_validation_errors_name_kernel_and_field(case):
    _, config, sm, fragments = case
    expect_error(config, sm, *fragments)


def test_affine_accepts_blas_threads_for_compatibility():
    sm = _sm(spec("in", (3,)), spec("A", (2, 3)), spec("b", (2,)), spec("out", (2,)))
    create(kconf("cpu.affine_transform", aux={"A": "A", "b": "b"}, blas_threads=1), sm)


def test_shared_memory_may_be_a_sequence_of_specs():
    config = kconf("cpu.scale", factor=3)
    kernel = create(config, [spec("in", (2,)), spec("out", (2,))])
    np.testing.assert_array_equal(run(kernel, np.array([1.0, 2.0])), [3.0, 6.0])
