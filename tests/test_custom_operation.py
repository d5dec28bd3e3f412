"""``cpu.custom_operation``: the whitelisted expression language, its
validation (every rejection points at the offending token) and a Hypothesis
property: random expression trees evaluate exactly like direct NumPy."""

from __future__ import annotations

import ast
import builtins

import numpy as np
import pytest
from _kernel_support import create, expect_error, kconf, run, spec, specs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shmpipeline.errors import ConfigValidationError
from shmpipeline.registry import get_default_registry

SHAPE = (3, 4)


def op_kernel(expression, out_dtype="float64", out_shape=SHAPE, **aux_specs):
    """Build a custom_operation over ``input`` (float64 SHAPE) and aux specs
    given as alias=(shape, dtype)."""
    streams = [spec("in", SHAPE), spec("out", out_shape, out_dtype)]
    streams += [
        spec(alias, shape, dtype) for alias, (shape, dtype) in aux_specs.items()
    ]
    config = kconf(
        "cpu.custom_operation",
        aux={alias: alias for alias in aux_specs},
        operation=expression,
    )
    return config, specs(*streams)


X = np.arange(12.0).reshape(SHAPE) - 5.5
A = np.linspace(-2, 3, 12).reshape(SHAPE)
V = np.array([1.0, -2.0, 0.5, 4.0])

EXAMPLES = [
    ("input", lambda: X),
    ("input * 2 + 1", lambda: X * 2 + 1),
    ("-input + +a", lambda: -X + A),
    ("input / a", lambda: X / A),
    ("input ** 2 - a", lambda: X**2 - A),
    ("abs(input) * v", lambda: np.abs(X) * V),
    (
        "minimum(input, a) + maximum(input, 0)",
        lambda: np.minimum(X, A) + np.maximum(X, 0),
    ),
    (
        "min(input, a, v) - max(input, 1, a)",
        lambda: np.minimum(np.minimum(X, A), V) - np.maximum(np.maximum(X, 1), A),
    ),
    ("clip(input, -1, 1)", lambda: np.clip(X, -1, 1)),
    ("clip(input * 0.5, a, 2)", lambda: np.minimum(np.maximum(X * 0.5, A), 2)),
    (
        "sqrt(abs(input)) + exp(a) - log(abs(a) + 1)",
        lambda: np.sqrt(np.abs(X)) + np.exp(A) - np.log(np.abs(A) + 1),
    ),
    ("where(input > a, input, a * 2)", lambda: np.where(X > A, X, A * 2)),
    ("where(input, 1.0, v)", lambda: np.where(X != 0, 1.0, V)),
    ("where(1 < 2, input, a)", lambda: X),
    ("(input >= 0) * input", lambda: (X >= 0) * X),
    ("input * (1 / 3)", lambda: X * (1 / 3)),
    ("2 ** 3 * input", lambda: 8 * X),
    ("input - v", lambda: X - V),
]


