"""The pipeline a scenario runs: its overrides applied, its endpoints chosen.

A scenario names a pipeline (a file or a mapping) and may change it without
copying it:

- ``overrides``: replace entries of kernel ``parameters``, a stream's
  ``initial`` value, or source/sink ``parameters``::

      overrides:
        kernels: {gain: {parameters: {gains: [0.4, 0.4]}}}
        streams: {dm_state: {initial: {pattern: constant, value: 0.0}}}
        sources: {camera: {parameters: {exposure_us: 100}}}
        sinks: {archive: {parameters: {directory: out}}}

  Given parameter keys replace the pipeline's; the others stay.
- ``endpoints``: sources and sinks are *not started* in a scenario (no
  hardware in CI); ``endpoints: {NAME: run}`` starts one for real (a
  pure-software endpoint such as a sink writing files).

An endpoint that is not run is *replaced* when the scenario feeds every
stream it would write (a source's streams, a sink's ``outputs``) through
``inputs``; its kind then need not be installed. One neither run nor
replaced must still be a kind the registry knows, so a typo or a missing
plugin is reported instead of silently leaving its streams at zero.

Functions here return problems as ``(location, message)`` pairs; the
scenario parser places them in the file.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shmpipeline._problems import did_you_mean, show

if TYPE_CHECKING:
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "ENDPOINT_STATES",
    "OVERRIDE_SECTIONS",
    "apply_overrides",
    "endpoint_states",
    "endpoint_streams",
    "running_document",
    "unreplaced_kind_problems",
]

#: section -> (pipeline key holding its entries, the one overridable field)
OVERRIDE_SECTIONS = {
    "kernels": ("kernels", "parameters"),
    "streams": ("shared_memory", "initial"),
    "sources": ("sources", "parameters"),
    "sinks": ("sinks", "parameters"),
}
#: what a scenario does with a source or sink
ENDPOINT_STATES = ("run", "replaced", "off")

Problem = tuple[tuple[Any, ...], str]


def apply_overrides(
    document: Mapping[str, Any], overrides: Any
) -> tuple[dict[str, Any], list[Problem]]:
    """A copy of the raw pipeline ``document`` with ``overrides`` applied,
    and the problems found (locations start at ``overrides``)."""
    out = copy.deepcopy(dict(document))
    problems: list[Problem] = []
    if overrides is None:
        return out, problems
    if not isinstance(overrides, Mapping):
        problems.append(
            (("overrides",), "must be a mapping of kernels/streams/sources/sinks")
        )
        return out, problems
    for section, changes in overrides.items():
        loc = ("overrides", section)
        if section not in OVERRIDE_SECTIONS:
            problems.append(
                (
                    loc,
                    f"unknown section{did_you_mean(section, list(OVERRIDE_SECTIONS))}; "
                    "allowed: " + ", ".join(OVERRIDE_SECTIONS),
                )
            )
            continue
        key, field = OVERRIDE_SECTIONS[section]
        entries = out.get(key) or []
        by_name = {
            entry.get("name"): entry for entry in entries if isinstance(entry, dict)
        }
        if not isinstance(changes, Mapping):
            problems.append((loc, f"must map {section[:-1]} names to changes"))
            continue
        for name, change in changes.items():
            where = (*loc, name)
            if name not in by_name:
                known = [str(n) for n in by_name]
                problems.append(
                    (
                        where,
                        f"the pipeline has no {section[:-1]} {show(name)}"
                        + did_you_mean(str(name), known)
                        + f" (known: {', '.join(known) or 'none'})",
                    )
                )
                continue
            if not isinstance(change, Mapping) or set(change) - {field}:
                extra = (
                    sorted(str(k) for k in set(change) - {field})
                    if isinstance(change, Mapping)
                    else []
                )
                problems.append(
                    (
                        (*where, extra[0]) if extra else where,
                        f"only {field!r} can be overridden here",
                    )
                )
                continue
            value = copy.deepcopy(change.get(field))
            entry = by_name[name]
            if field == "parameters":
                if not isinstance(value, Mapping):
                    problems.append(
                        ((*where, field), "must be a mapping of parameter values")
                    )
                    continue
                merged = dict(entry.get("parameters") or {})
                merged.update(value)
                entry["parameters"] = merged
            else:
                entry[field] = value
    return out, problems


def endpoint_states(
    document: Mapping[str, Any], requested: Any, fed: set[str]
) -> tuple[dict[str, str], list[Problem]]:
    """Each source/sink name -> ``run``, ``replaced`` or ``off`` (see the
    module docstring); ``requested`` is the scenario's ``endpoints`` value
    and ``fed`` the streams its inputs write."""
    problems: list[Problem] = []
    names = {
        entry.get("name"): (section, entry)
        for section in ("sources", "sinks")
        for entry in document.get(section) or []
        if isinstance(entry, dict)
    }
    run: set[str] = set()
    if requested is not None:
        if not isinstance(requested, Mapping):
            problems.append((("endpoints",), "must map endpoint names to 'run'"))
            requested = {}
        for name, state in requested.items():
            if name not in names:
                known = [str(n) for n in names]
                problems.append(
                    (
                        ("endpoints", name),
                        f"the pipeline has no source or sink {show(name)}"
                        + did_you_mean(str(name), known),
                    )
                )
            elif state != "run":
                problems.append(
                    (("endpoints", name), f"must be 'run', got {show(state)}")
                )
            else:
                run.add(name)
    states: dict[str, str] = {}
    for name, (section, entry) in names.items():
        written = endpoint_streams(section, entry)
        if name in run:
            states[name] = "run"
        elif all(stream in fed for stream in written):
            states[name] = "replaced"
        else:
            states[name] = "off"
    return states, problems


def endpoint_streams(section: str, entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The streams a raw ``sources`` entry writes (``stream`` or
    ``streams``), or a raw ``sinks`` entry's ``outputs``."""
    if section == "sinks":
        return tuple(entry.get("outputs") or ())
    if entry.get("streams"):
        return tuple(entry["streams"])
    return (entry["stream"],) if "stream" in entry else ()


