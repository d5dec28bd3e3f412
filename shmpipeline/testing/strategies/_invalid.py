"""Invalid-pipeline strategies: a valid pipeline with exactly one defect,
paired with the error fragments it must produce
(:func:`invalid_pipeline_configs`).

Kernel-rule defects read each built-in class's declarations: the bad values
of a parameter follow from its declared type and limits
(``parameter_specs``), wrong auxiliary counts from ``auxiliary_arity``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import KernelConfig
from shmpipeline.errors import ShmPipelineError
from shmpipeline.testing.strategies._kernels import (
    BUILTIN_BUILDERS,
    resolve_registry,
)
from shmpipeline.testing.strategies._pipelines import (
    DEFAULT_EXCLUDE,
    PipelineDraft,
    pipeline_drafts,
)
from shmpipeline.testing.strategies._raw import raw_pipeline
from shmpipeline.testing.strategies._slots import KernelSlot
from shmpipeline.testing.strategies._streams import DEFAULT_DTYPES, Limits

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "BAD_SHAPES",
    "DEFECTS",
    "InvalidPipeline",
    "find_error",
    "invalid_pipeline_configs",
    "invalid_values",
]

# --- invalid pipelines --------------------------------------------------------


class InvalidPipeline(NamedTuple):
    """A raw pipeline mapping with one defect, and the fragments that must
    appear together in one of the error messages it produces."""

    raw: dict[str, Any]
    expected: tuple[str, ...]


def find_error(messages: Iterable[str], expected: Sequence[str] | str) -> str | None:
    """The first message containing every fragment of ``expected``, or None.

    Examples
    --------
    >>> find_error(["kernels[0] 'a': input: x", "kernels[1] 'b': shape"], "shape")
    "kernels[1] 'b': shape"
    """
    fragments = (expected,) if isinstance(expected, str) else tuple(expected)
    for message in messages:
        if all(fragment in message for fragment in fragments):
            return message
    return None


_MISSING = "zz_missing"
_FOREIGN_F8 = ">f8" if sys.byteorder == "little" else "<f8"
_NEW = "zz_new"


@dataclass
class _Case:
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


Mutator = Callable[[Any, _Case], tuple[str, ...] | None]


def _pick(draw: Any, indices: Sequence[int]) -> int | None:
    return draw(st.sampled_from(list(indices))) if indices else None


def _undefined_stream(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _duplicate_producer(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _trigger_is_output(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kernel = case.draft.kernels[index]
    case.kernel_raw(index)["output"] = kernel.input
    return (
        f"{case.kernel_where(index)}: output: is the trigger input {kernel.input!r}",
    )


def _auxiliary_is_trigger(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _kernel_output_field(case: _Case, index: int) -> str:
    return "operation" if case.builtin[index] == "custom_operation" else "output"


def _shape_mismatch(draw: Any, case: _Case) -> tuple[str, ...] | None:
    eligible = [i for i, suffix in case.builtin.items() if suffix != "raise_error"]
    index = _pick(draw, eligible)
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


def _dtype_mismatch(draw: Any, case: _Case) -> tuple[str, ...] | None:
    eligible = [i for i, suffix in case.builtin.items() if suffix != "raise_error"]
    index = _pick(draw, eligible)
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


def _bad_parameter(draw: Any, case: _Case) -> tuple[str, ...] | None:
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


def _unknown_parameter(draw: Any, case: _Case) -> tuple[str, ...] | None:
    index = _pick(draw, sorted(case.builtin))
    if index is None:
        return None
    key = draw(st.sampled_from(("zz_bogus", "factr", "Tile_size")))
    raw = case.kernel_raw(index)
    raw["parameters"] = {**(raw.get("parameters") or {}), key: 1}
    return (f"{case.kernel_where(index)}: parameters.{key}:",)


def _bad_operation(draw: Any, case: _Case) -> tuple[str, ...] | None:
    index = _pick(draw, [i for i, s in case.builtin.items() if s == "custom_operation"])
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


def _fixed_arity(kernel_cls: type) -> int | None:
    """The exact auxiliary count a kernel class declares, if it declares one."""
    arity = getattr(kernel_cls, "auxiliary_arity", None)
    return arity if isinstance(arity, int) else None


def _wrong_arity(draw: Any, case: _Case) -> tuple[str, ...] | None:
    eligible = [i for i, c in case.classes.items() if _fixed_arity(c) is not None]
    index = _pick(draw, eligible)
    if index is None:
        return None
    raw = case.kernel_raw(index)
    if _fixed_arity(case.classes[index]) == 0:
        case.raw["shared_memory"].append(
            {"name": _NEW, "shape": [1], "dtype": "float32"}
        )
        raw["auxiliary"] = [_NEW]
        count = 1
    else:
        raw.pop("auxiliary")
        count = 0
    return (f"{case.kernel_where(index)}: auxiliary:", f"got {count}")


def _unknown_key(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _bad_shape(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    value = draw(st.sampled_from(BAD_SHAPES))
    case.raw["shared_memory"][index]["shape"] = value
    return (f"{case.stream_where(index)}: shape:",)


def _bad_dtype(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _unknown_kind(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    kind = draw(st.sampled_from(("cpu.sclae", "acme.nothing", "gpu.nosuch", "copy2")))
    case.kernel_raw(index)["kind"] = kind
    return (f"{case.kernel_where(index)}: kind:", f"unknown kernel kind {kind!r}")


def _duplicate_stream_name(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _duplicate_kernel_name(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _gpu_device_on_cpu(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    case.raw["shared_memory"][index]["gpu_device"] = draw(
        st.sampled_from(("cuda:0", "cuda"))
    )
    return (f"{case.stream_where(index)}: gpu_device: not allowed on a cpu stream",)


def _bad_storage(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.streams) - 1))
    case.raw["shared_memory"][index]["storage"] = draw(
        st.sampled_from(("tpu", "", 1, "host"))
    )
    return (f"{case.stream_where(index)}: storage:",)


def _missing_field(draw: Any, case: _Case) -> tuple[str, ...]:
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


def _bad_timing(draw: Any, case: _Case) -> tuple[str, ...]:
    index = draw(st.integers(0, len(case.draft.kernels) - 1))
    key = draw(st.sampled_from(("read_timeout", "pause_sleep")))
    case.kernel_raw(index)[key] = draw(
        st.sampled_from((0, -1.0, "fast", True, float("inf"), float("nan")))
    )
    return (f"{case.kernel_where(index)}: {key}:",)


def _empty_section(draw: Any, case: _Case) -> tuple[str, ...]:
    key = draw(st.sampled_from(("shared_memory", "kernels")))
    if draw(st.booleans()):
        del case.raw[key]
    else:
        case.raw[key] = []
    return (f"{key}: required",)


#: every defect the invalid-config strategy injects, in shrinking order
_MUTATORS: dict[str, Mutator] = {
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
DEFECTS: tuple[str, ...] = tuple(_MUTATORS)


def _builtin_kernels(draft: PipelineDraft, registry: KernelRegistry | None) -> dict[int, type]:
    """Index -> class of the kernels run by a built-in cpu class."""
    found: dict[int, type] = {}
    for index, kernel in enumerate(draft.kernels):
        if kernel.kind not in BUILTIN_BUILDERS:
            continue
        try:
            cls = registry.get(kernel.kind)
        except (ShmPipelineError, ImportError):  # unknown here, or needs torch
            continue
        if getattr(cls, "__module__", "").startswith("shmpipeline.kernels.cpu."):
            found[index] = cls
    return found


def invalid_pipeline_configs(
    *,
    defects: Sequence[str] | None = None,
    max_kernels: int = 4,
    kinds: Sequence[str] | None = None,
    registry: KernelRegistry | None = None,
    kernel_builders: Mapping[str, Any] | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    dtypes: Sequence[str] = DEFAULT_DTYPES,
    max_dims: int = 3,
    max_side: int = 8,
) -> st.SearchStrategy[InvalidPipeline]:
    """Raw pipeline mappings with exactly one injected defect, as
    :class:`InvalidPipeline` ``(raw, expected)``.

    ``expected`` fragments name the entry and field and appear together in
    one message of ``validate_pipeline_config(raw, registry=registry)`` (and,
    for defects found while parsing, of ``PipelineConfig.from_dict(raw)``'s
    ``ConfigValidationError.errors``). ``defects`` restricts the defect kinds
    (names in :data:`DEFECTS`); other arguments as :func:`pipeline_configs`.

    Examples
    --------
    >>> from hypothesis import find
    >>> from shmpipeline.graph import validate_pipeline_config
    >>> raw, expected = find(
    ...     invalid_pipeline_configs(defects=["bad_shape"]), lambda case: True
    ... )
    >>> find_error(validate_pipeline_config(raw), expected) is not None
    True
    """
    chosen = list(DEFECTS if defects is None else defects)
    unknown = [name for name in chosen if name not in _MUTATORS]
    if unknown or not chosen:
        raise InvalidArgument(
            f"unknown defects {unknown}; choose from {', '.join(DEFECTS)}"
        )
    resolved = resolve_registry(registry)
    limits = Limits(tuple(dtypes), max_dims, max_side)
    drafts = pipeline_drafts(
        min_kernels=1,
        max_kernels=max_kernels,
        kinds=kinds,
        registry=resolved,
        kernel_builders=kernel_builders,
        exclude=exclude,
        dtypes=dtypes,
        max_dims=max_dims,
        max_side=max_side,
    )
    for name in chosen:
        kind = _NEEDS.get(name, (None, None))[1]
        if kind is not None and kind not in _builtin_kinds(resolved, [kind]):
            raise InvalidArgument(
                f"defect {name!r} needs the built-in kind {kind!r} in the registry"
            )

    @st.composite
    def cases(draw: Any) -> InvalidPipeline:
        draft = draw(drafts)
        builtin = _builtin_kernels(draft, resolved)
        usable = [name for name in chosen if _applies(name, builtin)]
        if not usable:
            # this pipeline has no kernel the defect needs: append one
            name = chosen[0]
            draft = draw(_extended(draft, _NEEDS[name][1], limits))
            builtin = _builtin_kernels(draft, resolved)
            usable = [name]
        name = draw(st.sampled_from(usable))
        raw = draw(raw_pipeline(draft))
        expected = _MUTATORS[name](draw, _Case(raw, draft, builtin))
        assert expected is not None, name
        return InvalidPipeline(raw, expected)

    return cases()


def _has_bad_parameters(kernel_cls: type) -> bool:
    builder = BUILTIN_BUILDERS.get(kernel_cls.kind)
    return bool(kernel_cls.parameter_specs) or (
        builder is not None and builder.bad_parameters is not None
    )


# defect -> (which built-in kernel classes it applies to, kind to add when none)
_NEEDS: dict[str, tuple[Callable[[type], bool], str]] = {
    "shape_mismatch": (lambda c: c.kind != "cpu.raise_error", "cpu.scale"),
    "dtype_mismatch": (lambda c: c.kind != "cpu.raise_error", "cpu.scale"),
    "bad_parameter": (_has_bad_parameters, "cpu.scale"),
    "unknown_parameter": (lambda c: True, "cpu.scale"),
    "bad_operation": (lambda c: c.accepts_operation, "cpu.custom_operation"),
    "wrong_arity": (lambda c: _fixed_arity(c) is not None, "cpu.scale"),
}


def _applies(defect: str, classes: Mapping[int, type]) -> bool:
    need = _NEEDS.get(defect)
    return need is None or any(need[0](cls) for cls in classes.values())


def _builtin_kinds(registry: KernelRegistry | None, kinds: Iterable[str]) -> list[str]:
    draft = PipelineDraft((), tuple(KernelConfig(k, k, "a", "b") for k in kinds))
    return [draft.kernels[i].kind for i in _builtin_kernels(draft, registry)]


@st.composite
def _extended(
    draw: Any, draft: PipelineDraft, kind: str, limits: Limits
) -> PipelineDraft:
    """``draft`` plus one ``kind`` kernel ``zz_k`` on a new source ``zz_src``."""
    builder = BUILTIN_BUILDERS[kind]
    trigger = draw(builder.trigger_streams("zz_src", limits))
    slot = KernelSlot(kind, "zz_k", trigger, "zz_k_out", (), limits)
    extra = draw(builder.build(slot))
    streams = (*draft.streams, trigger, *extra.auxiliary, extra.output)
    return PipelineDraft(streams, (*draft.kernels, extra.config))