@pytest.mark.parametrize("expression,expected", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_examples_match_numpy(expression, expected):
    config, sm = op_kernel(expression, a=(SHAPE, "float64"), v=((4,), "float64"))
    out = run(create(config, sm), X, {"a": A, "v": V})
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(out, expected(), rtol=1e-15, atol=0)


def test_matrix_product_and_affine_expression():
    m = np.arange(12.0).reshape(4, 3)
    x = np.array([1.0, 2.0, -1.0])
    b = np.array([0.5, 0.5, 1.0, -1.0])
    sm = specs(spec("in", (3,)), spec("m", (4, 3)), spec("b", (4,)), spec("out", (4,)))
    config = kconf(
        "cpu.custom_operation", aux={"m": "m", "b": "b"}, operation="m @ input + b"
    )
    out = run(create(config, sm), x, {"m": m, "b": b})
    np.testing.assert_allclose(out, m @ x + b)


@pytest.mark.parametrize(
    "left,right",
    [
        ((3, 4), (4,)),
        ((4,), (4, 2)),
        ((2, 3, 4), (4, 5)),
        ((2, 1, 3, 4), (5, 4, 2)),
        ((4,), (4,)),
    ],
)
def test_matmul_shape_rules_follow_numpy(left, right):
    rng = np.random.default_rng(0)
    a, b = rng.random(left), rng.random(right)
    expected = a @ b
    sm = specs(spec("in", left), spec("b", right), spec("out", expected.shape))
    config = kconf("cpu.custom_operation", aux={"b": "b"}, operation="input @ b")
    np.testing.assert_allclose(run(create(config, sm), a, {"b": b}), expected)


def test_weak_scalars_keep_float32_and_int32():
    sm = specs(spec("in", (4,), "float32"), spec("out", (4,), "float32"))
    out = run(
        create(kconf("cpu.custom_operation", operation="input * 0.5 + 1"), sm),
        np.ones(4, np.float32),
    )
    np.testing.assert_array_equal(out, np.full(4, 1.5, np.float32))
    sm = specs(spec("in", (4,), "int32"), spec("out", (4,), "int32"))
    out = run(
        create(kconf("cpu.custom_operation", operation="abs(input * 3 - 7)"), sm),
        np.arange(4, dtype=np.int32),
    )
    np.testing.assert_array_equal(out, np.abs(np.arange(4) * 3 - 7))


def test_mixed_dtypes_promote_like_numpy():
    sm = specs(
        spec("in", (4,), "int16"),
        spec("a", (4,), "float32"),
        spec("out", (4,), "float32"),
    )
    config = kconf("cpu.custom_operation", aux={"a": "a"}, operation="input * a + 1")
    x = np.array([1, 2, 3, 4], np.int16)
    a = np.array([0.5, 0.25, 2, 1], np.float32)
    np.testing.assert_array_equal(run(create(config, sm), x, {"a": a}), x * a + 1)


def test_elementwise_chain_reuses_one_temporary():
    config, sm = op_kernel("((input * 2 + 1) * 3 - 4) / 5 + abs(input) * 0.5")
    kernel = create(config, sm)
    assert len(kernel.plan.temporaries) <= 2
    np.testing.assert_allclose(
        run(kernel, X), ((X * 2 + 1) * 3 - 4) / 5 + np.abs(X) * 0.5
    )


def test_custom_operation_never_calls_eval_exec_or_compile(monkeypatch):
    real_compile = builtins.compile

    def guarded_compile(source, filename, mode, flags=0, *args, **kwargs):
        if not flags & ast.PyCF_ONLY_AST:
            raise AssertionError("compile() to bytecode called")
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(builtins, "compile", guarded_compile)
    config, sm = op_kernel(
        "clip(where(input > a, input, -a), -1, 1) * 2", a=(SHAPE, "float64")
    )
    out = run(create(config, sm), X, {"a": A})
    np.testing.assert_allclose(out, np.clip(np.where(X > A, X, -A), -1, 1) * 2)


# --- validation -------------------------------------------------------------------

REJECTED = [
    # expression, fragments of the message
    ("input / 2", ["dtype float64", "output 'out' has dtype int32", "'input / 2'"]),
    ("inptu * 2", ["unknown name 'inptu'", "did you mean 'input'", "column 1"]),
    ("input + aa", ["unknown name 'aa'", "known names: a, input", "column 9"]),
    ("abs + input", ["'abs' is a function"]),
    ("input.sum()", ["attribute access", "'input.sum'"]),
    ("np.sin(input)", ["attribute access", "'np.sin'"]),
    ("input[0]", ["subscript", "'input[0]'"]),
    ("(lambda: 1)()", ["lambda"]),
    ("__import__('os')", ["unknown function '__import__'"]),
    ("__import__('os').system('true')", ["attribute access"]),
    ("eval('input')", ["unknown function 'eval'"]),
    ("open('/etc/passwd')", ["unknown function 'open'"]),
    ("sin(input)", ["unknown function 'sin'", "allowed functions:"]),
    ("clip(input, lo=0, hi=1)", ["no keyword arguments"]),
    ("abs(*input)", ["argument unpacking"]),
    ("clip(input, 0)", ["clip() takes exactly 3 arguments, got 2"]),
    ("min(input)", ["min() takes at least 2 arguments, got 1"]),
    ("abs(input, a)", ["abs() takes exactly 1 argument, got 2"]),
    ("0 < input < 1", ["chained comparisons"]),
    ("input is a", ["comparison 'is'"]),
    ("input // 2", ["operator '//'"]),
    ("input % 2", ["operator '%'"]),
    ("input & a", ["operator '&'"]),
    ("input and a", ["'and'/'or'"]),
    ("not input", ["operator 'not'"]),
    ("~input", ["operator '~'"]),
    ("input if a else 0", ["conditional expression"]),
    ("[input]", ["list"]),
    ("(input, a)", ["tuple"]),
    ("[x for x in input]", ["comprehension"]),
    ("f'{input}'", ["f-string"]),
    ("(y := input)", ["assignment expression"]),
    ("input * True", ["only numeric constants", "True"]),
    ("input + 'x'", ["only numeric constants", "'x'"]),
    ("input +", ["invalid syntax"]),
    ("input; a", ["invalid syntax"]),
    ("   ", ["is empty"]),
    ("input + 1/0", ["cannot be evaluated", "division by zero"]),
    ("input * 10 ** 1000", ["cannot be evaluated"]),
    ("input + (-8) ** 0.5", ["not a real number"]),
    ("input + v2", ["shapes (3, 4) and (5,) do not broadcast", "'input + v2'"]),
    ("v2 * 2", ["result of 'v2 * 2' has shape (5,)", "output 'out' has shape (3, 4)"]),
    ("input @ a", ["'@' operand shapes (3, 4) and (3, 4) do not align"]),
    ("input @ 2", ["operands of '@' must be arrays"]),
    ("1.5", ["is a constant"]),
    ("(" * 300 + "input" + ")" * 300, ["operation"]),
    (" + ".join(["input"] * 300), ["more than 256 terms"]),
]


@pytest.mark.parametrize(
    "expression,fragments", REJECTED, ids=[r[0][:40] for r in REJECTED]
)
def test_rejected_expressions_point_at_the_problem(expression, fragments):
    out_dtype = "int32" if expression == "input / 2" else "float64"
    config, sm = op_kernel(
        expression, out_dtype=out_dtype, a=(SHAPE, "float64"), v2=((5,), "float64")
    )
    if expression == "input / 2":
        sm["in"] = spec("in", SHAPE, "int32")
    message = expect_error(config, sm, "operation", *fragments)
    assert message.startswith("kernel 'stage': operation: "), message


def test_int32_output_of_division_is_rejected_at_validation():
    sm = specs(spec("in", (4,), "int32"), spec("out", (4,), "int32"))
    expect_error(
        kconf("cpu.custom_operation", operation="input / 2"),
        sm,
        "result of 'input / 2' has dtype float64",
        "int32",
    )


def test_non_string_operation_missing_operation_and_parameters():
    sm = specs(spec("in", (4,)), spec("out", (4,)))
    expect_error(
        kconf("cpu.custom_operation", operation=3), sm, "operation", "expression string"
    )
    expect_error(kconf("cpu.custom_operation"), sm, "operation", "required")
    expect_error(
        kconf("cpu.custom_operation", params={"operation": "input"}),
        sm,
        "parameters.operation",
        "top-level 'operation'",
    )
    expect_error(
        kconf("cpu.custom_operation", operation="input", gain=2),
        sm,
        "parameters.gain",
        "no parameters",
    )


def test_alias_input_is_reserved():
    sm = specs(spec("in", (4,)), spec("x", (4,)), spec("out", (4,)))
    expect_error(
        kconf("cpu.custom_operation", aux={"input": "x"}, operation="input"),
        sm,
        "auxiliary.input",
        "reserved",
    )


def test_unknown_names_are_rejected_even_when_unused_aliases_exist():
    sm = specs(spec("in", (4,)), spec("x", (4,)), spec("out", (4,)))
    config = kconf("cpu.custom_operation", aux={"x": "x"}, operation="input + y")
    expect_error(config, sm, "unknown name 'y'")
    # unused auxiliaries are fine
    kernel = create(
        kconf("cpu.custom_operation", aux={"x": "x"}, operation="input + 1"), sm
    )
    np.testing.assert_array_equal(
        run(kernel, np.zeros(4), {"x": np.ones(4)}), np.ones(4)
    )


# --- property: random expression trees == direct NumPy evaluation -------------------

DTYPES = ["float64", "float32", "int32", "int16"]
BINARY = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
COMPARE = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
UNARY_FUNCS = {"abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log}
PY_BINARY = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
}


def leaf_strategy():
    return st.one_of(
        st.sampled_from([("var", "input"), ("var", "a"), ("var", "b")]),
        st.sampled_from([0.5, 2, -1.5, 3, 1e-3]).map(lambda v: ("const", v)),
    )


def extend(children):
    return st.one_of(
        st.tuples(st.just("bin"), st.sampled_from(sorted(BINARY)), children, children),
        st.tuples(st.just("cmp"), st.sampled_from(sorted(COMPARE)), children, children),
        st.tuples(st.just("pow"), children, st.sampled_from([2, 3, 0.5, 2.0])),
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("fn1"), st.sampled_from(sorted(UNARY_FUNCS)), children),
        st.tuples(
            st.just("fn2"),
            st.sampled_from(["minimum", "maximum", "min", "max"]),
            children,
            children,
        ),
        st.tuples(
            st.just("min3"),
            st.sampled_from(["min", "max"]),
            children,
            children,
            children,
        ),
        st.tuples(st.just("clip"), children, children, children),
        st.tuples(st.just("where"), children, children, children),
    )


