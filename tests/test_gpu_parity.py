"""Every ``gpu.*`` kernel against its ``cpu.*`` twin on the same inputs.

The torch code runs on torch's CPU device everywhere (``device="cpu"``, see
``shmpipeline.kernels.gpu._base``) and on CUDA where a device exists (the
``cuda`` parameter, marked ``gpu``, skipped with a reason elsewhere).
Hypothesis draws shapes, dtypes and values; tolerances are per dtype
(``_gpu_support.TOLERANCES``; integers exact). Validation parity: the
configs the CPU tests reject are rejected by the gpu twin naming the same
field with the same words.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _gpu_support import (  # noqa: E402
    DEVICES,
    assert_parity,
    gpu_twin_config,
    on_gpu,
    require_cuda,
    run_twins,
    twins,
)
from _kernel_support import kconf, spec, specs  # noqa: E402
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import shmpipeline.kernels.gpu as gpu  # noqa: E402
from shmpipeline.errors import ConfigValidationError  # noqa: E402
from shmpipeline.kernel import KernelContext  # noqa: E402
from shmpipeline.registry import BUILTIN_KERNELS, get_default_registry  # noqa: E402

# ``device`` is a plain string, so sharing it across examples is safe
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
FLOATS = ["float16", "float32", "float64"]
INTS = ["int8", "int16", "int32", "int64", "uint8"]
COMPLEX = ["complex64", "complex128"]
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        require_cuda()
    return request.param


def values(dtype, bound: float = 20.0):
    """Elements of ``dtype`` small enough that no kind overflows."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return st.booleans()
    if dt.kind == "u":
        return st.integers(0, int(bound))
    if dt.kind == "i":
        return st.integers(-int(bound), int(bound))
    width = 16 if dt == np.float16 else 32 if dt in (np.float32, np.complex64) else 64
    real = st.floats(-bound, bound, allow_nan=False, width=width)
    if dt.kind == "c":
        return st.builds(complex, real, real)
    return real


def array(data, dtype, shape, bound: float = 20.0, nonzero: bool = False):
    elements = values(dtype, bound)
    if nonzero:
        elements = elements.filter(lambda v: abs(v) > 1e-2)
    return data.draw(hnp.arrays(np.dtype(dtype), shape, elements=elements))


def unary_specs(shape, dtype, out_shape=None, out_dtype=None):
    return specs(
        spec("in", shape, dtype),
        spec("out", shape if out_shape is None else out_shape, out_dtype or dtype),
    )


# --- the catalog ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", sorted(BUILTIN_KERNELS))
def test_every_cpu_kind_has_a_gpu_twin_exported_by_name(suffix):
    registry = get_default_registry()
    module, stem = BUILTIN_KERNELS[suffix]
    gpu_cls = registry.get(f"gpu.{suffix}")
    cpu_cls = registry.get(f"cpu.{suffix}")
    assert gpu_cls.__name__ == f"{stem}GpuKernel"
    assert getattr(gpu, gpu_cls.__name__) is gpu_cls
    assert gpu_cls.storage == "gpu"
    assert gpu_cls.kind == cpu_cls.kind.replace("cpu.", "gpu.", 1)
    assert gpu_cls.cpu_twin is cpu_cls
    for rule in ("auxiliary_arity", "parameter_names", "accepts_operation"):
        assert getattr(gpu_cls, rule) == getattr(cpu_cls, rule)


# --- stateless elementwise kinds ---------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS + INTS + COMPLEX + ["bool"])
@SETTINGS
@given(data=st.data())
def test_copy_and_flatten(device, dtype, data):
    shape = data.draw(SHAPES)
    x = array(data, dtype, shape)
    for config, sm in [
        (kconf("cpu.copy"), unary_specs(shape, dtype)),
        (kconf("cpu.flatten"), unary_specs(shape, dtype, out_shape=(x.size,))),
    ]:
        [(got, want)] = run_twins(config, sm, device, [(x, {})])
        assert_parity(got, want)


