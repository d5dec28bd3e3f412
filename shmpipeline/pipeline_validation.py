"""Whole-pipeline validation: every problem of a config, as messages.

:func:`validate_pipeline_config` checks a document (a model, a mapping or a
YAML path) entry by entry, then the rules across entries
(:func:`cross_entry_errors`: unique names, defined streams, one producer per
stream, no kernel reading its own output), then each kernel's and each
endpoint's binding rules through a registry, and last the feedback paths of
lockstep sources. It never raises for bad input; an empty list means valid.
:meth:`shmpipeline.graph.PipelineGraph.validation_errors` is
:func:`cross_entry_errors` of the graph's config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shmpipeline._config_parse import (
    KernelWiring,
    cross_entry_problems,
    kernel_wiring_problems,
    parse_pipeline_checked,
    producer_problems,
    raw_from_config,
)
from shmpipeline._problems import Problems
from shmpipeline._yaml import line_of, load_yaml_file
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ConfigValidationError

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["cross_entry_errors", "validate_pipeline_config"]


def cross_entry_errors(config: PipelineConfig) -> list[str]:
    """The rules across entries (every problem, not just the first).

    Duplicate stream or kernel names, references to undefined streams, a
    stream with more than one producer, a kernel whose output is its
    trigger or one of its auxiliaries, an auxiliary stream bound twice.
    Messages name the entry and field as config loading does. Works on
    hand-built configs too.
    """
    problems = Problems()
    streams = [
        (f"shared_memory[{i}] {s.name!r}", ("shared_memory", i), s.name)
        for i, s in enumerate(config.shared_memory)
    ]
    refs = []
    for i, kernel in enumerate(config.kernels):
        ref = KernelWiring(
            where=f"kernels[{i}] {kernel.name!r}",
            loc=("kernels", i),
            name=kernel.name,
            input=kernel.input,
            output=kernel.output,
            auxiliary=[(b, j) for j, b in enumerate(kernel.auxiliary)],
            inputs=_refs(kernel.inputs, "inputs", ("kernels", i)),
            outputs=_refs(kernel.outputs, "outputs", ("kernels", i)),
        )
        kernel_wiring_problems(ref, problems)
        refs.append(ref)
    for section, entries in (
        ("sources", getattr(config, "sources", ())),
        ("sinks", getattr(config, "sinks", ())),
    ):
        for i, endpoint in enumerate(entries):
            loc = (section, i)
            if section == "sources":
                reads: list[Any] = []
                writes = [
                    (name, f"streams[{j}]" if endpoint.streams else "stream", loc)
                    for j, name in enumerate(endpoint.output_streams)
                ]
            else:
                reads = [(endpoint.stream, "stream", loc)]
                writes = [
                    (name, f"outputs[{j}]", loc)
                    for j, name in enumerate(endpoint.outputs)
                ]
            ref = KernelWiring(
                where=f"{section}[{i}] {endpoint.name!r}",
                loc=loc,
                name=endpoint.name,
                input=None,
                output=None,
                auxiliary=[(b, j) for j, b in enumerate(endpoint.auxiliary)],
                inputs=reads,
                outputs=writes,
            )
            kernel_wiring_problems(ref, problems)
            refs.append(ref)
    cross_entry_problems(streams, refs, problems, producers=True)
    return [p.message for p in problems.items]


def _refs(names: Any, field_name: str, loc: tuple[Any, ...]) -> Any:
    """``[(stream, field, loc)]`` of an ``inputs``/``outputs`` tuple, or None
    when the kernel uses the single ``input``/``output`` form."""
    if not names:
        return None
    return [
        (name, f"{field_name}[{j}]", (*loc, field_name, j))
        for j, name in enumerate(names)
    ]


def _kernel_message(message: str, index: int, name: str) -> str:
    """Prefix a kernel-binding error with ``kernels[i] 'name': ``."""
    entry = f"kernels[{index}] {name!r}"
    own = f"kernel {name!r}"
    if message.startswith(entry):
        return message
    if message.startswith(own):
        return entry + message[len(own) :]
    return f"{entry}: {message}"


def validate_pipeline_config(
    config: PipelineConfig | Mapping[str, Any] | str | os.PathLike[str],
    *,
    registry: KernelRegistry | None = None,
) -> list[str]:
    """Return all config, graph, and kernel-binding validation errors.

    ``config`` is a :class:`PipelineConfig` (re-checked field by field, so a
    hand-built one is validated too), a raw mapping, or a YAML path (messages
    then start with ``path:line:``). Kernel bindings are checked through
    ``registry`` (the default registry when ``None``) for every kernel whose
    own entry is valid and whose streams are all valid; a kernel bound to a
    broken stream only has its ``kind`` checked (``registry.get``), so one bad
    stream does not bury the list in follow-on errors. Kernel messages read
    ``kernels[i] 'name': field: problem``. Never raises for bad input; an
    empty list means the pipeline is valid.
    """
    path: str | None = None
    raw: Any
    if isinstance(config, PipelineConfig) and config.validated:
        return _model_errors(config, registry)
    if isinstance(config, PipelineConfig):
        # hand-built: its fields were never checked, so check them as data
        raw = raw_from_config(config)
    elif isinstance(config, (str, os.PathLike, Path)):
        try:
            raw, path, _ = load_yaml_file(config)
        except ConfigValidationError as exc:
            return [str(exc)]
    else:
        raw = config

    parsed = parse_pipeline_checked(raw)

    def render(message: str, loc: tuple[Any, ...]) -> str:
        if path is None:
            return message
        line = line_of(raw, loc)
        return ConfigValidationError(message, path=path, line=line).args[0]

    producer_problems(parsed.wirings, parsed.problems)
    errors = [render(p.message, p.loc) for p in parsed.problems.items]
    seen = {p.message for p in parsed.problems.items}
    if isinstance(config, PipelineConfig):
        try:
            graph_errors = cross_entry_errors(config)
        except Exception:  # a hand-built config too broken to graph
            graph_errors = []
        errors += [e for e in graph_errors if e not in seen]

    if registry is None:
        from shmpipeline.registry import get_default_registry

        registry = get_default_registry()
    built = {s.name: s for s in parsed.streams if s is not None}
    bad_streams = {
        p.loc[1]
        for p in parsed.problems.items
        if len(p.loc) >= 2 and p.loc[0] == "shared_memory"
    }
    # a stream name defined twice is ambiguous: do not bind kernels to it
    duplicated = {
        s.name
        for i, s in enumerate(parsed.streams)
        if s is not None and i in bad_streams
    }
    for index, kernel in enumerate(parsed.kernels):
        if kernel is None:
            continue
        names = (*kernel.all_inputs, *kernel.all_outputs)
        bindable = all(name in built and name not in duplicated for name in names)
        try:
            if bindable:
                registry.validate(kernel, built)
            elif hasattr(registry, "get"):
                # streams are broken (already reported); the kind can still be
                # checked on its own
                try:
                    registry.get(kernel.kind)
                except ConfigValidationError as exc:
                    raise ConfigValidationError(f"kind: {exc.message}") from None
        except ConfigValidationError as exc:
            message = _kernel_message(exc.message, index, kernel.name)
        except Exception as exc:  # a third-party registry or kernel misbehaving
            message = _kernel_message(
                f"validation raised {type(exc).__name__}: {exc}", index, kernel.name
            )
        else:
            continue
        if message not in seen:
            seen.add(message)
            errors.append(render(message, ("kernels", index)))
    if not parsed.problems.items:
        built_config = parsed.config()
        if built_config is not None:
            errors += _endpoint_errors(built_config, registry, built)
    return errors


def _model_errors(config: PipelineConfig, registry: KernelRegistry | None) -> list[str]:
    """Errors of a config whose entries were validated when it was built:
    the cross-entry rules of the graph and each kernel's binding rules."""
    errors = cross_entry_errors(config)
    if errors:
        return errors
    if registry is None:
        from shmpipeline.registry import get_default_registry

        registry = get_default_registry()
    streams = config.shared_memory_by_name
    errors += _endpoint_errors(config, registry, streams)
    for index, kernel in enumerate(config.kernels):
        try:
            registry.validate(kernel, streams)
        except ConfigValidationError as exc:
            errors.append(_kernel_message(exc.message, index, kernel.name))
        except Exception as exc:  # a third-party registry or kernel misbehaving
            errors.append(
                _kernel_message(
                    f"validation raised {type(exc).__name__}: {exc}", index, kernel.name
                )
            )
    return errors


