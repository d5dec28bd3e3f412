"""Scenario matrices: one scenario document per combination of values.

A ``matrix`` maps dotted paths into the scenario to the values they take::

    matrix:
      inputs.camera.read_noise: [1.0, 2.0]

Each combination is a variant with an id (``read_noise=1.0``) naming its
test item (``name[read_noise=1.0]``) and its golden file
(``<name>.read_noise=1.0.golden.npz``, :func:`variant_file`).
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Mapping
from typing import Any

from shmpipeline._problems import show
from shmpipeline.errors import ScenarioError
from shmpipeline.testing.canonical import canonical

__all__ = ["MAX_MATRIX_COMBINATIONS", "expand_matrix", "variant_file"]

#: Most combinations one ``matrix`` may expand into.
MAX_MATRIX_COMBINATIONS = 256


def expand_matrix(raw: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(variant id, scenario mapping)`` per combination of ``raw['matrix']``.

    ``matrix`` maps a dotted path into the scenario (``inputs.wfs.atmosphere.r0``;
    integers index lists) to the list of values it takes; the combinations
    are the cartesian product, in the order given. An id reads
    ``r0=0.1,gain=0.4`` (the last path component, or the whole path where
    two would read alike). Raises :class:`ScenarioError` naming the entry.
    """
    matrix = raw.get("matrix")
    if not isinstance(matrix, Mapping) or not matrix:
        raise ScenarioError(
            "matrix: must map dotted paths (e.g. inputs.wfs.synthetic.amplitude) "
            "to lists of values"
        )
    axes: list[tuple[str, tuple[Any, ...]]] = []
    count = 1
    for key, values in matrix.items():
        if (
            not isinstance(key, str)
            or not key.strip()
            or key.split(".")[0]
            in (
                "matrix",
                "name",
            )
        ):
            raise ScenarioError(
                f"matrix: {show(key)}: must be a dotted path to a field "
                "other than name and matrix"
            )
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"matrix.{key}: must be a non-empty list of values")
        axes.append((key.strip(), tuple(values)))
        count *= len(values)
        if count > MAX_MATRIX_COMBINATIONS:
            raise ScenarioError(
                f"matrix: more than {MAX_MATRIX_COMBINATIONS} combinations"
            )
    labels = _axis_labels([key for key, _ in axes])
    base = {k: v for k, v in raw.items() if k != "matrix"}
    expanded: list[tuple[str, dict[str, Any]]] = []
    for combination in itertools.product(*(values for _, values in axes)):
        variant_raw: Any = base
        parts = []
        for (key, _), label, value in zip(axes, labels, combination, strict=True):
            variant_raw = _set_path(variant_raw, key, value)
            parts.append(f"{label}={_show_value(value)}")
        expanded.append((",".join(parts), variant_raw))
    ids = [variant for variant, _ in expanded]
    if len(set(ids)) != len(ids):
        raise ScenarioError("matrix: two combinations read alike; use distinct values")
    return expanded


def variant_file(name: str, variant: str) -> str:
    """``x.golden.npz`` -> ``x.r0=0.1.golden.npz`` for a matrix combination."""
    if not variant:
        return name
    tag = re.sub(r"[^A-Za-z0-9_.=\-]+", "_", variant.replace(",", "-"))
    for suffix in (".golden.npz", ".npz"):
        if name.endswith(suffix):
            return f"{name[: -len(suffix)]}.{tag}{suffix}"
    return f"{name}.{tag}"


def _axis_labels(keys: list[str]) -> list[str]:
    short = [
        next((p for p in reversed(k.split(".")) if not p.isdigit()), k) for k in keys
    ]
    return [s if short.count(s) == 1 else k for s, k in zip(short, keys, strict=True)]


def _show_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(canonical(value), separators=(",", ":"))


def _set_path(node: Any, dotted: str, value: Any) -> Any:
    """A copy of ``node`` with the element at ``dotted`` set (copies only the
    containers along the path, keeping their line information)."""
    head, _, rest = dotted.partition(".")
    if isinstance(node, Mapping):
        copied = copy.copy(node)
        if not rest:
            copied[head] = value
            return copied
        if head not in node:
            raise ScenarioError(f"matrix.{dotted}: no field {head!r} to set")
        copied[head] = _set_path(node[head], rest, value)
        return copied
    if isinstance(node, list) and head.isdigit() and int(head) < len(node):
        copied = copy.copy(node)
        index = int(head)
        copied[index] = value if not rest else _set_path(node[index], rest, value)
        return copied
    raise ScenarioError(f"matrix: cannot set {dotted!r} (no such field or index)")