@pytest.mark.parametrize("kind", ["scale", "add_constant"])
@pytest.mark.parametrize("dtype", FLOATS + INTS + COMPLEX)
@SETTINGS
@given(data=st.data())
def test_scale_and_add_constant(device, kind, dtype, data):
    shape = data.draw(SHAPES)
    x = array(data, dtype, shape)
    # integral values take the in-dtype path, fractional ones (on integer
    # streams) the float64 scratch path that truncates toward zero
    value = data.draw(st.one_of(st.integers(-3, 3), st.floats(-3, 3, width=32)))
    key = "factor" if kind == "scale" else "constant"
    if np.dtype(dtype).kind == "u":
        value = abs(value)
    config = kconf(f"cpu.{kind}", **{key: value})
    [(got, want)] = run_twins(config, unary_specs(shape, dtype), device, [(x, {})])
    assert_parity(got, want, scale=abs(value) * 20)


@pytest.mark.parametrize("dtype", FLOATS + INTS + COMPLEX)
@SETTINGS
@given(data=st.data())
def test_scale_offset(device, dtype, data):
    shape = data.draw(SHAPES)
    x, offset = array(data, dtype, shape, 10), array(data, dtype, shape, 10)
    gain = data.draw(st.one_of(st.integers(0, 3), st.floats(0, 3, width=32)))
    sm = specs(
        spec("in", shape, dtype), spec("off", shape, dtype), spec("out", shape, dtype)
    )
    config = kconf("cpu.scale_offset", aux={"offset": "off"}, gain=gain)
    [(got, want)] = run_twins(config, sm, device, [(x, {"offset": offset})])
    assert_parity(got, want, scale=gain * 10 + 10)


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide"])
@pytest.mark.parametrize("dtype", FLOATS + INTS + COMPLEX)
@SETTINGS
@given(data=st.data())
def test_elementwise(device, op, dtype, data):
    if op == "divide" and np.dtype(dtype).kind in "iu":
        return  # refused by both twins (see the validation parity below)
    shape = data.draw(SHAPES)
    x = array(data, dtype, shape)
    aux = array(data, dtype, shape, nonzero=op == "divide")
    sm = specs(
        spec("in", shape, dtype), spec("aux", shape, dtype), spec("out", shape, dtype)
    )
    config = kconf(f"cpu.elementwise_{op}", aux={"aux": "aux"})
    [(got, want)] = run_twins(config, sm, device, [(x, {"aux": aux})])
    assert_parity(got, want, scale=400 if op != "divide" else 2000)


def test_integer_arithmetic_wraps_like_numpy(device):
    x = np.array([120, -120, 100, 7], np.int8)
    aux = np.array([10, -10, 3, 2], np.int8)
    sm = specs(
        spec("in", (4,), "int8"), spec("a", (4,), "int8"), spec("out", (4,), "int8")
    )
    for op in ("add", "subtract", "multiply"):
        config = kconf(f"cpu.elementwise_{op}", aux={"a": "a"})
        [(got, want)] = run_twins(config, sm, device, [(x, {"a": aux})])
        np.testing.assert_array_equal(got, want)


# --- reductions and products --------------------------------------------------------------


