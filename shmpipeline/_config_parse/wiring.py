"""The parsed wiring of one kernel, source or sink, and the rules on it.

:class:`KernelWiring` is what the per-entry checks, the cross-entry checks
(unique names, defined streams) and the graph rules
(:mod:`shmpipeline.graph`) share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shmpipeline._problems import Loc, Problems, did_you_mean, show
from shmpipeline.config import AuxiliaryBinding

__all__ = [
    "KernelWiring",
    "cross_entry_problems",
    "kernel_wiring_problems",
    "producer_problems",
]

@dataclass
class KernelWiring:
    """The wiring of one kernel, as far as it could be parsed (for cross checks
    shared by config loading and :class:`~shmpipeline.graph.PipelineGraph`)."""

    where: str
    loc: Loc
    name: str | None
    input: str | None
    output: str | None
    auxiliary: list[tuple[AuxiliaryBinding, Any]]
    #: every trigger input / output with the field and location naming it
    #: (defaults to the primary input / output alone)
    inputs: list[tuple[str, str, Loc]] | None = None
    outputs: list[tuple[str, str, Loc]] | None = None

    def trigger_refs(self) -> list[tuple[str, str, Loc]]:
        return self._refs(self.inputs, self.input, "input")

    def output_refs(self) -> list[tuple[str, str, Loc]]:
        return self._refs(self.outputs, self.output, "output")

    def _refs(
        self, listed: list[tuple[str, str, Loc]] | None, single: str | None, field: str
    ) -> list[tuple[str, str, Loc]]:
        """The list form when given, else the single field (or nothing)."""
        if listed is not None:
            return listed
        if single is None:
            return []
        return [(single, field, (*self.loc, field))]


def _listed_twice(name: str, role: str) -> str:
    return (
        f"stream {show(name)} is listed twice; a kernel cannot declare "
        f"the same {role} stream more than once"
    )


def kernel_wiring_problems(ref: KernelWiring, problems: Problems) -> None:
    """Rules about one kernel's own bindings."""
    where, loc = ref.where, ref.loc
    triggers = ref.trigger_refs()
    outputs = ref.output_refs()
    trigger_names: set[str] = set()
    for name, field_name, item_loc in triggers:
        if name in trigger_names:
            problems.add(
                where, field_name, _listed_twice(name, "trigger input"), item_loc
            )
        trigger_names.add(name)
    output_names: set[str] = set()
    for name, field_name, item_loc in outputs:
        if name in trigger_names:
            problems.add(
                where,
                field_name,
                f"is the trigger input {show(name)}; a kernel cannot write the "
                "stream that triggers it",
                item_loc,
            )
        elif name in output_names:
            problems.add(where, field_name, _listed_twice(name, "output"), item_loc)
        output_names.add(name)
    bound: dict[str, str] = {}
    for binding, key in ref.auxiliary:
        field_name = f"auxiliary.{binding.alias}"
        item_loc = (*loc, "auxiliary", key)
        if binding.name in trigger_names:
            problems.add(
                where,
                field_name,
                f"stream {show(binding.name)} is already the trigger input",
                item_loc,
            )
        elif binding.name in output_names:
            problems.add(
                where,
                field_name,
                f"stream {show(binding.name)} is the kernel's own output",
                item_loc,
            )
        elif binding.name in bound:
            problems.add(
                where,
                field_name,
                f"stream {show(binding.name)} is already bound to alias "
                f"{show(bound[binding.name])}",
                item_loc,
            )
        bound.setdefault(binding.name, binding.alias)


def cross_entry_problems(
    streams: Sequence[tuple[str, Loc, str | None]],
    kernels: Sequence[KernelWiring],
    problems: Problems,
    *,
    producers: bool = False,
) -> None:
    """Rules across entries: unique names, defined streams, and (with
    ``producers``, the graph's rule) one producer per stream.

    ``streams`` holds ``(where, loc, name)`` per shared_memory entry.
    """
    defined: dict[str, str] = {}
    for where, loc, name in streams:
        if name is None:
            continue
        if name in defined:
            problems.add(
                where,
                "name",
                f"duplicate shared memory name (also {defined[name]})",
                (*loc, "name"),
            )
        else:
            defined[name] = where
    kernel_names: dict[str, str] = {}
    for ref in kernels:
        if ref.name is None:
            continue
        if ref.name in kernel_names:
            other = kernel_names[ref.name]
            both_kernels = ref.where.startswith("kernels[") and other.startswith(
                "kernels["
            )
            problems.add(
                ref.where,
                "name",
                f"duplicate kernel name (also {other})"
                if both_kernels
                else f"duplicate name (also {other}); pipeline node names must "
                "be unique across kernels, sources, and sinks",
                (*ref.loc, "name"),
            )
        else:
            kernel_names[ref.name] = ref.where

    def check_defined(ref: KernelWiring, field_name: str, stream: str | None, loc: Loc):
        if stream is not None and stream not in defined:
            problems.add(
                ref.where,
                field_name,
                f"undefined shared memory {show(stream)}"
                + did_you_mean(stream, list(defined)),
                loc,
            )

    produced: dict[str, str] = {}
    for ref in kernels:
        for stream, field_name, loc in ref.trigger_refs():
            check_defined(ref, field_name, stream, loc)
        for binding, key in ref.auxiliary:
            check_defined(
                ref,
                f"auxiliary.{binding.alias}",
                binding.name,
                (*ref.loc, "auxiliary", key),
            )
        for stream, field_name, loc in ref.output_refs():
            check_defined(ref, field_name, stream, loc)
            if producers:
                _producer_problem(ref, stream, field_name, loc, produced, problems)


def _producer_problem(
    ref: KernelWiring,
    stream: str,
    field_name: str,
    loc: Loc,
    produced: dict[str, str],
    problems: Problems,
) -> None:
    if stream in produced:
        other = produced[stream]
        phrase = (
            "multiple producer kernels"
            if ref.where.startswith("kernels[") and other.startswith("kernels[")
            else "multiple producers"
        )
        problems.add(
            ref.where,
            field_name,
            f"shared memory {show(stream)} is already produced by "
            f"{other} ({phrase}); a stream has at most one producer",
            loc,
        )
    else:
        produced[stream] = ref.where


def producer_problems(kernels: Sequence[KernelWiring], problems: Problems) -> None:
    """The graph rule alone: a stream has at most one producer."""
    produced: dict[str, str] = {}
    for ref in kernels:
        for stream, field_name, loc in ref.output_refs():
            _producer_problem(ref, stream, field_name, loc, produced, problems)
