"""Whitelisted expression language of ``custom_operation`` kernels.

The expression (e.g. ``clip(gain * input - offset, -1, 1)``) is parsed with
:mod:`ast` and checked node by node against a whitelist; it is never passed to
``eval``/``exec``/``compile``. The result is a small typed tree (:class:`Const`,
:class:`Var`, :class:`Op`) whose every node carries the shape and dtype NumPy
will produce, so that shape and dtype errors surface at validation, and so that
each backend (NumPy plan in ``kernels/cpu/custom_operation.py``, torch twin on
the GPU) can compile the same tree into preallocated calls.

Language:

- names: ``input`` and the auxiliary aliases;
- numeric literals (int, float, complex; not booleans or strings);
- ``a + b``, ``a - b``, ``a * b``, ``a / b`` (true division), ``a ** b``,
  ``a @ b`` (matmul), ``-a``, ``+a``;
- comparisons ``< <= > >= == !=`` (one operator per comparison; result bool);
- functions ``abs(x)``, ``sqrt(x)``, ``exp(x)``, ``log(x)``,
  ``minimum(a, b)``, ``maximum(a, b)``, ``min(a, b, ...)``, ``max(a, b, ...)``
  (elementwise; more than two arguments chain), ``clip(x, lo, hi)`` (defined as
  ``minimum(maximum(x, lo), hi)``), ``where(cond, a, b)`` (``cond`` nonzero).

Semantics follow NumPy (broadcasting, ufunc type promotion, literals are "weak"
Python scalars per NEP 50, so ``input * 0.5`` keeps a float32 input float32).
Sub-expressions made only of literals are folded once at compile time, with
Python arithmetic for operators and NumPy for functions, and stay weak
scalars; a folding failure (``1/0``) is a validation error. A constant
exponent larger in magnitude than :data:`MAX_CONSTANT_EXPONENT` (``input **
10**10``) is refused at validation: past it every float64 base outside
(0.5, 2) overflows or underflows. A data-dependent overflow at run time
gives ``inf`` as in NumPy (the hot path sets no error state per frame).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline._problems import close_matches
from shmpipeline.errors import ConfigValidationError

Number = int | float | complex

#: functions callable from an expression -> (op name, min args, max args)
FUNCTIONS: dict[str, tuple[str, int, int | None]] = {
    "abs": ("absolute", 1, 1),
    "sqrt": ("sqrt", 1, 1),
    "exp": ("exp", 1, 1),
    "log": ("log", 1, 1),
    "minimum": ("minimum", 2, 2),
    "maximum": ("maximum", 2, 2),
    "min": ("minimum", 2, None),
    "max": ("maximum", 2, None),
    "clip": ("clip", 3, 3),
    "where": ("where", 3, 3),
}

_BINARY = {
    ast.Add: ("add", "+"),
    ast.Sub: ("subtract", "-"),
    ast.Mult: ("multiply", "*"),
    ast.Div: ("divide", "/"),
    ast.Pow: ("power", "**"),
    ast.MatMult: ("matmul", "@"),
}
_UNARY = {ast.USub: ("negative", "-"), ast.UAdd: ("positive", "+")}
_COMPARE = {
    ast.Lt: "less",
    ast.LtE: "less_equal",
    ast.Gt: "greater",
    ast.GtE: "greater_equal",
    ast.Eq: "equal",
    ast.NotEq: "not_equal",
}
_OPERATOR_TEXT = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Not: "not",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
#: ops computed by one elementwise ufunc call (may write in place)
ELEMENTWISE_UFUNCS = frozenset(
    {
        "add",
        "subtract",
        "multiply",
        "divide",
        "power",
        "negative",
        "positive",
        "absolute",
        "sqrt",
        "exp",
        "log",
        "minimum",
        "maximum",
        *_COMPARE.values(),
    }
)
MAX_NODES = 256
_MAX_POWER_BITS = 256
#: Largest magnitude of a constant exponent applied to a stream operand.
MAX_CONSTANT_EXPONENT = 1024


@dataclass(frozen=True)
class Const:
    """A literal (or folded literal sub-expression): a weak Python scalar."""

    value: Number
    source: str = ""
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class Var:
    """A stream operand: ``input`` or an auxiliary alias."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    source: str = ""


@dataclass(frozen=True)
class Op:
    """One operation; ``op`` names the NumPy function (``add``, ``clip``...)."""

    op: str
    args: tuple[Node, ...]
    shape: tuple[int, ...]
    dtype: np.dtype
    source: str = ""


Node = Const | Var | Op


