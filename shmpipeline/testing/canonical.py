"""JSON-stable copies of config values, what scenario hashes and matrix
variant ids are made of (the same value always renders the same text)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["canonical"]


def canonical(value: Any) -> Any:
    """A JSON-stable copy of nested config values: mappings sorted by key,
    tuples and arrays as lists, numpy scalars as Python ones, non-finite and
    exotic numbers as their ``repr``."""
    if isinstance(value, Mapping):
        return {
            str(k): canonical(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return canonical(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, numbers.Number) and not isinstance(value, (bool, int, float)):
        return repr(value)
    return value
