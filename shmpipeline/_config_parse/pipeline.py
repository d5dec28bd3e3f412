"""Parsing a whole pipeline mapping: the top-level keys, every section, and
the rules across entries; plus the raw rendering of a hand-built config that
graph validation checks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from shmpipeline._config_parse.endpoints import parse_endpoint_entry
from shmpipeline._config_parse.fields import check_keys, entry_label, parse_text
from shmpipeline._config_parse.kernels import parse_kernel_entry
from shmpipeline._config_parse.streams import parse_stream_entry
from shmpipeline._config_parse.wiring import KernelWiring, cross_entry_problems
from shmpipeline._problems import Loc, Problems, show
from shmpipeline.config import (
    KernelConfig,
    PipelineConfig,
    SharedMemoryConfig,
    SinkConfig,
    SourceConfig,
    SynchronizationConfig,
)
from shmpipeline.errors import StreamLayoutError
from shmpipeline.stream._names import check_name

__all__ = ["ParsedPipeline", "parse_pipeline_checked", "raw_from_config"]

_TOP_KEYS = ("shared_memory", "kernels", "sources", "sinks", "namespace")


def _parse_namespace(value: Any, problems: Problems) -> str | None:
    """The pipeline ``namespace``: a prefix of every stream's segment name."""
    text = parse_text(value, "pipeline", "namespace", ("namespace",), problems)
    if text is None:
        return None
    try:
        check_name(text)
    except StreamLayoutError:
        problems.add(
            "pipeline",
            "namespace",
            f"must use letters, digits, '_', '-' and '.' (not first), got "
            f"{show(value)}",
            ("namespace",),
        )
        return None
    return text


@dataclass
class ParsedPipeline:
    """Result of parsing a whole pipeline mapping, valid or not."""

    streams: list[SharedMemoryConfig | None]
    kernels: list[KernelConfig | None]
    problems: Problems
    wirings: list[KernelWiring] = field(default_factory=list)
    sources: list[SourceConfig | None] = field(default_factory=list)
    sinks: list[SinkConfig | None] = field(default_factory=list)
    namespace: str | None = None

    def config(self, base_path: Path | None = None) -> PipelineConfig | None:
        if len(self.problems):
            return None
        namespace = self.namespace
        return PipelineConfig(
            shared_memory=tuple(
                s if namespace is None else replace(s, namespace=namespace)
                for s in self.streams
                if s is not None
            ),
            kernels=tuple(k for k in self.kernels if k is not None),
            sources=tuple(e for e in self.sources if e is not None),
            sinks=tuple(e for e in self.sinks if e is not None),
            namespace=namespace,
            base_path=base_path,
        )


def _parse_pipeline(raw: Any) -> ParsedPipeline:
    problems = Problems()
    parsed = ParsedPipeline([], [], problems)
    if not isinstance(raw, Mapping):
        problems.add(
            "pipeline",
            None,
            "must be a mapping with 'shared_memory' and 'kernels' lists, got "
            + show(raw),
            (),
        )
        return parsed
    check_keys(raw, _TOP_KEYS, "pipeline", (), problems)

    stream_refs: list[tuple[str, Loc, str | None]] = []
    streams_raw = raw.get("shared_memory")
    if not isinstance(streams_raw, (list, tuple)) or not streams_raw:
        problems.add(
            "",
            "shared_memory",
            "required: a non-empty list of stream entries"
            + ("" if streams_raw is None else f", got {show(streams_raw)}"),
            ("shared_memory",),
        )
    else:
        for index, entry in enumerate(streams_raw):
            loc = ("shared_memory", index)
            base = f"shared_memory[{index}]"
            config, name = parse_stream_entry(entry, base, loc, problems)
            parsed.streams.append(config)
            stream_refs.append((entry_label(base, name), loc, name))

    if raw.get("namespace") is not None:
        parsed.namespace = _parse_namespace(raw["namespace"], problems)
    endpoint_refs: list[KernelWiring] = []
    for section, key in (("source", "sources"), ("sink", "sinks")):
        entries = raw.get(key)
        if entries is None:
            continue
        if not isinstance(entries, (list, tuple)):
            problems.add(
                "", key, f"must be a list of {section} entries, got {show(entries)}",
                (key,),
            )
            continue
        for index, entry in enumerate(entries):
            loc = (key, index)
            endpoint, ref = parse_endpoint_entry(
                entry, section, f"{key}[{index}]", loc, problems
            )
            getattr(parsed, key).append(endpoint)
            if ref is not None:
                endpoint_refs.append(ref)
    has_endpoints = bool(raw.get("sources") or raw.get("sinks"))

    kernel_refs: list[KernelWiring] = []
    kernels_raw = raw.get("kernels")
    if kernels_raw is None and has_endpoints:
        kernels_raw = []
    if not isinstance(kernels_raw, (list, tuple)) or (
        not kernels_raw and not has_endpoints
    ):
        problems.add(
            "",
            "kernels",
            "required: a non-empty list of kernel entries (it may be empty when "
            "sources or sinks are given)"
            + ("" if kernels_raw is None else f", got {show(kernels_raw)}"),
            ("kernels",),
        )
    else:
        for index, entry in enumerate(kernels_raw):
            loc = ("kernels", index)
            config, ref = parse_kernel_entry(entry, f"kernels[{index}]", loc, problems)
            parsed.kernels.append(config)
            if ref is not None:
                kernel_refs.append(ref)

    parsed.wirings = [*kernel_refs, *endpoint_refs]
    cross_entry_problems(stream_refs, parsed.wirings, problems)
    return parsed