def parse_expression(
    expression: Any,
    variables: Mapping[str, tuple[tuple[int, ...], Any]],
    *,
    kernel: str,
) -> Node:
    """Parse and type-check ``expression`` over ``variables`` (name ->
    (shape, dtype)). Raises ``ConfigValidationError`` naming ``kernel`` and
    the offending token."""
    return _Parser(expression, variables, kernel).parse()


def check_result(
    node: Node,
    expression: str,
    *,
    kernel: str,
    output_name: str,
    shape: tuple[int, ...],
    dtype: Any,
) -> None:
    """Require the expression's result to have the output's shape and dtype."""
    dtype = np.dtype(dtype)
    prefix = f"kernel {kernel!r}: operation"
    if isinstance(node, Const):
        if tuple(shape) != ():
            raise ConfigValidationError(
                f"{prefix}: {expression!r} is a constant (shape ()), but output "
                f"{output_name!r} has shape {tuple(shape)}"
            )
        try:
            ok = np.result_type(dtype, node.value) == dtype
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ConfigValidationError(
                f"{prefix}: constant {node.value!r} does not fit output "
                f"{output_name!r} of dtype {dtype.name}"
            )
        return
    if tuple(node.shape) != tuple(shape):
        raise ConfigValidationError(
            f"{prefix}: result of {expression!r} has shape {tuple(node.shape)}, "
            f"but output {output_name!r} has shape {tuple(shape)}"
        )
    if np.dtype(node.dtype) != dtype:
        raise ConfigValidationError(
            f"{prefix}: result of {expression!r} has dtype {np.dtype(node.dtype).name}, "
            f"but output {output_name!r} has dtype {dtype.name}"
        )


def walk(node: Node):
    """Yield every node of the tree, children before parents."""
    if isinstance(node, Op):
        for arg in node.args:
            yield from walk(arg)
    yield node


# --- parser ------------------------------------------------------------------