def _endpoint_errors(
    config: Any, registry: KernelRegistry | None, streams: Mapping[str, Any]
) -> list[str]:
    """Each source's and sink's own checks (its plugin's ``validate_config``),
    messages prefixed with the entry as config loading does."""
    errors: list[str] = []
    for section, method in (("sources", "validate_source"), ("sinks", "validate_sink")):
        validate = getattr(registry, method, None)
        for index, endpoint in enumerate(getattr(config, section, ())):
            if validate is None:
                errors.append(
                    f"{section}[{index}] {endpoint.name!r}: the registry cannot "
                    "validate sources and sinks"
                )
                continue
            try:
                validate(endpoint, streams)
            except ConfigValidationError as exc:
                own = f"{section[:-1]} {endpoint.name!r}: "
                message = exc.message
                if message.startswith(own):
                    message = message[len(own) :]
                errors.append(f"{section}[{index}] {endpoint.name!r}: {message}")
            except Exception as exc:
                errors.append(
                    f"{section}[{index}] {endpoint.name!r}: validation raised "
                    f"{type(exc).__name__}: {exc}"
                )
    if not errors:
        errors += _feedback_errors(config, registry)
    return errors


def _feedback_errors(config: Any, registry: KernelRegistry | None) -> list[str]:
    """Lockstep sources (``required_feedback_aliases``) need their response
    to come back through kernels that forward the frame_id token: trace each
    feedback auxiliary, a sink's output, back to the source's own streams."""
    errors: list[str] = []
    by_output = {name: k for k in config.kernels for name in k.all_outputs}
    sink_of = {name: s for s in config.sinks for name in s.outputs}
    get_source = getattr(registry, "get_source", None)
    for index, source in enumerate(config.sources):
        if get_source is None:
            break
        aliases = tuple(getattr(get_source(source.kind), "required_feedback_aliases", ()))
        where = f"sources[{index}] {source.name!r}"
        for alias in aliases:
            stream = source.auxiliary_by_alias.get(alias)
            if stream is None:
                errors.append(f"{where}: auxiliary: requires feedback alias {alias!r}")
                continue
            sink = sink_of.get(stream)
            if sink is None:
                errors.append(
                    f"{where}: auxiliary.{alias}: feedback stream {stream!r} must be "
                    "declared as a sink output"
                )
                continue
            pending, seen = [sink.stream], set()
            while pending:
                name = pending.pop()
                if name in source.output_streams or name in seen:
                    continue
                seen.add(name)
                kernel = by_output.get(name)
                if kernel is None:
                    errors.append(
                        f"{where}: auxiliary.{alias}: feedback path cannot trace "
                        f"sink input {name!r} to a source output"
                    )
                elif not kernel.propagate_frame_id:
                    errors.append(
                        f"{where}: auxiliary.{alias}: kernel {kernel.name!r} on the "
                        "feedback path must set propagate_frame_id: true"
                    )
                else:
                    pending.extend(kernel.trigger_inputs)
    return errors
