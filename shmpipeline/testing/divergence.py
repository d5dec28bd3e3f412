"""Where a run first left its golden: streams in pipeline order and the stage
that wrote the first diverging frame.

Streams are ordered as data flows (sources, then each kernel's output in
topological order), so a report reads from cause to consequence. The first
divergence is the failing stream with the earliest diverging frame, ties
going to the stream earliest in that order: its writer is the stage to look
at first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Divergence", "first_divergence", "stream_order"]


def stream_order(pipeline: Any) -> list[str]:
    """Every stream of ``pipeline``: sources first (config order), then the
    outputs of the kernels in topological order, then any other stream."""
    from shmpipeline.graph import PipelineGraph

    graph = PipelineGraph.from_config(pipeline)
    kernels = pipeline.kernels_by_name
    try:
        order = list(graph.topological_order())
    except Exception:  # noqa: BLE001 - a cycle: fall back to config order
        order = [k.name for k in pipeline.kernels]
    names = [s.name for s in pipeline.shared_memory]
    sources = [n for n in names if n in set(graph.source_streams())]
    produced = [kernels[k].output for k in order if k in kernels]
    return list(dict.fromkeys([*sources, *produced, *names]))


@dataclass(frozen=True)
class Divergence:
    """The first diverging frame and stream, and who wrote that stream:
    ``kernel``/``kind`` for a kernel's output, ``sink`` for a stream captured
    at a sink's input, else ``writer`` (the scenario input feeding a source
    stream)."""

    frame: int | None
    stream: str
    kernel: str | None = None
    kind: str | None = None
    writer: str | None = None
    sink: str | None = None

    def format(self) -> str:
        """``first divergence: frame 5, stream 'slopes', written by kernel
        'flatten' (cpu.flatten)``."""
        where = f"frame {self.frame}, " if self.frame is not None else ""
        text = f"first divergence: {where}stream {self.stream!r}"
        if self.kernel is not None:
            return f"{text}, written by kernel {self.kernel!r} ({self.kind})"
        if self.sink is not None:
            return f"{text}, captured at the input of sink {self.sink!r}"
        if self.writer is not None:
            return f"{text}, written by {self.writer}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "stream": self.stream,
            "kernel": self.kernel,
            "kind": self.kind,
            "writer": self.writer,
            "sink": self.sink,
            "line": self.format(),
        }


def first_divergence(
    failing: Iterable[Any], pipeline: Any, inputs: Any = None
) -> Divergence | None:
    """The :class:`Divergence` of the failing stream comparisons ``failing``
    (objects with ``name`` and ``first_diverging_frame``), ``None`` when
    there are none. ``inputs`` maps source streams to their scenario input
    (named as the writer of a diverging source stream)."""
    order = {name: index for index, name in enumerate(stream_order(pipeline))}
    candidates = list(failing)
    if not candidates:
        return None

    def key(item: Any) -> tuple[int, int, str]:
        frame = item.first_diverging_frame
        return (
            frame if frame is not None else 1 << 62,
            order.get(item.name, len(order)),
            item.name,
        )

    first = min(candidates, key=key)
    writers = [k for k in pipeline.kernels if k.output == first.name]
    if writers:
        return Divergence(
            first.first_diverging_frame, first.name, writers[0].name, writers[0].kind
        )
    writer = None
    for sink in getattr(pipeline, "sinks", None) or ():
        reads = getattr(sink, "input", None) or getattr(sink, "stream", None)
        if reads == first.name:
            return Divergence(
                first.first_diverging_frame,
                first.name,
                sink=str(getattr(sink, "name", "?")),
            )
    spec = (inputs or {}).get(first.name)
    if spec is not None:
        kind = next(iter(spec.describe()), "input")
        writer = f"the scenario's {kind} input"
    return Divergence(first.first_diverging_frame, first.name, writer=writer)