class _Parser:
    def __init__(self, expression: Any, variables: Mapping[str, Any], kernel: str):
        self.expression = expression
        self.kernel = kernel
        self.variables = {
            name: (tuple(int(n) for n in shape), np.dtype(dtype))
            for name, (shape, dtype) in variables.items()
        }
        self.count = 0

    # errors -----------------------------------------------------------------

    def fail(
        self, problem: str, node: ast.AST | None = None, hint: str = ""
    ) -> ConfigValidationError:
        where = ""
        if node is not None and getattr(node, "col_offset", None) is not None:
            segment = ast.get_source_segment(self.expression, node) or ""
            where = f" at column {node.col_offset + 1}"
            if segment and segment != self.expression:
                where += f" ({_shorten(segment)!r})"
        tail = f"; {hint}" if hint else ""
        return ConfigValidationError(
            f"kernel {self.kernel!r}: operation: {problem}{where} "
            f"in {_shorten(self.expression)!r}{tail}"
        )

    def segment(self, node: ast.AST) -> str:
        return ast.get_source_segment(self.expression, node) or ""

    # entry --------------------------------------------------------------------

    def parse(self) -> Node:
        if not isinstance(self.expression, str):
            raise ConfigValidationError(
                f"kernel {self.kernel!r}: operation: must be an expression string, "
                f"got {self.expression!r}"
            )
        if not self.expression.strip():
            raise ConfigValidationError(f"kernel {self.kernel!r}: operation: is empty")
        try:
            tree = ast.parse(self.expression.strip(), mode="eval")
        except SyntaxError as exc:
            column = f" at column {exc.offset}" if exc.offset else ""
            detail = "" if exc.msg == "invalid syntax" else f": {exc.msg}"
            raise ConfigValidationError(
                f"kernel {self.kernel!r}: operation: invalid syntax{column} "
                f"in {_shorten(self.expression)!r}{detail}"
            ) from None
        except (ValueError, RecursionError, MemoryError) as exc:
            raise ConfigValidationError(
                f"kernel {self.kernel!r}: operation: cannot parse "
                f"{_shorten(self.expression)!r}: "
                f"{type(exc).__name__}"
            ) from None
        self.expression = self.expression.strip()
        try:
            return self.visit(tree.body)
        except RecursionError:
            raise ConfigValidationError(
                f"kernel {self.kernel!r}: operation: expression is nested too deeply"
            ) from None

    def visit(self, node: ast.AST) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(f"expression has more than {MAX_NODES} terms")
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.BinOp):
            return self.binary(node)
        if isinstance(node, ast.UnaryOp):
            return self.unary(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        raise self.fail(f"{_describe_node(node)} is not allowed", node)

    def constant(self, node: ast.Constant) -> Const:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float, complex)):
            raise self.fail(f"only numeric constants are allowed, got {value!r}", node)
        return Const(value, self.segment(node))

    def name(self, node: ast.Name) -> Var:
        if node.id not in self.variables:
            known = ", ".join(sorted(self.variables))
            close = _closest(node.id, self.variables)
            hint = f"known names: {known}"
            if close:
                hint += f"; did you mean {close!r}?"
            if node.id in FUNCTIONS:
                hint = f"{node.id!r} is a function, call it as {node.id}(...)"
            raise self.fail(f"unknown name {node.id!r}", node, hint)
        shape, dtype = self.variables[node.id]
        return Var(node.id, shape, dtype, node.id)

    def binary(self, node: ast.BinOp) -> Node:
        entry = _BINARY.get(type(node.op))
        if entry is None:
            text = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            raise self.fail(f"operator {text!r} is not allowed", node)
        op, _ = entry
        return self.make(op, (self.visit(node.left), self.visit(node.right)), node)

    def unary(self, node: ast.UnaryOp) -> Node:
        entry = _UNARY.get(type(node.op))
        if entry is None:
            text = _OPERATOR_TEXT.get(type(node.op), type(node.op).__name__)
            raise self.fail(f"operator {text!r} is not allowed", node)
        return self.make(entry[0], (self.visit(node.operand),), node)

    def compare(self, node: ast.Compare) -> Node:
        if len(node.ops) != 1:
            raise self.fail(
                "chained comparisons are not allowed",
                node,
                "write one comparison per pair of operands",
            )
        op = _COMPARE.get(type(node.ops[0]))
        if op is None:
            text = _OPERATOR_TEXT.get(type(node.ops[0]), type(node.ops[0]).__name__)
            raise self.fail(f"comparison {text!r} is not allowed", node)
        return self.make(
            op, (self.visit(node.left), self.visit(node.comparators[0])), node
        )

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail(
                f"{_describe_node(node.func)} is not allowed",
                node.func,
                f"only direct calls of {', '.join(sorted(FUNCTIONS))} are",
            )
        name = node.func.id
        entry = FUNCTIONS.get(name)
        if entry is None:
            close = _closest(name, FUNCTIONS)
            hint = f"allowed functions: {', '.join(sorted(FUNCTIONS))}"
            if close:
                hint += f"; did you mean {close!r}?"
            raise self.fail(f"unknown function {name!r}", node.func, hint)
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments", node)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("argument unpacking is not allowed", arg)
        op, low, high = entry
        count = len(node.args)
        if count < low or (high is not None and count > high):
            if high is None:
                expected = f"at least {low}"
            elif low == high:
                expected = f"exactly {low}"
            else:
                expected = f"{low} to {high}"
            noun = "argument" if low == 1 and high == 1 else "arguments"
            raise self.fail(f"{name}() takes {expected} {noun}, got {count}", node)
        args = [self.visit(arg) for arg in node.args]
        if op in ("minimum", "maximum") and len(args) > 2:
            result = self.make(op, (args[0], args[1]), node)
            for arg in args[2:]:
                result = self.make(op, (result, arg), node)
            return result
        return self.make(op, tuple(args), node)

    # typing -------------------------------------------------------------------

    def make(self, op: str, args: tuple[Node, ...], node: ast.AST) -> Node:
        source = self.segment(node)
        if all(isinstance(a, Const) for a in args):
            return Const(self.fold(op, [a.value for a in args], node), source)
        if op == "power" and isinstance(args[1], Const):
            self.check_exponent(args[1].value, node)
        shape = self.result_shape(op, args, node)
        dtype = self.result_dtype(op, args, node)
        return Op(op, args, shape, dtype, source)

    def check_exponent(self, exponent: Number, node: ast.AST) -> None:
        if abs(exponent) > MAX_CONSTANT_EXPONENT:
            shown = _shorten(repr(exponent), 40)
            raise self.fail(
                f"constant exponent {shown} is too large",
                node,
                f"its magnitude must be at most {MAX_CONSTANT_EXPONENT} (past it "
                "every float64 base outside (0.5, 2) overflows or underflows)",
            )

    def result_shape(
        self, op: str, args: tuple[Node, ...], node: ast.AST
    ) -> tuple[int, ...]:
        shapes = [a.shape for a in args]
        if op == "matmul":
            return self.matmul_shape(args, node)
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            listed = " and ".join(str(tuple(s)) for s in shapes)
            raise self.fail(f"shapes {listed} do not broadcast", node) from None

    def matmul_shape(self, args: tuple[Node, ...], node: ast.AST) -> tuple[int, ...]:
        left, right = args
        for side in (left, right):
            if isinstance(side, Const) or len(side.shape) == 0:
                raise self.fail(
                    "operands of '@' must be arrays of at least 1 dimension", node
                )
        a = tuple(left.shape)
        b = tuple(right.shape)
        a2 = a if len(a) >= 2 else (1, *a)
        b2 = b if len(b) >= 2 else (*b, 1)
        if a2[-1] != b2[-2]:
            raise self.fail(f"'@' operand shapes {a} and {b} do not align", node)
        try:
            batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
        except ValueError:
            raise self.fail(
                f"'@' operand shapes {a} and {b} do not broadcast", node
            ) from None
        shape = [*batch, a2[-2], b2[-1]]
        if len(b) == 1:
            shape.pop(-1)
        if len(a) == 1:
            shape.pop(-2 if len(b) != 1 else -1)
        return tuple(shape)

    def result_dtype(self, op: str, args: tuple[Node, ...], node: ast.AST) -> np.dtype:
        def probe(arg: Node) -> Any:
            if isinstance(arg, Const):
                return arg.value
            ndim = 2 if op == "matmul" else 1
            return np.ones((1,) * ndim, dtype=arg.dtype)

        probes = [probe(a) for a in args]
        try:
            with np.errstate(all="ignore"):
                result = evaluate_numpy(op, probes)
        except Exception as exc:  # numpy reports type problems in many classes
            types = ", ".join(
                np.dtype(a.dtype).name if not isinstance(a, Const) else repr(a.value)
                for a in args
            )
            raise self.fail(
                f"{_OP_TEXT.get(op, op)} is not defined for ({types}): {exc}", node
            ) from None
        return np.asarray(result).dtype

    def fold(self, op: str, values: list[Number], node: ast.AST) -> Number:
        try:
            result = _fold(op, values)
        except (ArithmeticError, ValueError, TypeError) as exc:
            raise self.fail(
                f"constant expression cannot be evaluated: {exc}", node
            ) from None
        if isinstance(result, complex) and not any(
            isinstance(v, complex) for v in values
        ):
            raise self.fail("constant expression is not a real number", node)
        return result


