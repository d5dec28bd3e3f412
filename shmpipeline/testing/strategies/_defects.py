"""The defects an invalid-pipeline case injects: one mutator per defect.

A mutator gets a :class:`DefectCase` (a raw pipeline mapping, its own copy,
and the draft it was rendered from), breaks exactly one thing in the mapping
and returns the fragments the resulting error message must contain; it
returns ``None`` when the pipeline offers nothing to break that way.
:data:`MUTATORS` lists them in shrinking order. Kernel-rule defects read each
built-in class's declarations: the bad values of a parameter follow from its
declared type and limits (``parameter_specs``), wrong auxiliary counts from
``auxiliary_arity``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from shmpipeline.testing.strategies._kernels import BUILTIN_BUILDERS
from shmpipeline.testing.strategies._pipelines import PipelineDraft

__all__ = [
    "BAD_SHAPES",
    "DEFECTS",
    "MUTATORS",
    "DefectCase",
    "Mutator",
    "fixed_arity",
    "invalid_values",
    "pick",
]


_MISSING = "zz_missing"
_FOREIGN_F8 = ">f8" if sys.byteorder == "little" else "<f8"
_NEW = "zz_new"


@dataclass
class DefectCase:
    """What a mutator sees: the raw mapping (its own copy), the draft, and
    the kernels run by built-in cpu classes (index -> class)."""

    raw: dict[str, Any]
    draft: PipelineDraft
    classes: dict[int, type]

    @property
    def builtin(self) -> dict[int, str]:
        """Index -> kind suffix of the built-in kernels."""
        kernels = self.draft.kernels
        return {i: kernels[i].kind.split(".", 1)[1] for i in self.classes}

    def kernel_where(self, index: int) -> str:
        return f"kernels[{index}] {self.draft.kernels[index].name!r}"

    def stream_where(self, index: int) -> str:
        return f"shared_memory[{index}] {self.draft.streams[index].name!r}"

    def stream_index(self, name: str) -> int:
        return [s.name for s in self.draft.streams].index(name)

    def kernel_raw(self, index: int) -> dict[str, Any]:
        return self.raw["kernels"][index]

    def stream_raw(self, name: str) -> dict[str, Any]:
        return self.raw["shared_memory"][self.stream_index(name)]


Mutator = Callable[[Any, DefectCase], tuple[str, ...] | None]


def pick(draw: Any, indices: Sequence[int]) -> int | None:
    """One of ``indices`` (None when there is none)."""
    return draw(st.sampled_from(list(indices))) if indices else None


def _undefined_stream(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    raw = case.kernel_raw(index)
    triggers = [f"inputs[{j}]" for j in range(len(kernel.inputs))] or ["input"]
    fields = [*triggers, "output"]
    fields += [f"aux{j}" for j in range(len(kernel.auxiliary))]
    choice = draw(st.sampled_from(fields))
    if choice in ("input", "output"):
        raw[choice] = _MISSING
        field_name = choice
    elif choice.startswith("inputs["):
        raw["inputs"][int(choice[7:-1])] = _MISSING
        field_name = choice
    else:
        binding = kernel.auxiliary[int(choice[3:])]
        aux = raw["auxiliary"]
        if isinstance(aux, list):
            aux[aux.index(binding.name)] = _MISSING
            field_name = f"auxiliary.{_MISSING}"
        else:
            aux[binding.alias] = _MISSING
            field_name = f"auxiliary.{binding.alias}"
    return (
        f"{case.kernel_where(index)}: {field_name}: undefined shared memory "
        f"{_MISSING!r}",
    )


def _duplicate_producer(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    twin = copy.deepcopy(case.kernel_raw(index))
    twin["name"] = "zz_twin"
    case.raw["kernels"].append(twin)
    new = len(case.raw["kernels"]) - 1
    output = case.draft.kernels[index].output
    return (
        f"kernels[{new}] 'zz_twin': output: shared memory {output!r} is already "
        f"produced by {case.kernel_where(index)}",
    )


def _trigger_is_output(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    case.kernel_raw(index)["output"] = kernel.input
    return (
        f"{case.kernel_where(index)}: output: is the trigger input {kernel.input!r}",
    )


def _auxiliary_is_trigger(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    raw = case.kernel_raw(index)
    aux = raw.get("auxiliary")
    if isinstance(aux, list) and aux:
        aux.append(kernel.input)
        alias = kernel.input
    else:
        raw["auxiliary"] = {**(aux or {}), "zz_alias": kernel.input}
        alias = "zz_alias"
    return (
        f"{case.kernel_where(index)}: auxiliary.{alias}: stream {kernel.input!r} "
        "is already the trigger input",
    )


def _kernel_output_field(case: DefectCase, index: int) -> str:
    return "operation" if case.builtin[index] == "custom_operation" else "output"


def _shape_mismatch(draw: Any, case: DefectCase) -> tuple[str, ...] | None:
    eligible = [i for i, suffix in case.builtin.items() if suffix != "raise_error"]
    index = pick(draw, eligible)
    if index is None:
        return None
    output = case.draft.kernels[index].output
    spec = case.draft.streams[case.stream_index(output)]
    shape = list(spec.shape)
    shape[0] += draw(st.integers(1, 2))
    case.stream_raw(output)["shape"] = shape
    return (
        f"{case.kernel_where(index)}: {_kernel_output_field(case, index)}:",
        "shape",
    )


def _dtype_mismatch(draw: Any, case: DefectCase) -> tuple[str, ...] | None:
    eligible = [i for i, suffix in case.builtin.items() if suffix != "raise_error"]
    index = pick(draw, eligible)
    if index is None:
        return None
    kernel = case.draft.kernels[index]
    by_name = {s.name: s for s in case.draft.streams}
    taken = {by_name[kernel.input].dtype.name, by_name[kernel.output].dtype.name}
    choices = [d for d in ("int16", "int32", "uint8", "int64") if d not in taken]
    case.stream_raw(kernel.output)["dtype"] = draw(st.sampled_from(choices))
    return (
        f"{case.kernel_where(index)}: {_kernel_output_field(case, index)}:",
        "dtype",
    )


def invalid_values(spec: Any) -> tuple[Any, ...]:
    """Values a declared parameter (:class:`~shmpipeline.kernels._parameters.Parameter`)
    rejects whatever the streams are, by its type and limits."""
    if spec.type == "real":
        values: tuple[Any, ...] = ("x", True, None, [1.0])
        if spec.finite:
            values += (float("nan"), float("inf"))
        if spec.positive:
            values += (0, -1.0)
        return values
    if spec.type == "integer":
        return (2.5, True, "1")
    if spec.type == "positive_int":
        return (0, -2, 2.5, True, "4")
    if spec.type == "boolean":
        return (1, "yes", None)
    if spec.type == "choice":
        return ("zz_choice", 1, spec.choices[0].upper())
    return ("", 3)


def _bad_parameter(draw: Any, case: DefectCase) -> tuple[str, ...] | None:
    options: list[tuple[int, str, Any]] = []
    streams = {s.name: s for s in case.draft.streams}
    for index, kernel_cls in case.classes.items():
        config = case.draft.kernels[index]
        for spec in kernel_cls.parameter_specs or ():
            options += [(index, spec.name, value) for value in invalid_values(spec)]
            if spec.required:
                options.append((index, spec.name, _MISSING))
        builder = BUILTIN_BUILDERS.get(config.kind)
        if builder is not None and builder.bad_parameters is not None:
            pairs = builder.bad_parameters(config, streams)
            options += [(index, key, value) for key, value in pairs]
    if not options:
        return None
    index, key, value = draw(st.sampled_from(options))
    raw = case.kernel_raw(index)
    params = dict(raw.get("parameters") or {})
    if isinstance(value, str) and value == _MISSING:
        params.pop(key, None)
    else:
        params[key] = value
    raw["parameters"] = params
    return (f"{case.kernel_where(index)}: parameters.{key}:",)


def _unknown_parameter(draw: Any, case: DefectCase) -> tuple[str, ...] | None:
    index = pick(draw, sorted(case.builtin))
    if index is None:
        return None
    key = draw(st.sampled_from(("zz_bogus", "factr", "Tile_size")))
    raw = case.kernel_raw(index)
    raw["parameters"] = {**(raw.get("parameters") or {}), key: 1}
    return (f"{case.kernel_where(index)}: parameters.{key}:",)


def _bad_operation(draw: Any, case: DefectCase) -> tuple[str, ...] | None:
    index = pick(draw, [i for i, s in case.builtin.items() if s == "custom_operation"])
    if index is None:
        return None
    expression = draw(
        st.sampled_from(
            (
                "input ^ 2",
                "__import__('os')",
                "input.sum()",
                "zz_unknown * 2",
                "input +",
                "sqrt(input, 2)",
                "input if input else 1",
            )
        )
    )
    case.kernel_raw(index)["operation"] = expression
    return (f"{case.kernel_where(index)}: operation:",)


def fixed_arity(kernel_cls: type) -> int | None:
    """The exact auxiliary count a kernel class declares, if it declares one."""
    arity = getattr(kernel_cls, "auxiliary_arity", None)
    return arity if isinstance(arity, int) else None


def _wrong_arity(draw: Any, case: DefectCase) -> tuple[str, ...] | None:
    eligible = [i for i, c in case.classes.items() if fixed_arity(c) is not None]
    index = pick(draw, eligible)
    if index is None:
        return None
    raw = case.kernel_raw(index)
    if fixed_arity(case.classes[index]) == 0:
        case.raw["shared_memory"].append(
            {"name": _NEW, "shape": [1], "dtype": "float32"}
        )
        raw["auxiliary"] = [_NEW]
        count = 1
    else:
        raw.pop("auxiliary")
        count = 0
    return (f"{case.kernel_where(index)}: auxiliary:", f"got {count}")


def _unknown_key(draw: Any, case: DefectCase) -> tuple[str, ...]:
    level = draw(st.sampled_from(("pipeline", "stream", "kernel")))
    key = draw(st.sampled_from(("colour", "zz_extra", "Shape", "Kind", "Inputs")))
    if level == "pipeline":
        case.raw[key] = 1
        return (f"pipeline: unknown key {key!r}",)
    if level == "stream":
        index = draw(st.integers(0, len(case.draft.streams) - 1))
        case.raw["shared_memory"][index][key] = 1
        where = case.stream_where(index)
    else:
        index = draw(st.integers(0, len(case.draft.kernels) - 1))
        case.kernel_raw(index)[key] = 1
        where = case.kernel_where(index)
    return (f"{where}: unknown key {key!r}",)


#: shape values the ``bad_shape`` defect writes (fractions, strings, zero,
#: booleans, negative sides, empty lists, nulls)
BAD_SHAPES: tuple[Any, ...] = (
    2.7,
    "a",
    0,
    True,
    -1,
    False,
    [],
    [4, 2.7],
    [2, 0],
    [3, "4"],
    [True, 2],
    None,
)


def _bad_shape(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    value = draw(st.sampled_from(BAD_SHAPES))
    case.raw["shared_memory"][index]["shape"] = value
    return (f"{case.stream_where(index)}: shape:",)


def _bad_dtype(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    value = draw(
        st.sampled_from(
            (_MISSING, None, "int", "floot32", "object", "U8", 32, _FOREIGN_F8)
        )
    )
    raw = case.raw["shared_memory"][index]
    if value == _MISSING:
        del raw["dtype"]
    else:
        raw["dtype"] = value
    return (f"{case.stream_where(index)}: dtype:",)


def _unknown_kind(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kind = draw(st.sampled_from(("cpu.sclae", "acme.nothing", "gpu.nosuch", "copy2")))
    case.kernel_raw(index)["kind"] = kind
    return (f"{case.kernel_where(index)}: kind:", f"unknown kernel kind {kind!r}")


def _duplicate_stream_name(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    twin = copy.deepcopy(case.raw["shared_memory"][index])
    if draw(st.booleans()):
        twin["shape"] = [1]  # a conflicting definition, not just a repeat
    case.raw["shared_memory"].append(twin)
    new = len(case.raw["shared_memory"]) - 1
    name = case.draft.streams[index].name
    return (
        f"shared_memory[{new}] {name!r}: name: duplicate shared memory name "
        f"(also {case.stream_where(index)})",
    )


def _duplicate_kernel_name(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    output = case.draft.streams[case.stream_index(kernel.output)]
    twin = copy.deepcopy(case.kernel_raw(index))
    twin["output"] = _NEW
    case.raw["shared_memory"].append(
        {"name": _NEW, "shape": list(output.shape), "dtype": output.dtype.name}
    )
    case.raw["kernels"].append(twin)
    new = len(case.raw["kernels"]) - 1
    return (
        f"kernels[{new}] {kernel.name!r}: name: duplicate kernel name "
        f"(also {case.kernel_where(index)})",
    )


def _gpu_device_on_cpu(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    case.raw["shared_memory"][index]["gpu_device"] = draw(
        st.sampled_from(("cuda:0", "cuda"))
    )
    return (f"{case.stream_where(index)}: gpu_device: not allowed on a cpu stream",)


def _bad_storage(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    case.raw["shared_memory"][index]["storage"] = draw(
        st.sampled_from(("tpu", "", 1, "host"))
    )
    return (f"{case.stream_where(index)}: storage:",)


def _missing_field(draw: Any, case: DefectCase) -> tuple[str, ...]:
    if draw(st.booleans()):
        index = draw(st.integers(0, len(case.draft.kernels) - 1))
        key = draw(st.sampled_from(("kind", "input", "output")))
        raw = case.kernel_raw(index)
        # a fan-in lists its triggers under 'inputs'; without either key
        # the error names 'input'
        del raw["inputs" if key == "input" and "inputs" in raw else key]
        return (f"{case.kernel_where(index)}: {key}: required",)
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    del case.raw["shared_memory"][index]["shape"]
    return (f"{case.stream_where(index)}: shape: required",)


def _bad_timing(draw: Any, case: DefectCase) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    key = draw(st.sampled_from(("read_timeout", "pause_sleep")))
    case.kernel_raw(index)[key] = draw(
        st.sampled_from((0, -1.0, "fast", True, float("inf"), float("nan")))
    )
    return (f"{case.kernel_where(index)}: {key}:",)


def _empty_section(draw: Any, case: DefectCase) -> tuple[str, ...]:
    key = draw(st.sampled_from(("shared_memory", "kernels")))
    if draw(st.booleans()):
        del case.raw[key]
    else:
        case.raw[key] = []
    return (f"{key}: required",)


#: every defect the invalid-config strategy injects, in shrinking order
MUTATORS: dict[str, Mutator] = {
    "undefined_stream": _undefined_stream,
    "duplicate_producer": _duplicate_producer,
    "shape_mismatch": _shape_mismatch,
    "dtype_mismatch": _dtype_mismatch,
    "bad_parameter": _bad_parameter,
    "unknown_parameter": _unknown_parameter,
    "bad_operation": _bad_operation,
    "wrong_arity": _wrong_arity,
    "unknown_key": _unknown_key,
    "bad_shape": _bad_shape,
    "bad_dtype": _bad_dtype,
    "unknown_kind": _unknown_kind,
    "duplicate_stream_name": _duplicate_stream_name,
    "duplicate_kernel_name": _duplicate_kernel_name,
    "gpu_device_on_cpu": _gpu_device_on_cpu,
    "bad_storage": _bad_storage,
    "trigger_is_output": _trigger_is_output,
    "auxiliary_is_trigger": _auxiliary_is_trigger,
    "missing_field": _missing_field,
    "bad_timing": _bad_timing,
    "empty_section": _empty_section,
}

#: names of the defects :func:`invalid_pipeline_configs` can inject
DEFECTS: tuple[str, ...] = tuple(MUTATORS)
