"""Field parsers shared by every pipeline entry parser.

Each returns the parsed value, or ``None`` after recording a problem, so one
pass over a document reports every problem with its location.
"""

from __future__ import annotations

import keyword
import math
from collections.abc import Mapping, Sequence
from typing import Any

from shmpipeline._problems import Loc, Problems, did_you_mean, is_real, show
from shmpipeline._yaml import plain
from shmpipeline.config import AuxiliaryBinding

__all__ = [
    "FULL_NAME_CHARS",
    "check_keys",
    "entry_label",
    "open_entry",
    "parse_auxiliary",
    "parse_choice",
    "parse_parameters",
    "parse_positive_float",
    "parse_stream_list",
    "parse_stream_ref",
    "parse_text",
]

#: entry names up to this length are shown whole in messages (longer ones,
#: invalid anyway, are shortened)
FULL_NAME_CHARS = 256


def entry_label(base: str, name: Any) -> str:
    if isinstance(name, str) and name.strip():
        text = name.strip()
        return f"{base} {text!r}" if len(text) <= FULL_NAME_CHARS else f"{base} {show(text)}"
    return base


def check_keys(
    data: Mapping[Any, Any],
    allowed: Sequence[str],
    where: str,
    loc: Loc,
    problems: Problems,
    field: str | None = None,
) -> None:
    """A problem for each key of ``data`` not in ``allowed`` (reported on
    ``field`` of ``where``: the entry itself when ``None``)."""
    for key in data:
        if isinstance(key, str) and key in allowed:
            continue
        problems.add(
            where,
            field,
            f"unknown key {show(key)}{did_you_mean(key, allowed)}; allowed: "
            + ", ".join(allowed)
            + " (other keys are unsupported fields)",
            (*loc, key),
        )


def open_entry(
    raw: Any,
    base: str,
    loc: Loc,
    problems: Problems,
    *,
    needs: str,
    allowed: Sequence[str],
) -> str | None:
    """Start parsing one list entry: ``None`` after a problem when ``raw`` is
    not a mapping (``needs`` says what it must hold), else its label in
    messages (:func:`entry_label`), its keys checked against ``allowed``."""
    if not isinstance(raw, Mapping):
        problems.add(base, None, f"must be a mapping with {needs}, got {show(raw)}", loc)
        return None
    where = entry_label(base, raw.get("name"))
    check_keys(raw, allowed, where, loc, problems)
    return where


# --- field parsers (return the value, or None after adding a problem) ----------------


def parse_text(
    value: Any, where: str, field_name: str, loc: Loc, problems: Problems
) -> str | None:
    if value is None:
        problems.add(where, field_name, "required", loc)
        return None
    if not isinstance(value, str):
        problems.add(where, field_name, f"must be a string, got {show(value)}", loc)
        return None
    text = value.strip()
    if not text:
        problems.add(where, field_name, "must not be empty", loc)
        return None
    if not text.isprintable():
        problems.add(
            where, field_name, f"must be printable text, got {show(value)}", loc
        )
        return None
    return text


def parse_stream_ref(
    value: Any, where: str, field_name: str, loc: Loc, problems: Problems
) -> str | None:
    """A reference to a stream: a string (whether it exists is checked later)."""
    return parse_text(value, where, field_name, loc, problems)


def parse_positive_float(
    value: Any, where: str, field_name: str, loc: Loc, problems: Problems
) -> float | None:
    if not is_real(value):
        problems.add(
            where,
            field_name,
            f"must be a positive number of seconds, got {show(value)}",
            loc,
        )
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        number = math.inf
    if not math.isfinite(number) or number <= 0.0:
        problems.add(
            where,
            field_name,
            f"must be a positive finite number of seconds, got {show(value)}",
            loc,
        )
        return None
    return number


