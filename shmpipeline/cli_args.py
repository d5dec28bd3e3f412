"""argparse ``type`` callables of the ``shmpipeline`` CLI options: each turns
one option value into a checked value or a one-line usage error."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from typing import TypeVar

from .errors import ConfigValidationError

__all__ = [
    "MAX_FRAMES",
    "count_arg",
    "non_negative_float",
    "positive_float",
    "synthetic_arg",
]


#: Upper bound of ``--frames`` / ``--warmup``: beyond it a benchmark would
#: run for days and its sample buffers would not fit in memory.
MAX_FRAMES = 10**9

_T = TypeVar("_T")


def synthetic_arg(text: str):
    """argparse ``type`` for ``--synthetic`` (a bad spec is a usage error)."""
    from .synthetic import parse_synthetic_shorthand

    try:
        return parse_synthetic_shorthand(text)
    except ConfigValidationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _converted(text: str, convert: Callable[[str], _T], expected: str) -> _T:
    """``convert(text)``, or a usage error saying what was ``expected``."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None


def positive_float(text: str) -> float:
    value = _converted(text, float, "a number of seconds")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = _converted(text, float, "a number")
    if not math.isfinite(value) or value < 0 or value > MAX_FRAMES:
        raise argparse.ArgumentTypeError(
            f"must be a number from 0 to {MAX_FRAMES}, got {text!r}"
        )
    return value


def count_arg(minimum: int, maximum: int = MAX_FRAMES):
    def parse(text: str) -> int:
        value = _converted(text, int, "an integer")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse
