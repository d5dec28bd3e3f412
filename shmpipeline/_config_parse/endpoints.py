"""Parsing one ``sources`` or ``sinks`` entry (a pipeline endpoint)."""

from __future__ import annotations

from typing import Any

from shmpipeline._config_parse.fields import (
    open_entry,
    parse_auxiliary,
    parse_parameters,
    parse_positive_float,
    parse_stream_list,
    parse_text,
)
from shmpipeline._config_parse.raising import parse_alone
from shmpipeline._config_parse.wiring import KernelWiring, kernel_wiring_problems
from shmpipeline._problems import Loc, Problems
from shmpipeline.config import SinkConfig, SourceConfig

__all__ = ["endpoint_from_dict", "parse_endpoint_entry"]

_SOURCE_KEYS = (
    "name",
    "kind",
    "stream",
    "streams",
    "auxiliary",
    "parameters",
    "poll_interval",
    "read_timeout",
)
_SINK_KEYS = (
    "name",
    "kind",
    "stream",
    "outputs",
    "auxiliary",
    "parameters",
    "read_timeout",
    "pause_sleep",
    "consume_timeout",
)


def parse_endpoint_entry(
    raw: Any, section: str, base: str, loc: Loc, problems: Problems
) -> tuple[SourceConfig | SinkConfig | None, KernelWiring | None]:
    """Parse one ``sources`` or ``sinks`` entry; its wiring uses the kernel
    shape (trigger inputs / outputs) so the cross checks are shared."""
    is_source = section == "source"
    before = len(problems)
    where = open_entry(
        raw, base, loc, problems, needs="name, kind and stream",
        allowed=_SOURCE_KEYS if is_source else _SINK_KEYS,
    )
    if where is None:
        return None, None
    name = parse_text(raw.get("name"), where, "name", (*loc, "name"), problems)
    kind = parse_text(raw.get("kind"), where, "kind", (*loc, "kind"), problems)
    if is_source:
        written = parse_stream_list(raw, "stream", "streams", where, loc, problems)
        read: list[tuple[str, str, Loc]] | None = []
    else:
        read = parse_stream_list(raw, "stream", "_", where, loc, problems)
        written = []
        if raw.get("outputs") is not None:
            written = parse_stream_list(
                {"outputs": raw["outputs"]}, "_", "outputs", where, loc, problems
            )
    auxiliary, aux_ok = parse_auxiliary(
        raw.get("auxiliary"), where, (*loc, "auxiliary"), problems
    )
    parameters = parse_parameters(
        raw.get("parameters"), where, (*loc, "parameters"), problems
    )
    timing: dict[str, float | None] = {}
    defaults = (
        (("poll_interval", 0.01), ("read_timeout", None))
        if is_source
        else (("read_timeout", 1.0), ("pause_sleep", 0.01), ("consume_timeout", None))
    )
    for key, default in defaults:
        value = raw.get(key)
        timing[key] = (
            default
            if value is None
            else parse_positive_float(value, where, key, (*loc, key), problems)
        )
    ref = KernelWiring(
        where, loc, name, None, None, auxiliary, inputs=read or [],
        outputs=written or [],
    )
    kernel_wiring_problems(ref, problems)
    if len(problems) > before or not aux_ok or read is None or written is None:
        return None, ref
    assert name and kind and parameters is not None
    bindings = tuple(binding for binding, _ in auxiliary)
    if is_source:
        streams = tuple(n for n, _, _ in written)
        return (
            SourceConfig(
                name=name, kind=kind, stream=streams[0], auxiliary=bindings,
                parameters=parameters,
                poll_interval=timing["poll_interval"],  # type: ignore[arg-type]
                read_timeout=timing["read_timeout"],
                streams=streams if raw.get("streams") is not None else (),
            ),
            ref,
        )
    return (
        SinkConfig(
            name=name, kind=kind, stream=read[0][0], auxiliary=bindings,
            parameters=parameters,
            read_timeout=timing["read_timeout"],  # type: ignore[arg-type]
            pause_sleep=timing["pause_sleep"],  # type: ignore[arg-type]
            consume_timeout=timing["consume_timeout"],
            outputs=tuple(n for n, _, _ in written),
        ),
        ref,
    )


def endpoint_from_dict(raw: Any, section: str) -> SourceConfig | SinkConfig:
    return parse_alone(
        lambda problems: parse_endpoint_entry(raw, section, section, (), problems)[0],
        section,
    )
