"""How close a captured float stream must be to its golden: the one model and
the one parser of tolerances, shared by scenario files and the Python API.

A tolerance is ``rtol``/``atol`` (as in :func:`numpy.isclose`) or ``ulp``
(at most that many representable values apart); unset fields fall back to the
per-dtype defaults of :data:`DEFAULT_TOLERANCES`. A *tolerances* value is one
of:

- a single tolerance ``{rtol: .., atol: .., ulp: ..}``: the default of every
  stream;
- the set form ``{default: {...}, streams: {name: {...}}}``, where
  ``rtol``/``atol``/``ulp`` written beside ``streams`` are the default given
  inline. ``default`` and inline keys together are rejected: which one wins
  would be a guess, so the document has to say it once.

Both entry points run the same rules: :func:`parse_tolerances` (scenario
documents: every problem collected with its location) and
:func:`tolerance_for_stream` (``compare_captures(tolerances=...)``: the first
problem raised as :class:`~shmpipeline.errors.ConfigValidationError` naming
the stream and field).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from shmpipeline._problems import Loc, did_you_mean, is_int, is_real, show
from shmpipeline.errors import ConfigValidationError

__all__ = [
    "DEFAULT_TOLERANCES",
    "TOLERANCE_KEYS",
    "Tolerance",
    "ToleranceProblem",
    "ToleranceSpec",
    "Tolerances",
    "default_tolerance",
    "float_component",
    "parse_tolerance",
    "parse_tolerances",
    "tolerance_for_stream",
]

#: the fields of one tolerance
TOLERANCE_KEYS = ("rtol", "atol", "ulp")
_SET_KEYS = ("default", "streams")

#: ``(rtol, atol)`` per float dtype when the scenario sets none.
DEFAULT_TOLERANCES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {
        "float16": (1e-3, 1e-3),
        "float32": (1e-5, 1e-6),
        "float64": (1e-9, 1e-12),
        "longdouble": (1e-9, 1e-12),
    }
)


def float_component(dtype: np.dtype) -> np.dtype:
    """The float type of a complex dtype's components (a float dtype itself)."""
    return np.dtype(dtype.char.lower()) if dtype.kind == "c" else dtype


def default_tolerance(dtype: Any) -> tuple[float, float]:
    """``(rtol, atol)`` for a float or complex dtype (complex: its component's)."""
    base = float_component(np.dtype(dtype))
    key = base.name if base.name in DEFAULT_TOLERANCES else "longdouble"
    return DEFAULT_TOLERANCES[key]


# --- the model --------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How close a captured float stream must be to its golden.

    ``rtol``/``atol`` as in :func:`numpy.isclose`, or ``ulp``: at most that
    many units in the last place. ``None`` everywhere means the per-dtype
    default of the comparator. Integer and bool streams are always exact.
    """

    rtol: float | None = None
    atol: float | None = None
    ulp: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that are set."""
        return {
            key: getattr(self, key)
            for key in TOLERANCE_KEYS
            if getattr(self, key) is not None
        }


@dataclass(frozen=True)
class Tolerances:
    """A default :class:`Tolerance` and per-stream overrides."""

    default: Tolerance = field(default_factory=Tolerance)
    streams: Mapping[str, Tolerance] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def for_stream(self, name: str) -> Tolerance:
        """The tolerance of one stream (its override, else the default)."""
        return self.streams.get(name, self.default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.default.to_dict(),
            "streams": {k: v.to_dict() for k, v in sorted(self.streams.items())},
        }


#: What ``compare_captures(tolerances=...)`` accepts.
ToleranceSpec = Tolerances | Tolerance | Mapping[str, Any]


# --- the parser -------------------------------------------------------------------


@dataclass(frozen=True)
class ToleranceProblem:
    """One thing wrong in a tolerances value.

    ``loc`` is the offending value's path from the tolerances root (for line
    numbers); ``message`` says what is wrong, without a location. The problem
    sits in the override of ``stream``, or in the default (``in_default``),
    or else in the set structure itself (``label``: ``""`` or ``"streams"``);
    ``key`` is the tolerance field the message is about, if one.
    """

    loc: Loc
    message: str
    stream: str | None = None
    in_default: bool = False
    key: str | None = None
    label: str = ""


def parse_tolerance(
    value: Any,
    loc: Loc,
    problems: list[ToleranceProblem],
    *,
    stream: str | None = None,
    in_default: bool = False,
) -> Tolerance | None:
    """One ``{rtol, atol}`` / ``{ulp}`` mapping (or a :class:`Tolerance`)."""
    if isinstance(value, Tolerance):
        return value

    def problem(where: Loc, message: str, key: str | None = None) -> None:
        problems.append(ToleranceProblem(where, message, stream, in_default, key))

    if not isinstance(value, Mapping):
        problem(
            loc,
            "must be a mapping such as {rtol: 1e-6, atol: 0} or {ulp: 4}, got "
            + show(value),
        )
        return None
    before = len(problems)
    values: dict[str, Any] = {}
    for key, item in value.items():
        if key not in TOLERANCE_KEYS:
            problem(
                (*loc, key),
                f"unknown key {show(key)}{did_you_mean(key, TOLERANCE_KEYS)}; "
                f"allowed: {', '.join(TOLERANCE_KEYS)}",
            )
        elif item is None:
            continue
        elif key == "ulp":
            if not is_int(item) or item < 0:
                problem(
                    (*loc, key), f"must be a non-negative integer, got {show(item)}", key
                )
            else:
                values[key] = int(item)
        elif not is_real(item) or not math.isfinite(float(item)) or item < 0:
            problem((*loc, key), f"must be a non-negative number, got {show(item)}", key)
        else:
            values[key] = float(item)
    if len(problems) > before:
        return None
    if "ulp" in values and ("rtol" in values or "atol" in values):
        problem(loc, "use either rtol/atol or ulp, not both")
        return None
    return Tolerance(**values)