def running_document(
    document: Mapping[str, Any], states: Mapping[str, str]
) -> dict[str, Any]:
    """The raw pipeline with only the endpoints a scenario runs."""
    out = dict(document)
    for section in ("sources", "sinks"):
        if section in out:
            kept = [
                entry
                for entry in out[section] or []
                if isinstance(entry, dict) and states.get(entry.get("name")) == "run"
            ]
            if kept:
                out[section] = kept
            else:
                out.pop(section)
    return out


def unreplaced_kind_problems(
    document: Mapping[str, Any],
    states: Mapping[str, str],
    registry: KernelRegistry | None,
) -> list[Problem]:
    """Endpoints left ``off`` whose kind the registry does not know."""
    if registry is None:
        from shmpipeline.registry import get_default_registry

        registry = get_default_registry()
    problems: list[Problem] = []
    for section, kinds_of in (("sources", "source_kinds"), ("sinks", "sink_kinds")):
        try:
            known = tuple(getattr(registry, kinds_of)())
        except Exception:  # noqa: BLE001 - a registry without endpoint kinds
            known = ()
        for index, entry in enumerate(document.get(section) or []):
            if not isinstance(entry, dict):
                continue
            name = entry.get("name")
            if states.get(name) != "off" or entry.get("kind") in known:
                continue
            what = "its streams" if section == "sources" else "its outputs"
            problems.append(
                (
                    ("pipeline", section, index),
                    f"{section}[{index}] {name!r}: kind {show(entry.get('kind'))} is "
                    f"not installed and the scenario does not replace it (feed {what} "
                    "through inputs, or install the plugin)",
                )
            )
    return problems