@pytest.mark.parametrize("operation", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("dtype", FLOATS + INTS + COMPLEX)
@SETTINGS
@given(data=st.data())
def test_reduce(device, operation, dtype, data):
    if operation in ("max", "min") and dtype in COMPLEX:
        return  # refused on the GPU (test_gpu_only_limits)
    shape = data.draw(SHAPES)
    x = array(data, dtype, shape)
    out_dtype = data.draw(st.sampled_from([dtype, "float64"]))
    out_shape = data.draw(st.sampled_from([(1,), (1, 1), ()])) or (1,)
    sm = unary_specs(shape, dtype, out_shape=out_shape, out_dtype=out_dtype)
    config = kconf("cpu.reduce", params={"operation": operation})
    [(got, want)] = run_twins(config, sm, device, [(x, {})])
    magnitude = float(np.sum(np.abs(x.astype(np.complex128))))
    if dtype == "float16" and out_dtype == "float16":
        # NumPy sums float16 pairwise in float16, torch in float32
        np.testing.assert_allclose(got, want, rtol=2e-2, atol=1e-2 * max(1, magnitude))
        return
    assert_parity(got, want, scale=magnitude)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128"])
@pytest.mark.parametrize("named", [True, False])
@SETTINGS
@given(data=st.data())
def test_affine_transform(device, dtype, named, data):
    m, n = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 6))
    x, a, b = (
        array(data, dtype, (n,)),
        array(data, dtype, (m, n)),
        array(data, dtype, (m,)),
    )
    sm = specs(
        spec("x", (n,), dtype),
        spec("A", (m, n), dtype),
        spec("b", (m,), dtype),
        spec("y", (m,), dtype),
    )
    aux = {"offset": "b", "matrix": "A"} if named else {"A": "A", "b": "b"}
    inputs = {"offset": b, "matrix": a} if named else {"A": a, "b": b}
    config = kconf("cpu.affine_transform", input="x", output="y", aux=aux)
    [(got, want)] = run_twins(config, sm, device, [(x, inputs)])
    assert_parity(got, want, scale=float(np.max(np.abs(a) @ np.abs(x) + np.abs(b))))


def test_affine_transform_on_the_benchmark_shape(device):
    rng = np.random.default_rng(0)
    x, a, b = (
        rng.normal(size=1024),
        rng.normal(size=(1024, 1024)),
        rng.normal(size=1024),
    )
    sm = specs(
        spec("x", (1024,), "float32"),
        spec("A", (1024, 1024), "float32"),
        spec("b", (1024,), "float32"),
        spec("y", (1024,), "float32"),
    )
    config = kconf(
        "cpu.affine_transform", input="x", output="y", aux={"A": "A", "b": "b"}
    )
    frame = (x.astype("f4"), {"A": a.astype("f4"), "b": b.astype("f4")})
    [(got, want)] = run_twins(config, sm, device, [frame])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


# --- state ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOATS + COMPLEX)
@pytest.mark.parametrize("aux", ["none", "gain_leak", "override_on", "override_off"])
@SETTINGS
@given(data=st.data())
def test_leaky_integrator_over_several_frames(device, dtype, aux, data):
    shape = data.draw(SHAPES)
    leak = data.draw(st.floats(0, 1, width=32))
    gain = data.draw(st.floats(-2, 2, width=32))
    streams = [spec("in", shape, dtype), spec("out", shape, dtype)]
    bindings, frame_aux = {}, {}
    if aux != "none":
        aux_dtype = data.draw(st.sampled_from(["float32", "float64", "int32"]))
        streams += [spec("g", (1,), aux_dtype), spec("l", (1,), aux_dtype)]
        bindings = {"gain": "g", "leak": "l"}
        frame_aux = {
            "gain": np.array([data.draw(st.integers(-2, 2))], aux_dtype),
            "leak": np.array([data.draw(st.integers(0, 1))], aux_dtype),
        }
        if aux.startswith("override"):
            streams.append(spec("on", (1,), "uint8"))
            bindings["override_enabled"] = "on"
            frame_aux["override_enabled"] = np.array([aux == "override_on"], "u1")
    config = kconf("cpu.leaky_integrator", aux=bindings, leak=leak, gain=gain)
    frames = [(array(data, dtype, shape, 5), frame_aux) for _ in range(3)]
    for got, want in run_twins(config, specs(*streams), device, frames):
        assert_parity(got, want, scale=30)