TREES = st.recursive(leaf_strategy(), extend, max_leaves=7)


def text(tree) -> str:
    kind = tree[0]
    if kind == "var":
        return tree[1]
    if kind == "const":
        return f"({tree[1]!r})" if tree[1] < 0 else repr(tree[1])
    if kind in ("bin", "cmp"):
        return f"({text(tree[2])} {tree[1]} {text(tree[3])})"
    if kind == "pow":
        return f"({text(tree[1])} ** {tree[2]!r})"
    if kind == "neg":
        return f"(-{text(tree[1])})"
    if kind == "fn1":
        return f"{tree[1]}({text(tree[2])})"
    if kind == "fn2":
        return f"{tree[1]}({text(tree[2])}, {text(tree[3])})"
    if kind == "min3":
        return f"{tree[1]}({text(tree[2])}, {text(tree[3])}, {text(tree[4])})"
    return f"{kind}({text(tree[1])}, {text(tree[2])}, {text(tree[3])})"


def is_const(value) -> bool:
    return isinstance(value, (int, float, complex, bool))


def reference(tree, env):
    """Direct evaluation: NumPy ufuncs on arrays, Python scalars stay weak;
    literal-only sub-expressions fold with Python operators (the language's
    documented rule) or NumPy for functions."""
    kind = tree[0]
    if kind == "var":
        return env[tree[1]]
    if kind == "const":
        return tree[1]
    if kind == "min3":  # min(a, b, c) == min(min(a, b), c)
        name = tree[1]
        return reference(("fn2", name, ("fn2", name, tree[2], tree[3]), tree[4]), env)
    if kind == "pow":
        base = reference(tree[1], env)
        if not is_const(base):
            return np.power(base, tree[2])
        if isinstance(base ** tree[2], complex):
            raise ValueError("literal power is not real")
        return base ** tree[2]
    if kind == "neg":
        value = reference(tree[1], env)
        return -value if is_const(value) else np.negative(value)
    if kind == "bin":
        a, b = reference(tree[2], env), reference(tree[3], env)
        if is_const(a) and is_const(b):
            return PY_BINARY[tree[1]](a, b)
        return BINARY[tree[1]](a, b)
    args = [reference(t, env) for t in tree[1:] if isinstance(t, tuple)]
    if all(is_const(a) for a in args):
        # literal-only calls fold at validation, where a NaN/overflow is an error
        with np.errstate(all="raise"):
            return np.asarray(_apply(tree, args)).item()
    return _apply(tree, args)


