"""The ``inputs`` section of a scenario: which stream each entry feeds.

An entry's key names a source stream, or a pipeline source (its stream, or
each of a multi-stream source's streams under ``streams:``). This module
checks that every entry feeds a source stream the scenario does not run an
endpoint for, hands the entry to its kind's parser
(:data:`~shmpipeline.testing.inputs.INPUT_KINDS`), and checks the inputs
together: every triggering source fed per frame, a write order that exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from shmpipeline._problems import Loc, did_you_mean, show
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ScenarioError
from shmpipeline.graph import PipelineGraph
from shmpipeline.testing.inputs import INPUT_KINDS, InputContext, InputSpec, parse_input
from shmpipeline.testing.pipeline_under_test import endpoint_streams
from shmpipeline.testing.scenario_problems import ScenarioProblems
from shmpipeline.testing.sources import write_order

__all__ = ["fed_streams", "parse_inputs"]


def parse_inputs(
    raw: Mapping,
    pipeline: PipelineConfig,
    seed: int,
    base_dir: Path,
    problems: ScenarioProblems,
    allow_outside: bool = False,
    endpoint_document: Mapping[str, Any] | None = None,
    endpoints: Mapping[str, str] | None = None,
) -> tuple[InputSpec, ...]:
    """The scenario's inputs, ordered by stream name; problems recorded."""
    graph = PipelineGraph.from_config(pipeline)
    sources = set(graph.source_streams())
    triggers = {k.input for k in pipeline.kernels}
    specs = pipeline.shared_memory_by_name
    value = raw.get("inputs")
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        problems.at(("inputs",), "must be a mapping of source stream -> input")
        return ()
    run_streams = {  # written by an endpoint the scenario runs
        stream: entry.get("name")
        for section in ("sources", "sinks")
        for entry in (endpoint_document or {}).get(section, ())
        if (endpoints or {}).get(entry.get("name")) == "run"
        for stream in endpoint_streams(section, entry)
    }
    inputs: dict[str, InputSpec] = {}

    def context(stream: str, loc: Loc) -> InputContext:
        return InputContext(
            stream=stream,
            stream_spec=specs[stream],
            streams=specs,
            seed=seed,
            base_dir=base_dir,
            loc=loc,
            problems=problems,
            allow_outside=allow_outside,
            triggers_kernel=stream in triggers,
            inputs=MappingProxyType(inputs),
        )

    later = [name for name, kind in INPUT_KINDS.items() if kind.reads_other_inputs]
    deferred: list[tuple[str, str, Any, Loc]] = []
    for stream, item, loc in _input_items(value, specs, endpoint_document, problems):
        kind = next((k for k in later if k in item), None) if isinstance(
            item, Mapping
        ) else None
        if kind is not None and stream in specs:
            deferred.append((kind, stream, item, loc))
            continue
        if stream in run_streams:
            problems.at(
                loc,
                f"written by {run_streams[stream]!r}, which the scenario runs "
                "(endpoints); drop the input or the 'run'",
            )
            continue
        if not isinstance(stream, str) or stream not in specs:
            problems.at(
                loc,
                f"unknown stream {show(stream)}"
                + did_you_mean(stream, list(specs)),
            )
            continue
        if stream not in sources:
            producers = graph.producers(stream)
            why = (
                f"written by kernel {producers[0]!r}"
                if producers
                else "read by no kernel"
            )
            problems.at(loc, f"not a source stream ({why}); inputs feed sources only")
            continue
        spec = parse_input(item, context(stream, loc))
        if spec is None:
            continue
        if not spec.per_frame and stream in triggers:
            problems.at(
                loc,
                "triggers a kernel, so it needs a per-frame input (synthetic or "
                "fake); constant and file inputs are written once",
            )
            continue
        inputs[stream] = spec
    for kind, stream, item, loc in deferred:  # after the inputs they read
        spec = INPUT_KINDS[kind].parse(item, context(stream, loc))
        if spec is not None:
            inputs[stream] = spec
    for stream in sorted(sources & triggers):
        if stream in run_streams:
            continue
        if stream not in inputs and stream not in value:
            problems.at(
                ("inputs",),
                f"source stream {stream!r} triggers a kernel and needs an input "
                "(synthetic or fake)",
            )
    try:
        write_order(pipeline, [n for n, spec in inputs.items() if spec.per_frame])
    except ScenarioError as exc:
        problems.at(("inputs",), exc.message.removeprefix("inputs: "))
    return tuple(inputs[name] for name in sorted(inputs))


def _input_items(
    value: Mapping[str, Any],
    specs: Mapping[str, Any],
    endpoint_document: Mapping[str, Any] | None,
    problems: ScenarioProblems,
) -> list[tuple[Any, Any, Loc]]:
    """``(stream, input, location)`` for each entry of ``inputs``: a key
    naming a stream feeds it; one naming a source feeds that source's stream,
    or each of a multi-stream source's streams through ``streams:``."""
    sources = {
        entry.get("name"): entry
        for entry in (endpoint_document or {}).get("sources", ())
        if isinstance(entry, Mapping)
    }
    items: list[tuple[Any, Any, Loc]] = []
    for key, item in value.items():
        if key in specs or key not in sources:
            items.append((key, item, ("inputs", key)))
            continue
        entry = sources[key]
        written = list(entry.get("streams") or [entry.get("stream")])
        per_stream = item.get("streams") if isinstance(item, Mapping) else None
        if per_stream is None and len(written) == 1:
            items.append((written[0], item, ("inputs", key)))
            continue
        if not isinstance(per_stream, Mapping) or (
            isinstance(item, Mapping) and len(item) != 1
        ):
            problems.at(
                ("inputs", key),
                f"source {key!r} writes {', '.join(map(str, written))}: give one "
                "input per stream under streams: {STREAM: input}",
            )
            continue
        for stream, sub in per_stream.items():
            loc: Loc = ("inputs", key, "streams", stream)
            if stream not in written:
                problems.at(
                    loc,
                    f"source {key!r} does not write {show(stream)} (it writes "
                    f"{', '.join(map(str, written))})",
                )
                continue
            items.append((stream, sub, loc))
        missing = [s for s in written if s not in per_stream]
        if missing:
            problems.at(
                ("inputs", key, "streams"),
                f"missing an input for {', '.join(map(str, missing))}",
            )
    return items


def fed_streams(inputs: Any, document: Mapping[str, Any]) -> set[str]:
    """Streams the scenario's raw ``inputs`` write (a key naming a source
    feeds that source's streams)."""
    if not isinstance(inputs, Mapping):
        return set()
    streams = {
        entry.get("name")
        for entry in document.get("shared_memory") or []
        if isinstance(entry, Mapping)
    }
    sources = {
        entry.get("name"): entry
        for entry in document.get("sources") or []
        if isinstance(entry, Mapping)
    }
    fed: set[str] = set()
    for key, item in inputs.items():
        if key in streams:
            fed.add(key)
        elif key in sources:
            given = item.get("streams") if isinstance(item, Mapping) else None
            if isinstance(given, Mapping):
                fed.update(str(name) for name in given)
            else:
                fed.update(endpoint_streams("sources", sources[key]))
    return fed