def parse_tolerances(
    value: Any,
    loc: Loc,
    problems: list[ToleranceProblem],
    *,
    stream_names: Sequence[str] | None = None,
) -> Tolerances:
    """A tolerances value (see the module doc); with ``stream_names``, a
    per-stream override must name one of them."""
    if value is None:
        return Tolerances()
    if isinstance(value, Tolerances):
        return value
    if isinstance(value, Tolerance) or (
        isinstance(value, Mapping) and not any(key in value for key in _SET_KEYS)
    ):
        default = parse_tolerance(value, loc, problems, in_default=True)
        return Tolerances(default=default or Tolerance())
    if not isinstance(value, Mapping):
        problems.append(
            ToleranceProblem(
                loc, f"must be a mapping with default and/or streams, got {show(value)}"
            )
        )
        return Tolerances()
    for key in value:
        if key not in (*_SET_KEYS, *TOLERANCE_KEYS):
            problems.append(
                ToleranceProblem(
                    (*loc, key),
                    f"unknown key {show(key)}{did_you_mean(key, _SET_KEYS)}; allowed: "
                    "default, streams (or rtol/atol/ulp for the default)",
                )
            )
    shorthand = {k: v for k, v in value.items() if k in TOLERANCE_KEYS}
    default = Tolerance()
    if "default" in value and shorthand:
        problems.append(
            ToleranceProblem(
                loc, "give the default either as 'default' or inline, not both"
            )
        )
    elif "default" in value:
        default = (
            parse_tolerance(value["default"], (*loc, "default"), problems, in_default=True)
            or default
        )
    elif shorthand:
        default = parse_tolerance(shorthand, loc, problems, in_default=True) or default
    streams: dict[str, Tolerance] = {}
    per_stream = value.get("streams")
    if per_stream is not None and not isinstance(per_stream, Mapping):
        problems.append(
            ToleranceProblem(
                (*loc, "streams"),
                "must be a mapping of stream name to tolerance, got " + show(per_stream),
                label="streams",
            )
        )
    elif per_stream is not None:
        for stream, item in per_stream.items():
            item_loc = (*loc, "streams", stream)
            if stream_names is not None and (
                not isinstance(stream, str) or stream not in stream_names
            ):
                problems.append(
                    ToleranceProblem(
                        item_loc,
                        f"unknown stream {show(stream)}"
                        + did_you_mean(stream, list(stream_names)),
                        label="streams",
                    )
                )
                continue
            tolerance = parse_tolerance(item, item_loc, problems, stream=stream)
            if tolerance is not None:
                streams[stream] = tolerance
    return Tolerances(default=default, streams=MappingProxyType(streams))


def tolerance_for_stream(spec: ToleranceSpec | None, name: str) -> Tolerance | None:
    """The tolerance of stream ``name`` under ``spec`` (``None``: the
    per-dtype defaults); a malformed ``spec`` raises
    :class:`~shmpipeline.errors.ConfigValidationError` naming the stream
    (or the part of the structure) and field."""
    if spec is None:
        return None
    for_stream = getattr(spec, "for_stream", None)
    if callable(for_stream) and not isinstance(spec, Mapping):
        return for_stream(name)
    if not isinstance(spec, (Mapping, Tolerance)) and any(
        hasattr(spec, key) for key in TOLERANCE_KEYS
    ):  # a tolerance-like object: read its fields, check them like a mapping
        spec = {key: getattr(spec, key, None) for key in TOLERANCE_KEYS}
    problems: list[ToleranceProblem] = []
    if isinstance(spec, (Mapping, Tolerance)):
        tolerances = parse_tolerances(spec, (), problems)
    else:
        tolerances = Tolerances()
        parse_tolerance(spec, (), problems, in_default=True)
    if problems:
        raise ConfigValidationError(_render(problems[0], name))
    return tolerances.for_stream(name)


def _render(problem: ToleranceProblem, compared: str) -> str:
    """One line for the Python API: the stream whose tolerance is wrong (the
    compared stream when the default is), then the field."""
    if problem.stream is not None or problem.in_default:
        stream = problem.stream if problem.stream is not None else compared
        where = f"tolerances for stream {stream!r}"
        return f"{where}: {problem.key}: {problem.message}" if problem.key else (
            f"{where}: {problem.message}"
        )
    where = f"tolerances.{problem.label}" if problem.label else "tolerances"
    return f"{where}: {problem.message}"
