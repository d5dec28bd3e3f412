"""Pipeline graph introspection and validation helpers.

:class:`PipelineGraph` is a read-only view of a :class:`PipelineConfig` as a
bipartite graph of streams and kernels. Edges go stream -> kernel (role
``input`` for the trigger, ``auxiliary:<alias>`` for an auxiliary) and kernel
-> stream (role ``output``).

Feedback loops. Adaptive-optics loops feed a late stage's output back as an
*auxiliary* of an earlier stage (e.g. the last command as an offset). That is
legal: auxiliaries are read as "latest frame", they do not trigger.
:meth:`PipelineGraph.topological_order` therefore orders kernels by trigger
edges only (auxiliary edges are honoured when they do not close a loop), and
:meth:`PipelineGraph.cycles` reports the feedback loops. A loop made of
trigger edges alone is legal too (it runs only once something external seeds
it); the order then lists its kernels in config order.

Unknown kernel names given to :meth:`upstream_kernels` /
:meth:`downstream_kernels` raise ``KeyError`` (as a dict lookup would, and as
the published package does), with a message listing the known kernels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shmpipeline._config_parse import (
    KernelWiring,
    cross_entry_problems,
    kernel_wiring_problems,
    parse_pipeline_checked,
    producer_problems,
    raw_from_config,
)
from shmpipeline._problems import Problems, show
from shmpipeline._yaml import line_of, load_yaml_file
from shmpipeline.config import KernelConfig, PipelineConfig
from shmpipeline.errors import ConfigValidationError

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["GraphEdge", "PipelineGraph", "validate_pipeline_config"]


@dataclass(frozen=True)
class GraphEdge:
    """One directed graph edge between a stream and a kernel.

    ``source``/``target`` are a stream and a kernel name (in either order);
    ``role`` is ``input``, ``auxiliary:<alias>`` or ``output``; ``stream`` is
    the stream the edge carries.
    """

    source: str
    target: str
    role: str
    stream: str


def _jsonable(value: Any) -> Any:
    """A JSON-serialisable copy of a parameter value (unknown types as text)."""
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


class PipelineGraph:
    """Derived graph view of one pipeline configuration.

    Works on any :class:`PipelineConfig`, including hand-built invalid ones:
    references to undefined streams simply have no producer, and
    :meth:`validation_errors` reports them.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self._kernels: tuple[KernelConfig, ...] = tuple(config.kernels)
        self._index = {k.name: i for i, k in reversed(list(enumerate(self._kernels)))}
        self._stream_names: tuple[str, ...] = tuple(
            s.name for s in config.shared_memory
        )
        streams = dict.fromkeys(self._stream_names)
        for kernel in self._kernels:
            for name in (*kernel.all_inputs, *kernel.all_outputs):
                streams.setdefault(name)
        self._producers: dict[str, list[str]] = {name: [] for name in streams}
        self._consumers: dict[str, list[str]] = {name: [] for name in streams}
        for kernel in self._kernels:
            for name in kernel.all_outputs:
                if kernel.name not in self._producers[name]:
                    self._producers[name].append(kernel.name)
            for name in kernel.all_inputs:
                if kernel.name not in self._consumers[name]:
                    self._consumers[name].append(kernel.name)

    @classmethod
    def from_config(cls, config: PipelineConfig) -> PipelineGraph:
        """Build a graph view from one loaded configuration."""
        return cls(config)

    # --- structure -----------------------------------------------------------------

    @property
    def edges(self) -> tuple[GraphEdge, ...]:
        """Return the directed edges in stream-kernel-stream form (per kernel
        in config order: input, auxiliaries, output)."""
        edges: list[GraphEdge] = []
        for kernel in self._kernels:
            for index, name in enumerate(kernel.trigger_inputs):
                role = "input" if index == 0 else f"input:{index}"
                edges.append(GraphEdge(name, kernel.name, role, name))
            for binding in kernel.auxiliary:
                edges.append(
                    GraphEdge(
                        binding.name,
                        kernel.name,
                        f"auxiliary:{binding.alias}",
                        binding.name,
                    )
                )
            for index, name in enumerate(kernel.all_outputs):
                role = "output" if index == 0 else f"output:{index}"
                edges.append(GraphEdge(kernel.name, name, role, name))
        return tuple(edges)

    def _kernel(self, kernel_name: str) -> KernelConfig:
        index = self._index.get(kernel_name)
        if index is None:
            known = ", ".join(repr(k.name) for k in self._kernels) or "none"
            raise KeyError(f"unknown kernel {kernel_name!r} (known: {known})")
        return self._kernels[index]

    def producers(self, stream_name: str) -> tuple[str, ...]:
        """Kernels writing ``stream_name`` (more than one is a config error)."""
        return tuple(self._producers.get(stream_name, ()))

    def consumers(self, stream_name: str) -> tuple[str, ...]:
        """Kernels reading ``stream_name`` (as trigger or auxiliary)."""
        return tuple(self._consumers.get(stream_name, ()))

    def source_streams(self) -> tuple[str, ...]:
        """Return streams that are only written externally into the graph
        (consumed by some kernel, produced by none), sorted."""
        return tuple(
            sorted(
                name
                for name in self._stream_names
                if self._consumers[name] and not self._producers[name]
            )
        )

    def sink_streams(self) -> tuple[str, ...]:
        """Return streams that are produced but not consumed downstream, sorted."""
        return tuple(
            sorted(
                name
                for name in self._stream_names
                if self._producers[name] and not self._consumers[name]
            )
        )

    def orphaned_streams(self) -> tuple[str, ...]:
        """Return streams unused by all kernels (neither read nor written), sorted."""
        return tuple(
            sorted(
                name
                for name in self._stream_names
                if not self._producers[name] and not self._consumers[name]
            )
        )

    def upstream_kernels(self, kernel_name: str) -> tuple[str, ...]:
        """Return kernels that feed any input (trigger or auxiliary) of the
        target kernel, sorted. Raises ``KeyError`` for an unknown kernel."""
        kernel = self._kernel(kernel_name)
        upstream = {p for name in kernel.all_inputs for p in self._producers[name]}
        upstream.discard(kernel.name)
        return tuple(sorted(upstream))

    def downstream_kernels(self, kernel_name: str) -> tuple[str, ...]:
        """Return kernels that consume the target kernel's output (as trigger
        or auxiliary), sorted. Raises ``KeyError`` for an unknown kernel."""
        kernel = self._kernel(kernel_name)
        downstream = {c for name in kernel.all_outputs for c in self._consumers[name]}
        downstream.discard(kernel.name)
        return tuple(sorted(downstream))

    # --- ordering and loops --------------------------------------------------------

    def _dependencies(self, *, auxiliary: bool) -> list[set[int]]:
        """Per kernel index: indices of the kernels it depends on."""
        deps: list[set[int]] = []
        for index, kernel in enumerate(self._kernels):
            names = kernel.all_inputs if auxiliary else kernel.trigger_inputs
            found = {
                self._index[p]
                for name in names
                for p in self._producers[name]
                if p in self._index
            }
            found.discard(index)
            deps.append(found)
        return deps

    def topological_order(self) -> tuple[str, ...]:
        """Kernel names, each after the producer of its trigger input.

        Auxiliary producers also come first when that does not contradict a
        trigger edge or close a feedback loop; ties keep config order. Kernels
        on a trigger-only loop are kept together, in config order, after every
        trigger producer outside the loop. Every kernel appears exactly once.
        """
        trigger = self._dependencies(auxiliary=False)
        every = self._dependencies(auxiliary=True)
        groups = self._components(trigger)  # singletons, or trigger loops
        group_of = {member: g for g, members in enumerate(groups) for member in members}

        def outside(deps: list[set[int]], g: int) -> set[int]:
            return {d for m in groups[g] for d in deps[m] if group_of[d] != g}

        needs = [outside(trigger, g) for g in range(len(groups))]
        wants = [outside(every, g) for g in range(len(groups))]
        placed: set[int] = set()
        order: list[int] = []
        remaining = sorted(range(len(groups)), key=lambda g: groups[g][0])
        while remaining:
            ready = [g for g in remaining if needs[g] <= placed]
            # the trigger condensation is acyclic, so something is ready
            preferred = [g for g in ready if wants[g] <= placed]
            pick = (preferred or ready)[0]
            order.extend(groups[pick])
            placed.update(groups[pick])
            remaining.remove(pick)
        return tuple(self._kernels[i].name for i in order)

    @staticmethod
    def _components(deps: list[set[int]]) -> list[list[int]]:
        """Strongly connected components of the "depends on" graph (iterative
        Tarjan), each sorted, singletons included."""
        index_of: dict[int, int] = {}
        low: dict[int, int] = {}
        on_stack: set[int] = set()
        stack: list[int] = []
        groups: list[list[int]] = []
        counter = 0
        for root in range(len(deps)):
            if root in index_of:
                continue
            work: list[tuple[int, list[int]]] = [(root, sorted(deps[root]))]
            index_of[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack.add(root)
            while work:
                node, pending = work[-1]
                if pending:
                    child = pending.pop()
                    if child not in index_of:
                        index_of[child] = low[child] = counter
                        counter += 1
                        stack.append(child)
                        on_stack.add(child)
                        work.append((child, sorted(deps[child])))
                    elif child in on_stack:
                        low[node] = min(low[node], index_of[child])
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index_of[node]:
                    group: list[int] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(sorted(group))
        return groups

    def cycles(self, *, include_auxiliary: bool = True) -> tuple[tuple[str, ...], ...]:
        """Feedback loops: groups of kernels that (transitively) feed each other.

        Each group is a strongly connected set of kernels listed in config
        order; groups are ordered by their first kernel. With
        ``include_auxiliary=False`` only trigger edges count (a loop then can
        only run once something external seeds it).
        """
        deps = self._dependencies(auxiliary=include_auxiliary)
        groups = sorted(
            (g for g in self._components(deps) if len(g) > 1), key=lambda g: g[0]
        )
        return tuple(tuple(self._kernels[i].name for i in g) for g in groups)

    # --- validation ------------------------------------------------------------------

    def validation_errors(self) -> list[str]:
        """Return graph-level validation errors (every one, not just the first).

        Duplicate stream or kernel names, references to undefined streams, a
        stream with more than one producer, a kernel whose output is its
        trigger or one of its auxiliaries, an auxiliary stream bound twice.
        Messages name the entry and field as config loading does.
        """
        problems = Problems()
        streams = [
            (f"shared_memory[{i}] {s.name!r}", ("shared_memory", i), s.name)
            for i, s in enumerate(self.config.shared_memory)
        ]
        refs = []
        for i, kernel in enumerate(self._kernels):
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
            ("sources", getattr(self.config, "sources", ())),
            ("sinks", getattr(self.config, "sinks", ())),
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

    def raise_for_errors(self) -> None:
        """Raise the first graph validation error (all of them in ``errors``)."""
        errors = self.validation_errors()
        if errors:
            raise ConfigValidationError(errors[0], errors=errors)

    # --- output ------------------------------------------------------------------------

    def _stream_role(self, name: str) -> str:
        produced, consumed = bool(self._producers[name]), bool(self._consumers[name])
        if produced and consumed:
            return "intermediate"
        if produced:
            return "sink"
        if consumed:
            return "source"
        return "orphan"

    def to_dict(self) -> dict[str, Any]:
        """Serialize the graph into a JSON-serialisable mapping for the CLI.

        Name lists the published package returns as tuples (producers,
        consumers, upstream/downstream kernels, source/sink/orphaned
        streams) are tuples here too; JSON writes them as arrays.

        Keys: ``shared_memory`` (per stream: name, shape, dtype, storage,
        gpu_device, cpu_mirror, producers, consumers, role), ``kernels`` (per
        kernel: name, kind, input, output, auxiliary {alias: stream},
        operation, parameters, upstream/downstream kernels), ``edges``,
        ``source_streams``, ``sink_streams``, ``orphaned_streams``,
        ``topological_order``, ``cycles``, ``validation_errors``.
        """
        out: dict[str, Any] = {
            "shared_memory": [
                {
                    "name": spec.name,
                    "shape": [int(dim) for dim in spec.shape],
                    "dtype": str(spec.dtype),
                    "storage": spec.storage,
                    "gpu_device": spec.gpu_device,
                    "cpu_mirror": spec.cpu_mirror,
                    "producers": tuple(self._producers[spec.name]),
                    "consumers": tuple(self._consumers[spec.name]),
                    "role": self._stream_role(spec.name),
                }
                for spec in self.config.shared_memory
            ],
            "kernels": [
                {
                    "name": kernel.name,
                    "kind": kernel.kind,
                    "input": kernel.input,
                    "output": kernel.output,
                    "auxiliary": dict(kernel.auxiliary_by_alias),
                    "operation": kernel.operation,
                    "parameters": _jsonable(kernel.parameters),
                    "upstream_kernels": self.upstream_kernels(kernel.name),
                    "downstream_kernels": self.downstream_kernels(kernel.name),
                }
                for kernel in self._kernels
            ],
            "edges": [
                {
                    "source": edge.source,
                    "target": edge.target,
                    "role": edge.role,
                    "stream": edge.stream,
                }
                for edge in self.edges
            ],
            "source_streams": self.source_streams(),
            "sink_streams": self.sink_streams(),
            "orphaned_streams": self.orphaned_streams(),
            "topological_order": list(self.topological_order()),
            "cycles": [list(group) for group in self.cycles()],
            "validation_errors": self.validation_errors(),
        }
        for entry, kernel in zip(out["kernels"], self._kernels, strict=True):
            if len(kernel.trigger_inputs) > 1:
                entry["inputs"] = list(kernel.trigger_inputs)
                entry["trigger_policy"] = kernel.trigger_policy
            if len(kernel.all_outputs) > 1:
                entry["outputs"] = list(kernel.all_outputs)
        endpoints = {
            "sources": [e.to_dict() for e in getattr(self.config, "sources", ())],
            "sinks": [e.to_dict() for e in getattr(self.config, "sinks", ())],
        }
        out.update({key: value for key, value in endpoints.items() if value})
        return out

    def describe(self) -> str:
        """Return a human-readable, multi-line pipeline graph summary."""
        specs = list(self.config.shared_memory)
        kernels = self._kernels
        title = f"Pipeline: {len(specs)} streams, {len(kernels)} kernels"
        if self.config.source_path is not None:
            title += f" ({self.config.source_path})"
        lines = [title, "", "Streams:"]
        width = max((len(s.name) for s in specs), default=0)
        for spec in specs:
            shape = "x".join(str(dim) for dim in spec.shape)
            storage = spec.storage
            if spec.gpu_device:
                storage += f"@{spec.gpu_device}"
            if spec.cpu_mirror:
                storage += "+mirror"
            producers = ", ".join(self._producers[spec.name]) or "external"
            consumers = ", ".join(self._consumers[spec.name]) or "none"
            lines.append(
                f"  {spec.name:<{width}}  {str(spec.dtype):<8} {shape:<12} "
                f"{storage:<4} {self._stream_role(spec.name):<12} "
                f"written by {producers}; read by {consumers}"
            )
        lines += ["", "Kernels (in trigger order):"]
        by_name = {k.name: k for k in kernels}
        order = self.topological_order()
        for number, name in enumerate(order, start=1):
            kernel = by_name[name]
            text = (
                f"  {number}. {name} [{kernel.kind}] {', '.join(kernel.trigger_inputs)}"
                f" -> {', '.join(kernel.all_outputs)}"
            )
            if kernel.auxiliary:
                text += "  aux: " + ", ".join(
                    b.name if b.alias == b.name else f"{b.alias}={b.name}"
                    for b in kernel.auxiliary
                )
            if kernel.operation:
                text += f"  operation: {kernel.operation}"
            if kernel.parameters:
                text += "  params: " + ", ".join(
                    f"{key}={show(value)}"
                    for key, value in kernel.parameters.items()
                )
            lines.append(text)
        lines += [
            "",
            "Sources: " + (", ".join(self.source_streams()) or "none"),
            "Sinks: " + (", ".join(self.sink_streams()) or "none"),
        ]
        for source in getattr(self.config, "sources", ()):
            lines.append(
                f"Source plugin: {source.name} [{source.kind}] -> "
                + ", ".join(source.output_streams)
            )
        for sink in getattr(self.config, "sinks", ()):
            outputs = f" -> {', '.join(sink.outputs)}" if sink.outputs else ""
            lines.append(f"Sink plugin: {sink.name} [{sink.kind}] {sink.stream}{outputs}")
        orphaned = self.orphaned_streams()
        if orphaned:
            lines.append("Orphaned streams: " + ", ".join(orphaned))
        loops = self.cycles()
        trigger_loops = set(self.cycles(include_auxiliary=False))
        for group in loops:
            how = "trigger edges" if group in trigger_loops else "auxiliary inputs"
            lines.append(f"Feedback loop (through {how}): " + " -> ".join(group))
        errors = self.validation_errors()
        if errors:
            lines += ["", "Validation errors:"]
            lines += [f"  - {error}" for error in errors]
        return "\n".join(lines)


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
            graph_errors = PipelineGraph(config).validation_errors()
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
    errors = PipelineGraph(config).validation_errors()
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
