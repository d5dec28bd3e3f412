"""The validation toolkit shared by every document parser.

Config, graph and scenario parsing all collect *problems* (a message and the
location of the offending value in the raw data) instead of raising at the
first one, render user values with a bounded ``repr`` (a hostile document can
hold anything: huge strings, deep nesting, aliases expanding to billions of
items) and suggest the closest known word for a typo. Those pieces live here,
once.
"""

from __future__ import annotations

import difflib
import numbers
import reprlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "Loc",
    "Problem",
    "Problems",
    "show",
    "did_you_mean",
    "is_int",
    "is_real",
]

#: longest rendering of a user value in a message
MAX_SHOWN_CHARS = 300

#: a path into raw document data: mapping keys and sequence indices
Loc = tuple[Any, ...]


class _BoundedRepr(reprlib.Repr):
    """``repr`` bounded in length, depth and item count.

    ``reprlib`` dispatches on the type's *name*, so subclasses of ``dict`` and
    ``list`` (such as the line-tracking YAML containers) would fall back to the
    built-in, unbounded ``repr``; they are routed to the bounded container
    renderers here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxstring = 60
        self.maxother = 60
        self.maxlevel = 3
        self.maxlist = self.maxtuple = self.maxdict = self.maxset = 6
        self.maxfrozenset = self.maxdeque = self.maxarray = 6

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, bool) or x is None:
            return repr(x)
        if isinstance(x, dict):
            return self.repr_dict(x, level)
        if isinstance(x, list):
            return self.repr_list(x, level)
        if isinstance(x, tuple):
            return self.repr_tuple(x, level)
        if isinstance(x, str):
            return self.repr_str(str(x), level)
        if isinstance(x, int):
            return self.repr_int(int(x), level)
        if isinstance(x, np.ndarray):
            return f"<array shape={x.shape} dtype={x.dtype}>"
        return super().repr1(x, level)

    def repr_dict(self, x: Any, level: int) -> str:
        # reprlib sorts every key first; take the first items as they come
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = []
        for count, (key, value) in enumerate(x.items()):
            if count >= self.maxdict:
                items.append("...")
                break
            items.append(f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}")
        return "{" + ", ".join(items) + "}"

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 128:
            return f"<{x.bit_length()}-bit integer>"
        return super().repr_int(x, level)


_bounded = _BoundedRepr()


def show(value: Any) -> str:
    """A short, safe description of an arbitrary user value (never raises)."""
    try:
        text = _bounded.repr(value)
    except Exception:  # a hostile __repr__ must not escape validation
        return f"<{type(value).__name__} object>"
    if len(text) > MAX_SHOWN_CHARS:
        text = text[: MAX_SHOWN_CHARS - 3] + "..."
    return text


def close_matches(
    word: Any, candidates: Iterable[str], *, n: int = 3, cutoff: float = 0.6
) -> list[str]:
    """Up to ``n`` candidates close to ``word`` (empty for a non-string or an
    absurdly long word, so a hostile value costs nothing): the one place the
    package asks difflib for suggestions."""
    if not isinstance(word, str) or len(word) > 200:
        return []
    return difflib.get_close_matches(word, list(candidates), n=n, cutoff=cutoff)


def did_you_mean(word: Any, candidates: Iterable[str], *, n: int = 3) -> str:
    """`` (did you mean 'x'?)`` for the closest candidates, else ``""``."""
    close = close_matches(word, candidates, n=n)
    return f" (did you mean {', '.join(map(repr, close))}?)" if close else ""


def is_int(value: Any) -> bool:
    """An integral number that is not a boolean."""
    return isinstance(value, numbers.Integral) and not isinstance(
        value, (bool, np.bool_)
    )


def is_real(value: Any) -> bool:
    """A real number that is not a boolean."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class Problem:
    """One validation problem: the message and where in the raw data it is."""

    message: str
    loc: Loc


class Problems:
    """Collects problems so that every one of them can be reported."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, where: str, field_name: str | None, problem: str, loc: Loc) -> None:
        """Record ``where: field: problem`` at ``loc`` (empty parts left out)."""
        parts = [part for part in (where, field_name) if part]
        self.items.append(Problem(": ".join([*parts, problem]), loc))

    def __len__(self) -> int:
        return len(self.items)