def parse_stream_list(
    raw: Mapping[Any, Any],
    single: str,
    several: str,
    where: str,
    loc: Loc,
    problems: Problems,
) -> list[tuple[str, str, Loc]] | None:
    """``input``/``inputs`` (or ``output``/``outputs``): exactly one of the
    two, the list non-empty; returns ``[(name, field, loc)]`` or None."""
    one, many = raw.get(single), raw.get(several)
    if one is not None and many is not None:
        problems.add(
            where,
            several,
            f"use either {single!r} or {several!r}, not both",
            (*loc, several),
        )
        return None
    if many is None:
        name = parse_stream_ref(one, where, single, (*loc, single), problems)
        return None if name is None else [(name, single, (*loc, single))]
    if not isinstance(many, (list, tuple)) or not many:
        problems.add(
            where,
            several,
            f"must be a non-empty list of stream names, got {show(many)}",
            (*loc, several),
        )
        return None
    refs: list[tuple[str, str, Loc]] = []
    ok = True
    for index, item in enumerate(many):
        label = f"{several}[{index}]"
        item_loc = (*loc, several, index)
        name = parse_stream_ref(item, where, label, item_loc, problems)
        if name is None:
            ok = False
        else:
            refs.append((name, label, item_loc))
    return refs if ok else None


def parse_choice(
    value: Any,
    choices: Sequence[str],
    where: str,
    field_name: str,
    loc: Loc,
    problems: Problems,
) -> str | None:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in choices:
        problems.add(
            where,
            field_name,
            f"must be one of {', '.join(map(repr, choices))}, got {show(value)}"
            + did_you_mean(value, choices),
            loc,
        )
        return None
    return text


_ALIAS_PROBLEM = (
    "alias {} must be a Python identifier, not a keyword (it is a name in "
    "operation expressions)"
)


def _valid_alias(alias: str, stream: str) -> bool:
    """An alias differing from its stream name must be usable in expressions;
    the implicit alias of the list form is the stream name itself."""
    if alias == stream:
        return True
    return alias.isidentifier() and not keyword.iskeyword(alias)


def parse_auxiliary(
    value: Any, where: str, loc: Loc, problems: Problems
) -> tuple[list[tuple[AuxiliaryBinding, Any]], bool]:
    """Return ([(binding, loc key)], ok) for the list or mapping form."""
    bindings: list[tuple[AuxiliaryBinding, Any]] = []
    ok = True
    if value is None:
        return bindings, ok
    if isinstance(value, Mapping):
        for alias, stream in value.items():
            item_loc = (*loc, alias)
            if not isinstance(alias, str) or not alias.strip():
                problems.add(
                    where,
                    "auxiliary",
                    f"alias {show(alias)} must be a non-empty string",
                    item_loc,
                )
                ok = False
                continue
            alias = alias.strip()
            field_name = f"auxiliary.{alias}"
            name = parse_stream_ref(stream, where, field_name, item_loc, problems)
            if name is None:
                ok = False
                continue
            if not _valid_alias(alias, name):
                problems.add(
                    where, field_name, _ALIAS_PROBLEM.format(show(alias)), item_loc
                )
                ok = False
                continue
            bindings.append((AuxiliaryBinding(alias=alias, name=name), alias))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            item_loc = (*loc, index)
            if isinstance(item, AuxiliaryBinding):
                alias_raw, stream = item.alias, item.name
            else:
                alias_raw, stream = None, item
            label = f"auxiliary[{index}]"
            name = parse_stream_ref(stream, where, label, item_loc, problems)
            if name is None:
                ok = False
                continue
            alias = name if alias_raw is None else alias_raw
            if not isinstance(alias, str) or not _valid_alias(alias, name):
                problems.add(
                    where, label, _ALIAS_PROBLEM.format(show(alias)), item_loc
                )
                ok = False
                continue
            bindings.append((AuxiliaryBinding(alias=alias, name=name), index))
    else:
        problems.add(
            where,
            "auxiliary",
            "must be a list of stream names or an {alias: stream} mapping, got "
            + show(value),
            loc,
        )
        return bindings, False

    seen: dict[str, Any] = {}
    for binding, key in bindings:
        field_name = f"auxiliary.{binding.alias}"
        if binding.alias == "input":
            problems.add(
                where,
                field_name,
                "alias 'input' is reserved for the trigger input; bind the stream "
                "under another alias ({other_alias: stream})",
                (*loc, key),
            )
            ok = False
        elif binding.alias in seen:
            problems.add(where, field_name, "duplicate alias", (*loc, key))
            ok = False
        seen.setdefault(binding.alias, key)
    return bindings, ok


def parse_parameters(
    value: Any, where: str, loc: Loc, problems: Problems
) -> dict[str, Any] | None:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(where, "parameters", f"must be a mapping, got {show(value)}", loc)
        return None
    for key in value:
        if not isinstance(key, str):
            problems.add(
                where,
                "parameters",
                f"keys must be strings, got {show(key)}",
                (*loc, key),
            )
            return None
    return plain(value)