def test_leaky_integrator_reset_zeroes_the_state(device):
    config = gpu_twin_config(kconf("cpu.leaky_integrator", leak=1.0, gain=1.0))
    sm = {k: on_gpu(v) for k, v in unary_specs((3,), "float32").items()}
    kernel = gpu.LeakyIntegratorGpuKernel(KernelContext(config, sm), device=device)
    out = torch.zeros(3, device=device)
    x = torch.ones(3, device=device)
    kernel.compute_into(x, out, {})
    kernel.compute_into(x, out, {})
    assert out.cpu().tolist() == [2.0, 2.0, 2.0]
    kernel.reset()
    kernel.compute_into(x, out, {})
    assert out.cpu().tolist() == [1.0, 1.0, 1.0]


# --- centroids -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int16"])
@SETTINGS
@given(data=st.data())
def test_spot_centroid(device, dtype, data):
    height, width = data.draw(st.integers(1, 9)), data.draw(st.integers(1, 9))
    image = array(data, dtype, (height, width), 50)
    params = {
        "threshold": data.draw(st.sampled_from([0, 2.5, -1])),
        "background": data.draw(st.sampled_from([0, 1.0, 10])),
        "weight_power": data.draw(st.sampled_from([1, 2, 0.5])),
    }
    out_dtype = data.draw(st.sampled_from(["float32", "float64"]))
    sm = unary_specs((height, width), dtype, out_shape=(2,), out_dtype=out_dtype)
    config = kconf("cpu.spot_centroid", **params)
    [(got, want)] = run_twins(config, sm, device, [(image, {})])
    assert_parity(got, want, scale=10 * max(height, width))


@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8", "int32"])
@SETTINGS
@given(data=st.data())
def test_shack_hartmann_centroid(device, dtype, data):
    tile = data.draw(st.integers(1, 5))
    rows, cols = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    image = array(data, dtype, (rows * tile, cols * tile), 50)
    if np.dtype(dtype).kind != "u":
        image[:tile, :tile] = 0  # an empty tile gives [0, 0]
    out_dtype = data.draw(st.sampled_from(["float32", "float64"]))
    sm = unary_specs(image.shape, dtype, out_shape=(rows, cols, 2), out_dtype=out_dtype)
    for kind in ("cpu.shack_hartmann_centroid", "cpu.centroid"):
        config = kconf(kind, tile_size=tile)
        [(got, want)] = run_twins(config, sm, device, [(image, {})])
        assert_parity(got, want, scale=10 * tile)


def test_raise_error_raises_the_same_error(device):
    config = kconf("cpu.raise_error", message="boom")
    cpu_kernel, gpu_kernel = twins(config, unary_specs((2,), "float32"), device)
    for kernel, x, out in [
        (cpu_kernel, np.zeros(2, "f4"), np.zeros(2, "f4")),
        (gpu_kernel, torch.zeros(2, device=device), torch.zeros(2, device=device)),
    ]:
        with pytest.raises(RuntimeError, match="^boom$"):
            kernel.compute_into(x, out, {})


# --- custom_operation --------------------------------------------------------------------------

