"""custom_operation expressions: whitelisted expression trees, their text
and their NumPy reference value."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

__all__ = ["evaluate_expression", "expression_trees", "render_expression"]

# --- custom_operation: generated whitelisted expressions ----------------------------

# Trees: ("var", name) | ("const", value) | ("unary", op, x) | ("call", f, args)
#        | ("bin", op, left, right) | ("cmp", op, left, right)
# Every generated tree contains a variable and no sub-expression made only of
# literals (so nothing is constant-folded), and literals are chosen so every
# dtype takes them (no negative ints: NumPy refuses -1 for a uint8 operand).
_INT_CONSTS = (1, 2, 3)
_FLOAT_CONSTS = (0.5, 1.5, 2.0, -0.25, -1.5, 10.0)
_BINARY_OPS = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}
_COMPARE_OPS = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_UNARY_CALLS = {"abs": np.absolute, "sqrt": np.sqrt, "exp": np.exp, "log": np.log}


def _constants() -> st.SearchStrategy[tuple[str, Any]]:
    return st.sampled_from(_INT_CONSTS + _FLOAT_CONSTS).map(lambda v: ("const", v))


def expression_trees(names: Sequence[str], depth: int) -> st.SearchStrategy[Any]:
    """Expression trees over the variables ``names``, at most ``depth`` deep.

    A tree is a tuple: ``("var", name)``, ``("const", value)``,
    ``("unary", "-", x)``, ``("call", function, args)``,
    ``("bin", op, left, right)`` or ``("cmp", op, left, right)``.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(expression_trees(["input"], 1), lambda tree: True)
    ('var', 'input')
    """
    leaf = st.sampled_from(list(names)).map(lambda n: ("var", n))
    if depth <= 0:
        return leaf
    sub = expression_trees(names, depth - 1)
    operand = st.one_of(sub, _constants())
    return st.one_of(
        leaf,
        sub.map(lambda x: ("unary", "-", x)),
        st.tuples(st.sampled_from(sorted(_UNARY_CALLS)), sub).map(
            lambda t: ("call", t[0], (t[1],))
        ),
        st.tuples(st.sampled_from(sorted(_BINARY_OPS)), sub, operand).map(
            lambda t: ("bin", t[0], t[1], t[2])
        ),
        st.tuples(st.sampled_from(("+", "-", "*", "/")), _constants(), sub).map(
            lambda t: ("bin", t[0], t[1], t[2])
        ),
        st.tuples(sub, st.sampled_from((2, 0.5))).map(
            lambda t: ("bin", "**", t[0], ("const", t[1]))
        ),
        st.tuples(st.sampled_from(("minimum", "maximum")), sub, operand).map(
            lambda t: ("call", t[0], (t[1], t[2]))
        ),
        st.tuples(st.sampled_from(("min", "max")), sub, operand, operand).map(
            lambda t: ("call", t[0], (t[1], t[2], t[3]))
        ),
        st.tuples(sub, st.floats(-4, 4), st.floats(0, 4)).map(
            lambda t: (
                "call",
                "clip",
                (t[0], ("const", t[1]), ("const", t[1] + t[2])),
            )
        ),
        st.tuples(
            st.one_of(
                st.tuples(st.sampled_from(sorted(_COMPARE_OPS)), sub, operand).map(
                    lambda t: ("cmp", t[0], t[1], t[2])
                ),
                sub,
            ),
            operand,
            operand,
        ).map(lambda t: ("call", "where", t)),
    )


def render_expression(tree: Any) -> str:
    """The ``operation`` text of a tree (negative literals parenthesised).

    Examples
    --------
    >>> render_expression(("bin", "*", ("var", "input"), ("const", -1.5)))
    '(input * (-1.5))'
    """
    tag = tree[0]
    if tag == "var":
        return tree[1]
    if tag == "const":
        value = tree[1]
        return f"({value!r})" if value < 0 else repr(value)
    if tag == "unary":
        return f"(-{render_expression(tree[2])})"
    if tag == "call":
        return f"{tree[1]}({', '.join(render_expression(arg) for arg in tree[2])})"
    return f"({render_expression(tree[2])} {tree[1]} {render_expression(tree[3])})"


def evaluate_expression(tree: Any, values: Mapping[str, Any]) -> Any:
    """NumPy reference semantics of a tree (literals stay weak scalars).

    Examples
    --------
    >>> tree = ("bin", "+", ("var", "x"), ("const", 1))
    >>> print(evaluate_expression(tree, {"x": 2.0}))
    3.0
    """
    tag = tree[0]
    if tag == "var":
        return values[tree[1]]
    if tag == "const":
        return tree[1]
    if tag == "unary":
        return np.negative(evaluate_expression(tree[2], values))
    if tag == "cmp":
        left, right = (evaluate_expression(t, values) for t in tree[2:])
        return _COMPARE_OPS[tree[1]](left, right)
    if tag == "bin":
        left, right = (evaluate_expression(t, values) for t in tree[2:])
        if tree[1] == "**":
            return np.power(left, right)
        if tree[1] == "@":
            return np.matmul(left, right)
        return _BINARY_OPS[tree[1]](left, right)
    name, args = tree[1], [evaluate_expression(t, values) for t in tree[2]]
    if name in _UNARY_CALLS:
        return _UNARY_CALLS[name](args[0])
    if name in ("minimum", "min"):
        result = np.minimum(args[0], args[1])
        return result if len(args) == 2 else np.minimum(result, args[2])
    if name in ("maximum", "max"):
        result = np.maximum(args[0], args[1])
        return result if len(args) == 2 else np.maximum(result, args[2])
    if name == "clip":
        return np.minimum(np.maximum(args[0], args[1]), args[2])
    return np.where(*args)