_OP_TEXT = {
    "add": "'+'",
    "subtract": "'-'",
    "multiply": "'*'",
    "divide": "'/'",
    "power": "'**'",
    "matmul": "'@'",
    "negative": "unary '-'",
    "positive": "unary '+'",
    "absolute": "abs()",
}


def evaluate_numpy(op: str, args: list[Any]) -> Any:
    """Apply ``op`` with NumPy, allocating (reference semantics of the language)."""
    if op == "clip":
        return np.minimum(np.maximum(args[0], args[1]), args[2])
    if op == "where":
        return np.where(args[0], args[1], args[2])
    return getattr(np, op)(*args)


def _fold(op: str, values: list[Number]) -> Number:
    if op == "add":
        return values[0] + values[1]
    if op == "subtract":
        return values[0] - values[1]
    if op == "multiply":
        return values[0] * values[1]
    if op == "divide":
        return values[0] / values[1]
    if op == "power":
        base, exponent = values
        if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
            if exponent * math.log2(abs(base)) > _MAX_POWER_BITS:
                raise OverflowError("integer result too large")
        return base**exponent
    if op == "negative":
        return -values[0]
    if op == "positive":
        return +values[0]
    with np.errstate(all="raise"):
        result = evaluate_numpy(op, values)
    return np.asarray(result).item()


def _describe_node(node: ast.AST) -> str:
    names = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscript",
        ast.Lambda: "lambda",
        ast.IfExp: "conditional expression",
        ast.BoolOp: "'and'/'or'",
        ast.List: "list",
        ast.Tuple: "tuple",
        ast.Dict: "dict",
        ast.Set: "set",
        ast.ListComp: "comprehension",
        ast.SetComp: "comprehension",
        ast.DictComp: "comprehension",
        ast.GeneratorExp: "generator expression",
        ast.JoinedStr: "f-string",
        ast.NamedExpr: "assignment expression",
        ast.Starred: "argument unpacking",
        ast.Slice: "slice",
        ast.Await: "await",
        ast.Yield: "yield",
        ast.YieldFrom: "yield",
        ast.Call: "calling the result of an expression",
    }
    return names.get(type(node), type(node).__name__)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _closest(word: str, candidates: Any) -> str | None:
    match = close_matches(word, candidates, n=1)
    return match[0] if match else None


__all__ = [
    "ELEMENTWISE_UFUNCS",
    "FUNCTIONS",
    "MAX_CONSTANT_EXPONENT",
    "Const",
    "Node",
    "Op",
    "Var",
    "check_result",
    "evaluate_numpy",
    "parse_expression",
    "walk",
]