SHAPE = (3, 4)
EXPRESSIONS = [
    # (expression, input dtype, a dtype, v dtype, output dtype)
    ("input * 2 + 1", "float32", "float32", "float32", "float32"),
    ("input / 2", "int32", "int32", "int32", "float64"),
    ("input + 0.5", "int16", "int16", "int16", "float64"),
    ("input * 3 - a", "int32", "int16", "int16", "int32"),
    ("-input + +a", "float64", "float64", "float64", "float64"),
    ("input ** 2 - a", "float64", "float64", "float64", "float64"),
    ("abs(input) * v", "float32", "float32", "float32", "float32"),
    ("abs(input)", "complex64", "float32", "float32", "float32"),
    ("input * a", "complex128", "float64", "float64", "complex128"),
    (
        "minimum(input, a) + maximum(input, 0)",
        "float32",
        "float32",
        "float32",
        "float32",
    ),
    ("min(input, a, v) - max(input, 1, a)", "int16", "int16", "int16", "int16"),
    ("clip(input, -1, 1)", "float64", "float64", "float64", "float64"),
    ("clip(input, -1.5, 2)", "int32", "int32", "int32", "float64"),
    ("clip(input * 0.5, a, 2)", "float32", "float32", "float32", "float32"),
    (
        "sqrt(abs(input)) + exp(a) - log(abs(a) + 1)",
        "float64",
        "float64",
        "float64",
        "float64",
    ),
    ("sqrt(abs(input))", "int8", "int8", "int8", "float16"),
    ("where(input > a, input, a * 2)", "float32", "float32", "float32", "float32"),
    ("where(input, 1.0, v)", "float64", "float64", "float64", "float64"),
    ("where(input, 1.5, 2.5)", "int32", "int32", "int32", "float64"),
    ("where(1 < 2, input, a)", "float64", "float64", "float64", "float64"),
    ("(input >= 0) * input", "float32", "float32", "float32", "float32"),
    ("(input >= 0) * 1", "int16", "int16", "int16", "int64"),
    ("input > a", "int32", "float32", "float32", "bool"),
    ("(input > 0) + (a > 0)", "float32", "float32", "float32", "bool"),
    ("input * (1 / 3)", "float64", "float64", "float64", "float64"),
    ("2 ** 3 * input", "int64", "int64", "int64", "int64"),
    ("input - v", "float32", "float64", "float64", "float64"),
    ("input @ m", "float32", "float32", "float32", "float32"),
    ("m @ v", "float64", "float64", "float64", "float64"),
]


def custom_case(expression, in_dtype, a_dtype, v_dtype, out_dtype, rng):
    """Config, specs and one frame of ``expression`` over ``input`` (3, 4),
    ``a`` (3, 4), ``v`` (4,) and a matrix ``m``."""
    m_shape, out_shape = (4, 4), SHAPE
    if "@ m" in expression:
        m_shape, out_shape = (4, 3), (3, 3)
    elif "m @" in expression:
        out_shape = (4,)
    streams = [
        spec("in", SHAPE, in_dtype),
        spec("a", SHAPE, a_dtype),
        spec("v", (4,), v_dtype),
        spec("m", m_shape, in_dtype if "@ m" in expression else v_dtype),
        spec("out", out_shape, out_dtype),
    ]

    def sample(s):
        values = rng.normal(0, 3, s.shape)
        if np.dtype(s.dtype).kind == "c":
            values = values + 1j * rng.normal(0, 3, s.shape)
        if np.dtype(s.dtype).kind in "iu":
            values = np.round(values)
        return values.astype(s.dtype)

    frame = {s.name: sample(s) for s in streams[:4]}
    config = kconf(
        "cpu.custom_operation", aux={"a": "a", "v": "v", "m": "m"}, operation=expression
    )
    return config, specs(*streams), frame


@pytest.mark.parametrize(
    "case", EXPRESSIONS, ids=[c[0] + " " + c[1] for c in EXPRESSIONS]
)
def test_custom_operation_examples(device, case):
    rng = np.random.default_rng(7)
    config, sm, frames = custom_case(*case, rng)
    x = frames.pop("in")
    [(got, want)] = run_twins(config, sm, device, [(x, frames)])
    assert_parity(got, want, scale=100)


try:  # the CPU tests' random expression trees (one definition of the language)
    from test_custom_operation import DTYPES as TREE_DTYPES
    from test_custom_operation import SHAPE as TREE_SHAPE
    from test_custom_operation import TREES, reference, text
except ImportError:  # pragma: no cover - the CPU test module was renamed
    TREES = None