def _apply(tree, args):
    kind = tree[0]
    if kind == "cmp":
        result = COMPARE[tree[1]](*args)
    elif kind == "fn1":
        result = UNARY_FUNCS[tree[1]](*args)
    elif kind in ("fn2", "min3"):
        func = np.minimum if tree[1].startswith("min") else np.maximum
        result = args[0]
        for arg in args[1:]:
            result = func(result, arg)
    elif kind == "clip":
        result = np.minimum(np.maximum(args[0], args[1]), args[2])
    else:
        result = np.where(*args)
    return result


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=TREES,
    dtypes=st.tuples(*(st.sampled_from(DTYPES) for _ in range(3))),
    seed=st.integers(0, 2**16),
)
def test_random_expressions_equal_direct_numpy(tree, dtypes, seed):
    rng = np.random.default_rng(seed)
    shapes = {"input": SHAPE, "a": SHAPE, "b": (4,)}
    env = {}
    for (name, shape), dtype in zip(shapes.items(), dtypes, strict=True):
        values = rng.normal(0, 3, shape)
        env[name] = (
            values.astype(dtype)
            if dtype.startswith("float")
            else np.round(values).astype(dtype)
        )
    expression = text(tree)
    try:
        with np.errstate(all="ignore"):
            expected = reference(tree, env)
    except (ArithmeticError, TypeError, ValueError):
        expected = None
    assume(expected is None or not is_const(expected))
    out_shape = SHAPE if expected is None else np.shape(expected)
    out_dtype = "float64" if expected is None else np.asarray(expected).dtype
    streams = [
        spec("in", SHAPE, dtypes[0]),
        spec("a", SHAPE, dtypes[1]),
        spec("b", (4,), dtypes[2]),
        spec("out", out_shape, out_dtype),
    ]
    config = kconf(
        "cpu.custom_operation", aux={"a": "a", "b": "b"}, operation=expression
    )
    registry = get_default_registry()
    if expected is None:
        with pytest.raises(ConfigValidationError, match="kernel 'stage': operation: "):
            registry.validate(config, specs(*streams))
        return
    kernel = registry.create(config, specs(*streams))
    out = np.empty(out_shape, out_dtype)
    with np.errstate(all="ignore"):
        kernel.compute_into(env["input"], out, {"a": env["a"], "b": env["b"]})
    np.testing.assert_array_equal(out, expected, err_msg=expression)