def parse_pipeline_checked(raw: Any) -> ParsedPipeline:
    """:func:`_parse_pipeline`, with absurd nesting reported as a problem."""
    try:
        return _parse_pipeline(raw)
    except RecursionError:
        problems = Problems()
        problems.add("pipeline", None, "data is nested too deeply", ())
        return ParsedPipeline([], [], problems)


# --- helpers for graph validation ------------------------------------------------------


def raw_from_config(config: Any) -> Any:
    """A raw mapping of a (possibly hand-built, possibly invalid) config object,
    keeping field values as they are so validation sees what is there."""
    if not isinstance(config, PipelineConfig):
        return config

    def stream(spec: Any) -> Any:
        if not isinstance(spec, SharedMemoryConfig):
            return spec
        return {
            "name": spec.name,
            "shape": spec.shape,
            "dtype": spec.dtype,
            "storage": spec.storage,
            "gpu_device": spec.gpu_device,
            "cpu_mirror": spec.cpu_mirror,
            "notify": spec.notify,
            "mode": spec.mode,
            "initial": spec.initial,
        }

    def kernel(item: Any) -> Any:
        if not isinstance(item, KernelConfig):
            return item
        wiring: dict[str, Any] = {}
        if item.inputs:
            wiring["inputs"] = item.inputs
        else:
            wiring["input"] = item.input
        if item.outputs:
            wiring["outputs"] = item.outputs
        else:
            wiring["output"] = item.output
        sync = item.synchronization
        return {
            "name": item.name,
            "kind": item.kind,
            **wiring,
            "auxiliary": item.auxiliary,
            "operation": item.operation,
            "parameters": item.parameters,
            "read_timeout": item.read_timeout,
            "pause_sleep": item.pause_sleep,
            "poll_interval": item.poll_interval,
            "trigger_policy": item.trigger_policy,
            "synchronization": sync.to_dict()
            if isinstance(sync, SynchronizationConfig)
            else sync,
            "propagate_frame_id": item.propagate_frame_id,
        }

    def endpoint(item: Any) -> Any:
        if isinstance(item, (SourceConfig, SinkConfig)):
            return item.to_dict()
        return item

    shared = config.shared_memory
    kernels = config.kernels
    extra: dict[str, Any] = {}
    for key in ("sources", "sinks"):
        entries = getattr(config, key)
        if entries:
            extra[key] = (
                [endpoint(e) for e in entries]
                if isinstance(entries, (list, tuple))
                else entries
            )
    if config.namespace is not None:
        extra["namespace"] = config.namespace
    return {
        **extra,
        "shared_memory": [stream(s) for s in shared]
        if isinstance(shared, (list, tuple))
        else shared,
        "kernels": [kernel(k) for k in kernels]
        if isinstance(kernels, (list, tuple))
        else kernels,
    }