@pytest.mark.skipif(TREES is None, reason="tests/test_custom_operation.py not found")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_custom_operation_random_expressions(data):
    tree = data.draw(TREES)
    dtypes = [data.draw(st.sampled_from(TREE_DTYPES)) for _ in range(3)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    shapes = {"input": TREE_SHAPE, "a": TREE_SHAPE, "b": (4,)}
    env = {}
    for (name, shape), dtype in zip(shapes.items(), dtypes, strict=True):
        v = rng.normal(0, 3, shape)
        env[name] = (
            v.astype(dtype) if dtype.startswith("float") else np.round(v).astype(dtype)
        )
    try:
        with np.errstate(all="ignore"):
            expected = reference(tree, env)
    except (ArithmeticError, TypeError, ValueError):
        expected = None
    assume(
        expected is not None and not isinstance(expected, (int, float, complex, bool))
    )
    expected = np.asarray(expected)
    streams = [
        spec("in", TREE_SHAPE, dtypes[0]),
        spec("a", TREE_SHAPE, dtypes[1]),
        spec("b", (4,), dtypes[2]),
        spec("out", expected.shape, expected.dtype),
    ]
    config = kconf(
        "cpu.custom_operation", aux={"a": "a", "b": "b"}, operation=text(tree)
    )
    try:
        results = run_twins(
            config,
            specs(*streams),
            "cpu",
            [(env["input"], {"a": env["a"], "b": env["b"]})],
        )
    except ConfigValidationError as exc:  # a GPU-only limit (never a CPU rule)
        assert "is not supported by gpu.custom_operation" in str(exc), str(exc)
        return
    [(got, want)] = results
    if expected.dtype.kind == "f":
        # transcendental functions may differ by an ulp, which ** and exp magnify
        finite = np.isfinite(want)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=text(tree))
        np.testing.assert_allclose(
            got[finite],
            want[finite],
            rtol=1e-4 if expected.dtype == np.float32 else 1e-9,
            atol=1e-5,
            err_msg=text(tree),
        )
    else:
        np.testing.assert_array_equal(got, want, err_msg=text(tree))


# --- validation parity -------------------------------------------------------------------------


def _cpu_rejections():
    from test_custom_operation import REJECTED, op_kernel
    from test_kernels_cpu import CASES

    cases = [(c[0], c[1], c[2]) for c in CASES if c[0] != "gpu storage"]
    for expression, _fragments in REJECTED:
        out_dtype = "int32" if expression == "input / 2" else "float64"
        config, sm = op_kernel(
            expression, out_dtype=out_dtype, a=(SHAPE, "float64"), v2=((5,), "float64")
        )
        if expression == "input / 2":
            sm["in"] = spec("in", SHAPE, "int32")
        cases.append((f"custom {expression[:40]!r}", config, sm))
    return cases


CPU_REJECTIONS = _cpu_rejections()


@pytest.mark.parametrize("case", CPU_REJECTIONS, ids=[c[0] for c in CPU_REJECTIONS])
def test_gpu_twin_rejects_the_same_configs_naming_the_same_field(case):
    _, config, sm = case
    registry = get_default_registry()
    with pytest.raises(ConfigValidationError) as cpu_info:
        registry.validate(config, sm)
    gpu_specs = {name: on_gpu(s) for name, s in sm.items()}
    with pytest.raises(ConfigValidationError) as gpu_info:
        registry.validate(gpu_twin_config(config), gpu_specs)
    cpu_message = str(cpu_info.value)
    expected = cpu_message.replace("'cpu.", "'gpu.").replace(" cpu.", " gpu.")
    assert str(gpu_info.value) == expected


