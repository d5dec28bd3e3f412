"""Pipeline graph introspection: structure, order, loops and descriptions.

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

Whole-pipeline validation (:func:`validate_pipeline_config`, the rules
across entries) lives in :mod:`shmpipeline.pipeline_validation`; the graph
re-exports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline._problems import show
from shmpipeline.config import KernelConfig, PipelineConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.pipeline_validation import cross_entry_errors, validate_pipeline_config

__all__ = ["GraphEdge", "PipelineGraph", "triggered_kernels", "validate_pipeline_config"]


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
        """Return the directed edges in stream-node-stream form, as the
        published package lists them: each source (auxiliaries, then
        ``source``/``source:i`` to its streams), each kernel in config order
        (``input``/``input:i``, auxiliaries, ``output``), each sink
        (auxiliaries, ``sink`` from its stream, ``sink_output`` to what it
        writes back)."""
        edges: list[GraphEdge] = []

        def auxiliaries(node: Any) -> None:
            for binding in node.auxiliary:
                role = f"auxiliary:{binding.alias}"
                edges.append(GraphEdge(binding.name, node.name, role, binding.name))

        for source in self.config.sources:
            auxiliaries(source)
            for index, name in enumerate(source.output_streams):
                role = "source" if index == 0 else f"source:{index}"
                edges.append(GraphEdge(source.name, name, role, name))
        for kernel in self._kernels:
            for index, name in enumerate(kernel.trigger_inputs):
                role = "input" if index == 0 else f"input:{index}"
                edges.append(GraphEdge(name, kernel.name, role, name))
            auxiliaries(kernel)
            for name in kernel.all_outputs:
                edges.append(GraphEdge(kernel.name, name, "output", name))
        for sink in self.config.sinks:
            auxiliaries(sink)
            edges.append(GraphEdge(sink.stream, sink.name, "sink", sink.stream))
            for name in sink.output_streams:
                edges.append(GraphEdge(sink.name, name, "sink_output", name))
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

    def reachable_kernels(self, kernel_name: str) -> tuple[str, ...]:
        """Kernels reachable from ``kernel_name`` through its outputs (any
        role, transitively; itself only across a loop), sorted. Raises
        ``KeyError`` for an unknown kernel."""
        seen: set[str] = set()
        todo = list(self.downstream_kernels(kernel_name))
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self.downstream_kernels(name))
        return tuple(sorted(seen))

    def lockstep_lags(self) -> dict[str, tuple[tuple[str, int], ...]]:
        """Per kernel: ``(alias, lag)`` for each auxiliary a kernel of the
        pipeline produces. Lag 1 when that producer is the kernel itself or
        downstream of it (a feedback loop: frame k-1 is the newest it can
        wait for), else 0 (wait for frame k)."""
        lags: dict[str, tuple[tuple[str, int], ...]] = {}
        for kernel in self._kernels:
            reachable = set(self.reachable_kernels(kernel.name))
            entries = []
            for binding in kernel.auxiliary:
                producers = self.producers(binding.name)
                if not producers:
                    continue
                loop = producers[0] in reachable or producers[0] == kernel.name
                entries.append((binding.alias, 1 if loop else 0))
            lags[kernel.name] = tuple(entries)
        return lags

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
        """Return graph-level validation errors (every one, not just the first):
        the rules across entries of
        :func:`~shmpipeline.pipeline_validation.cross_entry_errors` (unique
        names, defined streams, one producer per stream...)."""
        return cross_entry_errors(self.config)

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
        # every node writing / reading a stream: kernels and endpoints
        writers: dict[str, list[str]] = {}
        readers: dict[str, list[str]] = {}
        for edge in self.edges:
            if edge.role in ("output", "sink_output") or edge.role.startswith("source"):
                writers.setdefault(edge.stream, []).append(edge.source)
            else:
                readers.setdefault(edge.stream, []).append(edge.target)
        out: dict[str, Any] = {
            "shared_memory": [
                {
                    "name": spec.name,
                    "shape": [int(dim) for dim in spec.shape],
                    "dtype": str(spec.dtype),
                    "storage": spec.storage,
                    "gpu_device": spec.gpu_device,
                    "cpu_mirror": spec.cpu_mirror,
                    "producers": tuple(sorted(writers.get(spec.name, ()))),
                    "consumers": tuple(sorted(readers.get(spec.name, ()))),
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
        title = f"Pipeline Graph: {len(specs)} streams, {len(kernels)} kernels"
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


def triggered_kernels(config: PipelineConfig, written: Iterable[str]) -> tuple[str, ...]:
    """Kernels that run when the streams ``written`` get a new frame: those
    whose trigger is written, transitively through their outputs (in config
    order). Auxiliary edges trigger nothing."""
    by_input: dict[str, list[Any]] = {}
    for kernel in config.kernels:
        by_input.setdefault(kernel.input, []).append(kernel)
    reached: set[str] = set()
    pending = list(written)
    seen_streams = set(pending)
    while pending:
        stream = pending.pop()
        for kernel in by_input.get(stream, ()):
            if kernel.name in reached:
                continue
            reached.add(kernel.name)
            if kernel.output not in seen_streams:
                seen_streams.add(kernel.output)
                pending.append(kernel.output)
    return tuple(k.name for k in config.kernels if k.name in reached)
