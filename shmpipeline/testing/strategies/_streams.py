"""Stream strategies: names, shapes, dtypes and cpu stream specs."""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import SharedMemoryConfig

__all__ = [
    "DEFAULT_DTYPES",
    "FLOAT_DTYPES",
    "RESERVED_NAMES",
    "Limits",
    "as_strategy",
    "shapes",
    "stream_configs",
    "stream_names",
]

#: dtypes streams are drawn from unless a strategy is told otherwise
DEFAULT_DTYPES: tuple[str, ...] = (
    "float32",
    "float64",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
)
#: the floating dtypes a kernel needing floats falls back to
FLOAT_DTYPES: tuple[str, ...] = ("float32", "float64")
#: names an alias or stream must not take (expression functions, reserved)
RESERVED_NAMES = frozenset(
    {
        "input",
        "abs",
        "sqrt",
        "exp",
        "log",
        "min",
        "max",
        "minimum",
        "maximum",
        "clip",
        "where",
    }
)


# --- streams ----------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Size limits shared by the strategies: the dtypes new streams take,
    the most dimensions and the largest side of a new stream's shape."""

    dtypes: tuple[str, ...] = DEFAULT_DTYPES
    max_dims: int = 3
    max_side: int = 8

    def __post_init__(self) -> None:
        if not self.dtypes:
            raise InvalidArgument("dtypes must not be empty")
        for dtype in self.dtypes:
            if np.dtype(dtype).kind not in "iuf":
                raise InvalidArgument(
                    f"dtype {dtype!r}: only integer and floating dtypes are supported"
                )
        if self.max_dims < 1 or self.max_side < 1:
            raise InvalidArgument("max_dims and max_side must be >= 1")

    @property
    def floats(self) -> tuple[str, ...]:
        """The floating dtypes among ``dtypes`` (float32/float64 if none)."""
        found = tuple(d for d in self.dtypes if np.dtype(d).kind == "f")
        return found or FLOAT_DTYPES


def _usable_name(name: str) -> bool:
    return not keyword.iskeyword(name) and name not in RESERVED_NAMES


def stream_names() -> st.SearchStrategy[str]:
    """Stream names that are also usable as expression aliases: lower-case
    Python identifiers, no keywords, not ``input`` or a function name.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(stream_names(), lambda name: len(name) > 2).isidentifier()
    True
    """
    return st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True).filter(_usable_name)


def shapes(
    *, min_dims: int = 1, max_dims: int = 3, max_side: int = 8
) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of ``min_dims``..``max_dims`` sides, each in ``1..max_side``.

    Examples
    --------
    >>> from hypothesis import find
    >>> find(shapes(max_side=4), lambda shape: len(shape) == 2)
    (1, 1)
    """
    return st.lists(st.integers(1, max_side), min_size=min_dims, max_size=max_dims).map(
        tuple
    )


def as_strategy(value: Any) -> st.SearchStrategy[Any]:
    """``value`` itself when it is a strategy, else ``st.just(value)``."""
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def stream_configs(
    *,
    name: str | st.SearchStrategy[str] | None = None,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[SharedMemoryConfig]:
    """Valid cpu :class:`SharedMemoryConfig` values.

    ``name`` and ``shape`` may be fixed values or strategies (default:
    :func:`stream_names`, :func:`shapes` within ``max_dims``/``max_side``);
    the dtype is drawn from ``dtypes``.

    Examples
    --------
    >>> from hypothesis import find
    >>> spec = find(stream_configs(name="frame", dtypes=["uint8"]), lambda s: True)
    >>> spec.name, spec.shape, spec.dtype.name
    ('frame', (1,), 'uint8')
    """
    limits = Limits(tuple(dtypes), max_dims, max_side)
    names = stream_names() if name is None else as_strategy(name)
    sizes = (
        shapes(max_dims=limits.max_dims, max_side=limits.max_side)
        if shape is None
        else as_strategy(shape)
    )
    return st.builds(
        lambda n, s, d: SharedMemoryConfig(n, tuple(s), np.dtype(d)),
        names,
        sizes,
        st.sampled_from(limits.dtypes),
    )