def test_storage_rules_of_mixed_pipelines():
    registry = get_default_registry()
    host = unary_specs((4,), "float32")
    # gpu kernel: host inputs are uploaded, the output must be on the GPU
    mixed = {"in": host["in"], "out": on_gpu(host["out"])}
    registry.validate(kconf("gpu.scale", factor=2), mixed)
    with pytest.raises(
        ConfigValidationError, match="output: kind 'gpu.scale' needs gpu storage"
    ):
        registry.validate(kconf("gpu.scale", factor=2), host)
    # cpu kernel: a gpu input needs its cpu mirror
    bare = {"in": on_gpu(host["in"]), "out": host["out"]}
    with pytest.raises(ConfigValidationError, match="input: .* without cpu_mirror"):
        registry.validate(kconf("cpu.scale", factor=2), bare)
    mirrored = {
        "in": dataclasses.replace(bare["in"], cpu_mirror=True),
        "out": host["out"],
    }
    registry.validate(kconf("cpu.scale", factor=2), mirrored)


@pytest.mark.parametrize(
    "config,sm,fragment",
    [
        (
            kconf("gpu.scale", factor=2),
            unary_specs((4,), "uint16"),
            "input: dtype uint16 of stream 'in' is not supported by gpu kernels",
        ),
        (
            kconf("gpu.reduce", params={"operation": "max"}),
            unary_specs((4,), "complex64", out_shape=(1,)),
            "input: dtype complex64 of stream 'in' is not supported by gpu.reduce",
        ),
        (
            kconf(
                "gpu.affine_transform", input="x", output="y", aux={"A": "A", "b": "b"}
            ),
            specs(
                spec("x", (2,), "int32"),
                spec("A", (2, 2), "int32"),
                spec("b", (2,), "int32"),
                spec("y", (2,), "int32"),
            ),
            "input: dtype int32 of stream 'x' is not supported by gpu.affine_transform",
        ),
        (
            kconf(
                "gpu.custom_operation", aux={"a": "a"}, operation="minimum(input, a)"
            ),
            specs(
                spec("in", (2,), "complex64"),
                spec("a", (2,), "complex64"),
                spec("out", (2,), "complex64"),
            ),
            "operation: 'minimum(input, a)' is not supported by gpu.custom_operation",
        ),
        (
            kconf("gpu.custom_operation", aux={"a": "a"}, operation="input @ a"),
            specs(
                spec("in", (2, 2), "int32"),
                spec("a", (2, 2), "int32"),
                spec("out", (2, 2), "int32"),
            ),
            "integer matrix products",
        ),
    ],
)
def test_gpu_only_limits(config, sm, fragment):
    gpu_specs = {name: on_gpu(s) for name, s in sm.items()}
    with pytest.raises(ConfigValidationError) as info:
        get_default_registry().validate(config, gpu_specs)
    assert fragment in str(info.value)
    assert str(info.value).startswith("kernel 'stage': ")


def test_a_gpu_kernel_on_a_cuda_stream_without_cuda_says_so():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    config = kconf("gpu.scale", factor=2)
    sm = {name: on_gpu(s) for name, s in unary_specs((4,), "float32").items()}
    from shmpipeline.errors import GpuUnavailableError

    with pytest.raises(
        GpuUnavailableError, match="kernel 'stage' .*sees no CUDA device"
    ):
        get_default_registry().create(config, sm)


# --- CUDA-only ------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_kernels_built_from_a_cuda_stream_spec_compute_on_that_device():
    require_cuda()
    config = kconf(
        "gpu.affine_transform", input="x", output="y", aux={"A": "A", "b": "b"}
    )
    sm = {
        name: on_gpu(s)
        for name, s in specs(
            spec("x", (3,), "float32"),
            spec("A", (2, 3), "float32"),
            spec("b", (2,), "float32"),
            spec("y", (2,), "float32"),
        ).items()
    }
    kernel = get_default_registry().create(config, sm)
    assert kernel.device.type == "cuda" and kernel.device.index == 0
    y = torch.zeros(2, device="cuda:0")
    kernel.compute_into(
        torch.ones(3, device="cuda:0"),
        y,
        {"A": torch.ones(2, 3, device="cuda:0"), "b": torch.ones(2, device="cuda:0")},
    )
    assert y.device.type == "cuda"
    assert y.cpu().tolist() == [4.0, 4.0]
