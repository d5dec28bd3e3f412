"""Parsing raw pipeline data into the config models, collecting every problem.

:mod:`shmpipeline.config` holds the frozen models; this module turns a raw
mapping (YAML-loaded or built in code) into them. Each parser returns the
value (or ``None``) and records a :class:`~shmpipeline._problems.Problem` for
everything wrong, so that one pass reports all problems with their location.
Per-entry rules and the references between entries live here;
:class:`KernelWiring` is the parsed wiring of one kernel, source or sink, which
the cross-entry checks (here) and the graph rules
(:mod:`shmpipeline.graph`) share.
"""

from __future__ import annotations

import keyword
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from shmpipeline._problems import Loc, Problems, did_you_mean, is_int, is_real, show
from shmpipeline._yaml import line_of, plain
from shmpipeline.config import (
    DEFAULT_POLL_INTERVAL,
    INITIAL_PATTERNS,
    STREAM_MODES,
    SYNC_MODES,
    SYNC_ON_SKEW,
    TRIGGER_POLICIES,
    AuxiliaryBinding,
    KernelConfig,
    PipelineConfig,
    SharedMemoryConfig,
    SinkConfig,
    SourceConfig,
    SynchronizationConfig,
)
from shmpipeline.errors import ConfigValidationError, StreamLayoutError
from shmpipeline.stream._names import check_name

__all__ = [
    "KernelWiring",
    "MAX_NDIM",
    "cross_entry_problems",
    "endpoint_from_dict",
    "kernel_wiring_problems",
    "parse_endpoint_entry",
    "parse_kernel_entry",
    "parse_pipeline_checked",
    "parse_stream_entry",
    "producer_problems",
    "raise_problems",
    "raw_from_config",
]

#: entry names up to this length are shown whole in messages (longer ones,
#: invalid anyway, are shortened)
_FULL_NAME_CHARS = 256
#: numpy's own limit on the number of dimensions is 64; we keep it sane
MAX_NDIM = 32
_INT64_MAX = 2**63 - 1

_TOP_KEYS = ("shared_memory", "kernels", "sources", "sinks", "namespace")
_STREAM_KEYS = (
    "name",
    "shape",
    "dtype",
    "storage",
    "gpu_device",
    "cpu_mirror",
    "notify",
    "mode",
    "initial",
)
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
#: width-less dtype spellings accepted because their meaning is fixed
_FIXED_ALIASES = {"float": "float64", "double": "float64"}
_KERNEL_KEYS = (
    "name",
    "kind",
    "input",
    "output",
    "auxiliary",
    "operation",
    "parameters",
    "read_timeout",
    "pause_sleep",
    "poll_interval",
    "inputs",
    "outputs",
    "trigger_policy",
    "synchronization",
    "propagate_frame_id",
)
_SYNC_KEYS = ("mode", "on_skew", "max_skew_generations", "max_wait_s", "timeout")
_GPU_DEVICE_RE = re.compile(r"cuda(:\d+)?\Z")
_DTYPE_CODE_RE = re.compile(r"[<>=|]?[a-zA-Z]\d+\Z")
_NUMERIC_KINDS = "biufc"


def _entry_label(base: str, name: Any) -> str:
    if isinstance(name, str) and name.strip():
        text = name.strip()
        return f"{base} {text!r}" if len(text) <= _FULL_NAME_CHARS else f"{base} {show(text)}"
    return base


def _check_keys(
    data: Mapping[Any, Any],
    allowed: Sequence[str],
    where: str,
    loc: Loc,
    problems: Problems,
) -> None:
    for key in data:
        if isinstance(key, str) and key in allowed:
            continue
        problems.add(
            where,
            None,
            f"unknown key {show(key)}{did_you_mean(key, allowed)}; allowed: "
            + ", ".join(allowed)
            + " (other keys are unsupported fields)",
            (*loc, key),
        )


# --- field parsers (return the value, or None after adding a problem) ----------------


def _parse_text(
    value: Any, where: str, field_name: str, loc: Loc, problems: Problems
) -> str | None:
    if value is None:
        problems.add(where, field_name, "required", loc)
        return None
    if not isinstance(value, str):
        problems.add(where, field_name, f"must be a string, got {show(value)}", loc)
        return None
    text = value.strip()
    if not text:
        problems.add(where, field_name, "must not be empty", loc)
        return None
    if not text.isprintable():
        problems.add(
            where, field_name, f"must be printable text, got {show(value)}", loc
        )
        return None
    return text


def _parse_stream_ref(
    value: Any, where: str, field_name: str, loc: Loc, problems: Problems
) -> str | None:
    """A reference to a stream: a string (whether it exists is checked later)."""
    return _parse_text(value, where, field_name, loc, problems)


def _parse_stream_name(
    value: Any, where: str, loc: Loc, problems: Problems
) -> str | None:
    name = _parse_text(value, where, "name", loc, problems)
    if name is None:
        return None
    if len(name) > _FULL_NAME_CHARS:
        problems.add(
            where, "name", f"is {len(name)} characters long; at most 128 bytes", loc
        )
        return None
    try:
        check_name(name)
    except StreamLayoutError as exc:
        problems.add(where, "name", str(exc), loc)
        return None
    return name


def _parse_shape(
    value: Any, where: str, loc: Loc, problems: Problems
) -> tuple[int, ...] | None:
    def bad(problem: str) -> None:
        problems.add(where, "shape", problem, loc)

    if value is None:
        bad("required (a list of positive integers, e.g. [64, 64])")
        return None
    if is_int(value):
        dims: list[Any] = [value]
    elif isinstance(value, (list, tuple)):
        dims = list(value)
    else:
        bad(f"must be a list of positive integers, got {show(value)}")
        return None
    if not dims:
        bad("must have at least one dimension")
        return None
    if len(dims) > MAX_NDIM:
        bad(f"has {len(dims)} dimensions; at most {MAX_NDIM} are supported")
        return None
    shape: list[int] = []
    for index, dim in enumerate(dims):
        if isinstance(dim, float) and math.isfinite(dim) and dim.is_integer():
            dim = int(dim)  # the published package reads 4.0 as 4
        if not is_int(dim):
            bad(f"dimension {index} must be a positive integer, got {show(dim)}")
            return None
        if dim <= 0:
            bad(f"dimension {index} must be a positive integer, got {show(dim)}")
            return None
        shape.append(int(dim))
    if math.prod(shape) > _INT64_MAX:
        bad(f"too many elements in {show(tuple(shape))}")
        return None
    return tuple(shape)


def _explicit_width_spelling(text: str, dtype: np.dtype) -> bool:
    """``float32``/``bool``/``f4``/``<i2`` yes; ``float``/``int``/``f`` no."""
    if text == dtype.name or dtype.kind == "b" and text in ("bool", "bool_", "?"):
        return True
    return bool(_DTYPE_CODE_RE.match(text))


def _parse_dtype(
    value: Any, where: str, loc: Loc, problems: Problems
) -> np.dtype | None:
    def bad(problem: str) -> None:
        problems.add(where, "dtype", problem, loc)

    if value is None:
        bad("required (a NumPy dtype name such as 'float32')")
        return None
    text: str | None = None
    if isinstance(value, np.dtype):
        candidate: Any = value
    elif isinstance(value, type) and issubclass(value, np.generic):
        candidate = value
    elif isinstance(value, str):
        text = value.strip()
        candidate = text
    else:
        bad(f"must be a NumPy dtype name such as 'float32', got {show(value)}")
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dtype = np.dtype(candidate)
    except Exception:
        bad(f"{show(value)} is not a NumPy dtype")
        return None
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None or dtype.subdtype:
        bad(f"{show(value)} is not a numeric or bool dtype ({dtype.str})")
        return None
    if not dtype.isnative:
        bad(f"{show(value)} has a non-native byte order; use {dtype.name!r}")
        return None
    if text is not None and text in _FIXED_ALIASES:
        return dtype
    if text is not None and not _explicit_width_spelling(text, dtype):
        bad(
            f"{show(value)} has no explicit width (it means {dtype.name!r} "
            f"here); write {dtype.name!r}"
        )
        return None
    return dtype


def _parse_positive_float(
    value: Any, where: str, field_name: str, loc: Loc, problems: Problems
) -> float | None:
    if not is_real(value):
        problems.add(
            where,
            field_name,
            f"must be a positive number of seconds, got {show(value)}",
            loc,
        )
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        number = math.inf
    if not math.isfinite(number) or number <= 0.0:
        problems.add(
            where,
            field_name,
            f"must be a positive finite number of seconds, got {show(value)}",
            loc,
        )
        return None
    return number


# --- entries -------------------------------------------------------------------------


def parse_stream_entry(
    raw: Any, base: str, loc: Loc, problems: Problems
) -> tuple[SharedMemoryConfig | None, str | None]:
    """Parse one ``shared_memory`` entry; return (config or None, name or None)."""
    if not isinstance(raw, Mapping):
        problems.add(
            base,
            None,
            "must be a mapping with name, shape and dtype, got " + show(raw),
            loc,
        )
        return None, None
    where = _entry_label(base, raw.get("name"))
    before = len(problems)
    _check_keys(raw, _STREAM_KEYS, where, loc, problems)
    name = _parse_stream_name(raw.get("name"), where, (*loc, "name"), problems)
    shape = _parse_shape(raw.get("shape"), where, (*loc, "shape"), problems)
    dtype = _parse_dtype(raw.get("dtype"), where, (*loc, "dtype"), problems)

    storage_raw = raw.get("storage")
    storage: str | None = "cpu"
    if storage_raw is not None:
        if isinstance(storage_raw, str) and storage_raw.strip().lower() in (
            "cpu",
            "gpu",
        ):
            storage = storage_raw.strip().lower()
        else:
            problems.add(
                where,
                "storage",
                f"must be 'cpu' or 'gpu', got {show(storage_raw)}",
                (*loc, "storage"),
            )
            storage = None

    gpu_raw = raw.get("gpu_device")
    gpu_device: str | None = None
    gpu_loc = (*loc, "gpu_device")
    if storage == "cpu" and gpu_raw is not None:
        problems.add(
            where, "gpu_device", "not allowed on a cpu stream (storage: cpu)", gpu_loc
        )
    elif storage == "gpu" and gpu_raw is None:
        problems.add(
            where, "gpu_device", "required for storage: gpu (e.g. 'cuda:0')", gpu_loc
        )
    elif gpu_raw is not None:
        if isinstance(gpu_raw, str) and _GPU_DEVICE_RE.match(gpu_raw.strip()):
            gpu_device = gpu_raw.strip()
        else:
            problems.add(
                where,
                "gpu_device",
                f"must be 'cuda' or 'cuda:<index>', got {show(gpu_raw)}",
                gpu_loc,
            )

    mirror_raw = raw.get("cpu_mirror")
    mirror_loc = (*loc, "cpu_mirror")
    if mirror_raw is not None and not isinstance(mirror_raw, bool):
        problems.add(
            where,
            "cpu_mirror",
            f"must be true or false, got {show(mirror_raw)}",
            mirror_loc,
        )
    elif mirror_raw is True and storage == "cpu":
        problems.add(
            where,
            "cpu_mirror",
            "only allowed on gpu streams (storage: gpu)",
            mirror_loc,
        )

    notify = raw.get("notify")
    if notify is not None and not isinstance(notify, bool):
        problems.add(
            where, "notify", f"must be true or false, got {show(notify)}",
            (*loc, "notify"),
        )
    mode_raw = raw.get("mode")
    mode = "create_or_attach"
    if mode_raw is not None:
        mode = _parse_choice(
            mode_raw, STREAM_MODES, where, "mode", (*loc, "mode"), problems
        )
    initial = None
    if raw.get("initial") is not None:
        initial = _parse_initial(
            raw["initial"], shape, dtype, where, (*loc, "initial"), problems
        )

    # a present but invalid name still "defines" the stream for references,
    # so one bad name does not cascade into errors on every kernel using it
    raw_name = raw.get("name")
    ref_name = raw_name.strip() if isinstance(raw_name, str) else None
    if len(problems) > before:
        return None, ref_name or None
    assert name is not None and shape is not None and dtype is not None
    assert storage is not None and mode is not None
    config = SharedMemoryConfig(
        name=name,
        shape=shape,
        dtype=dtype,
        storage=storage,
        gpu_device=gpu_device,
        cpu_mirror=mirror_raw,
        notify=notify,
        mode=mode,
        initial=initial,
    )
    return config, name


def _parse_initial(
    value: Any,
    shape: tuple[int, ...] | None,
    dtype: np.dtype | None,
    where: str,
    loc: Loc,
    problems: Problems,
) -> dict[str, Any] | None:
    """The ``initial`` mapping: a pattern and its keys (checked against the
    stream's shape and dtype when those are valid)."""
    label = "initial"
    if not isinstance(value, Mapping):
        problems.add(where, label, f"must be a mapping, got {show(value)}", loc)
        return None
    pattern = _parse_choice(
        value.get("pattern"), tuple(INITIAL_PATTERNS), where, f"{label}.pattern",
        (*loc, "pattern"), problems,
    )
    if pattern is None:
        return None
    allowed = INITIAL_PATTERNS[pattern]
    before = len(problems)
    for key in value:
        if not (isinstance(key, str) and key in allowed):
            problems.add(
                where,
                label,
                f"unknown key {show(key)} for pattern {pattern!r}"
                f"{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)} "
                "(other keys are unsupported fields)",
                (*loc, key),
            )
    out: dict[str, Any] = {"pattern": pattern}

    def number(key: str, default: float, *, minimum: float | None = None) -> None:
        item = value.get(key, default)
        if not is_real(item) or not math.isfinite(float(item)) or (
            minimum is not None and item < minimum
        ):
            bound = "" if minimum is None else f" >= {minimum:g}"
            problems.add(
                where, f"{label}.{key}",
                f"must be a finite number{bound}, got {show(item)}", (*loc, key),
            )
        elif key in value:
            out[key] = float(item)

    if pattern == "constant":
        item = value.get("value")
        if isinstance(item, bool) or is_real(item) or isinstance(item, complex):
            out["value"] = item
        else:
            problems.add(
                where, f"{label}.value",
                f"a constant initializer needs a numeric value, got {show(item)}",
                (*loc, "value"),
            )
    elif pattern == "normal":
        seed = value.get("seed", 0)
        if not is_int(seed) or seed < 0:
            problems.add(
                where, f"{label}.seed",
                f"must be a non-negative integer, got {show(seed)}", (*loc, "seed"),
            )
        elif "seed" in value:
            out["seed"] = int(seed)
        number("mean", 0.0)
        number("std", 1.0, minimum=0.0)
        if dtype is not None and dtype not in (np.dtype("float32"), np.dtype("float64")):
            problems.add(
                where, f"{label}.pattern",
                f"a normal initializer needs a float32 or float64 stream, not "
                f"{dtype.name}",
                (*loc, "pattern"),
            )
    elif pattern == "values":
        if "values" not in value:
            problems.add(
                where, f"{label}.values", "required for pattern 'values'",
                (*loc, "values"),
            )
        elif shape is not None and dtype is not None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    array = np.asarray(plain(value["values"]), dtype=dtype)
            except (TypeError, ValueError, OverflowError, RuntimeWarning) as exc:
                problems.add(
                    where, f"{label}.values",
                    f"is not an array of {dtype.name}: {show(str(exc))}",
                    (*loc, "values"),
                )
            else:
                if array.shape != shape:
                    problems.add(
                        where, f"{label}.values",
                        f"has shape {array.shape}, the stream's is {shape}",
                        (*loc, "values"),
                    )
                else:
                    out["values"] = array.tolist()
    else:  # identity
        number("scale", 1.0)
        if shape is not None and len(shape) != 2:
            problems.add(
                where, f"{label}.pattern",
                f"an identity initializer needs a 2-D stream, not shape {shape}",
                (*loc, "pattern"),
            )
    return out if len(problems) == before else None


_ALIAS_PROBLEM = (
    "alias {} must be a Python identifier, not a keyword (it is a name in "
    "operation expressions)"
)


def _valid_alias(alias: str, stream: str) -> bool:
    """An alias differing from its stream name must be usable in expressions;
    the implicit alias of the list form is the stream name itself."""
    if alias == stream:
        return True
    return alias.isidentifier() and not keyword.iskeyword(alias)


def _parse_auxiliary(
    value: Any, where: str, loc: Loc, problems: Problems
) -> tuple[list[tuple[AuxiliaryBinding, Any]], bool]:
    """Return ([(binding, loc key)], ok) for the list or mapping form."""
    bindings: list[tuple[AuxiliaryBinding, Any]] = []
    ok = True
    if value is None:
        return bindings, ok
    if isinstance(value, Mapping):
        for alias, stream in value.items():
            item_loc = (*loc, alias)
            if not isinstance(alias, str) or not alias.strip():
                problems.add(
                    where,
                    "auxiliary",
                    f"alias {show(alias)} must be a non-empty string",
                    item_loc,
                )
                ok = False
                continue
            alias = alias.strip()
            field_name = f"auxiliary.{alias}"
            name = _parse_stream_ref(stream, where, field_name, item_loc, problems)
            if name is None:
                ok = False
                continue
            if not _valid_alias(alias, name):
                problems.add(
                    where, field_name, _ALIAS_PROBLEM.format(show(alias)), item_loc
                )
                ok = False
                continue
            bindings.append((AuxiliaryBinding(alias=alias, name=name), alias))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            item_loc = (*loc, index)
            if isinstance(item, AuxiliaryBinding):
                alias_raw, stream = item.alias, item.name
            else:
                alias_raw, stream = None, item
            label = f"auxiliary[{index}]"
            name = _parse_stream_ref(stream, where, label, item_loc, problems)
            if name is None:
                ok = False
                continue
            alias = name if alias_raw is None else alias_raw
            if not isinstance(alias, str) or not _valid_alias(alias, name):
                problems.add(
                    where, label, _ALIAS_PROBLEM.format(show(alias)), item_loc
                )
                ok = False
                continue
            bindings.append((AuxiliaryBinding(alias=alias, name=name), index))
    else:
        problems.add(
            where,
            "auxiliary",
            "must be a list of stream names or an {alias: stream} mapping, got "
            + show(value),
            loc,
        )
        return bindings, False

    seen: dict[str, Any] = {}
    for binding, key in bindings:
        field_name = f"auxiliary.{binding.alias}"
        if binding.alias == "input":
            problems.add(
                where,
                field_name,
                "alias 'input' is reserved for the trigger input; bind the stream "
                "under another alias ({other_alias: stream})",
                (*loc, key),
            )
            ok = False
        elif binding.alias in seen:
            problems.add(where, field_name, "duplicate alias", (*loc, key))
            ok = False
        seen.setdefault(binding.alias, key)
    return bindings, ok


def _parse_parameters(
    value: Any, where: str, loc: Loc, problems: Problems
) -> dict[str, Any] | None:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.add(where, "parameters", f"must be a mapping, got {show(value)}", loc)
        return None
    for key in value:
        if not isinstance(key, str):
            problems.add(
                where,
                "parameters",
                f"keys must be strings, got {show(key)}",
                (*loc, key),
            )
            return None
    return plain(value)


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
        if self.inputs is not None:
            return self.inputs
        if self.input is None:
            return []
        return [(self.input, "input", (*self.loc, "input"))]

    def output_refs(self) -> list[tuple[str, str, Loc]]:
        if self.outputs is not None:
            return self.outputs
        if self.output is None:
            return []
        return [(self.output, "output", (*self.loc, "output"))]


def parse_endpoint_entry(
    raw: Any, section: str, base: str, loc: Loc, problems: Problems
) -> tuple[SourceConfig | SinkConfig | None, KernelWiring | None]:
    """Parse one ``sources`` or ``sinks`` entry; its wiring uses the kernel
    shape (trigger inputs / outputs) so the cross checks are shared."""
    is_source = section == "source"
    if not isinstance(raw, Mapping):
        problems.add(
            base, None,
            f"must be a mapping with name, kind and stream, got {show(raw)}", loc,
        )
        return None, None
    where = _entry_label(base, raw.get("name"))
    before = len(problems)
    _check_keys(raw, _SOURCE_KEYS if is_source else _SINK_KEYS, where, loc, problems)
    name = _parse_text(raw.get("name"), where, "name", (*loc, "name"), problems)
    kind = _parse_text(raw.get("kind"), where, "kind", (*loc, "kind"), problems)
    if is_source:
        written = _parse_stream_list(raw, "stream", "streams", where, loc, problems)
        read: list[tuple[str, str, Loc]] | None = []
    else:
        read = _parse_stream_list(raw, "stream", "_", where, loc, problems)
        written = []
        if raw.get("outputs") is not None:
            written = _parse_stream_list(
                {"outputs": raw["outputs"]}, "_", "outputs", where, loc, problems
            )
    auxiliary, aux_ok = _parse_auxiliary(
        raw.get("auxiliary"), where, (*loc, "auxiliary"), problems
    )
    parameters = _parse_parameters(
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
            else _parse_positive_float(value, where, key, (*loc, key), problems)
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


def _parse_namespace(value: Any, problems: Problems) -> str | None:
    """The pipeline ``namespace``: a prefix of every stream's segment name."""
    text = _parse_text(value, "pipeline", "namespace", ("namespace",), problems)
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


def kernel_wiring_problems(ref: KernelWiring, problems: Problems) -> None:
    """Rules about one kernel's own bindings."""
    where, loc = ref.where, ref.loc
    triggers = ref.trigger_refs()
    outputs = ref.output_refs()
    trigger_names: set[str] = set()
    for name, field_name, item_loc in triggers:
        if name in trigger_names:
            problems.add(
                where,
                field_name,
                f"stream {show(name)} is listed twice; a kernel cannot declare "
                "the same trigger input stream more than once",
                item_loc,
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
            problems.add(
                where,
                field_name,
                f"stream {show(name)} is listed twice; a kernel cannot declare "
                "the same output stream more than once",
                item_loc,
            )
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


def _parse_stream_list(
    raw: Mapping[Any, Any],
    single: str,
    several: str,
    where: str,
    loc: Loc,
    problems: Problems,
) -> list[tuple[str, str, Loc]] | None:
    """``input``/``inputs`` (or ``output``/``outputs``): exactly one of the
    two, the list non-empty; returns ``[(name, field, loc)]`` or None."""
    one, many = raw.get(single), raw.get(several)
    if one is not None and many is not None:
        problems.add(
            where,
            several,
            f"use either {single!r} or {several!r}, not both",
            (*loc, several),
        )
        return None
    if many is None:
        name = _parse_stream_ref(one, where, single, (*loc, single), problems)
        return None if name is None else [(name, single, (*loc, single))]
    if not isinstance(many, (list, tuple)) or not many:
        problems.add(
            where,
            several,
            f"must be a non-empty list of stream names, got {show(many)}",
            (*loc, several),
        )
        return None
    refs: list[tuple[str, str, Loc]] = []
    ok = True
    for index, item in enumerate(many):
        label = f"{several}[{index}]"
        item_loc = (*loc, several, index)
        name = _parse_stream_ref(item, where, label, item_loc, problems)
        if name is None:
            ok = False
        else:
            refs.append((name, label, item_loc))
    return refs if ok else None


def _parse_choice(
    value: Any,
    choices: Sequence[str],
    where: str,
    field_name: str,
    loc: Loc,
    problems: Problems,
) -> str | None:
    text = value.strip().lower() if isinstance(value, str) else None
    if text not in choices:
        problems.add(
            where,
            field_name,
            f"must be one of {', '.join(map(repr, choices))}, got {show(value)}"
            + did_you_mean(value, choices),
            loc,
        )
        return None
    return text


def _parse_synchronization(
    value: Any, where: str, loc: Loc, problems: Problems
) -> SynchronizationConfig | None:
    """The ``synchronization`` mapping of a multi-input kernel."""
    if not isinstance(value, Mapping):
        problems.add(
            where, "synchronization", f"must be a mapping, got {show(value)}", loc
        )
        return None
    before = len(problems)
    label = "synchronization"
    for key in value:
        if not (isinstance(key, str) and key in _SYNC_KEYS):
            problems.add(
                where,
                label,
                f"unknown key {show(key)}{did_you_mean(key, _SYNC_KEYS)}; allowed: "
                + ", ".join(_SYNC_KEYS)
                + " (other keys are unsupported fields)",
                (*loc, key),
            )
    mode = _parse_choice(
        value.get("mode", "count"), SYNC_MODES, where, f"{label}.mode",
        (*loc, "mode"), problems,
    )
    on_skew = _parse_choice(
        value.get("on_skew", "drop_older"), SYNC_ON_SKEW, where,
        f"{label}.on_skew", (*loc, "on_skew"), problems,
    )
    max_skew = value.get("max_skew_generations", 16)
    if not is_int(max_skew) or max_skew < 1 or max_skew > 2**31:
        problems.add(
            where,
            f"{label}.max_skew_generations",
            f"must be a positive integer, got {show(max_skew)}",
            (*loc, "max_skew_generations"),
        )
    if value.get("max_wait_s") is not None and value.get("timeout") is not None:
        problems.add(
            where,
            f"{label}.timeout",
            "is an alias of max_wait_s; give one of the two",
            (*loc, "timeout"),
        )
    wait_key = "max_wait_s" if value.get("max_wait_s") is not None else "timeout"
    wait_raw = value.get(wait_key)
    max_wait = None
    if wait_raw is not None:
        max_wait = _parse_positive_float(
            wait_raw, where, f"{label}.{wait_key}", (*loc, wait_key), problems
        )
    if len(problems) > before:
        return None
    return SynchronizationConfig(
        mode=mode, on_skew=on_skew, max_skew_generations=int(max_skew),
        max_wait_s=max_wait,
    )


def parse_kernel_entry(
    raw: Any, base: str, loc: Loc, problems: Problems
) -> tuple[KernelConfig | None, KernelWiring | None]:
    """Parse one ``kernels`` entry; return (config or None, wiring or None)."""
    if not isinstance(raw, Mapping):
        problems.add(
            base,
            None,
            "must be a mapping with name, kind, input and output, got " + show(raw),
            loc,
        )
        return None, None
    where = _entry_label(base, raw.get("name"))
    before = len(problems)
    _check_keys(raw, _KERNEL_KEYS, where, loc, problems)
    name = _parse_text(raw.get("name"), where, "name", (*loc, "name"), problems)
    kind = _parse_text(raw.get("kind"), where, "kind", (*loc, "kind"), problems)
    trigger_refs = _parse_stream_list(raw, "input", "inputs", where, loc, problems)
    output_refs = _parse_stream_list(raw, "output", "outputs", where, loc, problems)
    input_name = trigger_refs[0][0] if trigger_refs else None
    output_name = output_refs[0][0] if output_refs else None
    auxiliary, aux_ok = _parse_auxiliary(
        raw.get("auxiliary"), where, (*loc, "auxiliary"), problems
    )
    operation = raw.get("operation")
    if operation is not None:
        operation = _parse_text(
            operation, where, "operation", (*loc, "operation"), problems
        )
    parameters = _parse_parameters(
        raw.get("parameters"), where, (*loc, "parameters"), problems
    )
    timing: dict[str, float | None] = {}
    for key, default in (
        ("read_timeout", 1.0),
        ("pause_sleep", 0.01),
        ("poll_interval", DEFAULT_POLL_INTERVAL),
    ):
        value = raw.get(key)
        timing[key] = (
            default
            if value is None
            else _parse_positive_float(value, where, key, (*loc, key), problems)
        )

    several = len(trigger_refs or ()) > 1
    policy_raw = raw.get("trigger_policy")
    trigger_policy = (
        ("all_new" if several else "any_new")
        if policy_raw is None
        else _parse_choice(
            policy_raw, TRIGGER_POLICIES, where, "trigger_policy",
            (*loc, "trigger_policy"), problems,
        )
    )
    synchronization = None
    if raw.get("synchronization") is not None:
        synchronization = _parse_synchronization(
            raw["synchronization"], where, (*loc, "synchronization"), problems
        )
        if (
            synchronization is not None
            and synchronization.mode == "matching_frame_id"
            and trigger_policy not in (None, "all_new")
        ):
            problems.add(
                where,
                "synchronization",
                "mode 'matching_frame_id' requires trigger_policy 'all_new'",
                (*loc, "synchronization"),
            )
    propagate = raw.get("propagate_frame_id", False)
    if propagate is None:
        propagate = False
    if not isinstance(propagate, bool):
        problems.add(
            where,
            "propagate_frame_id",
            f"must be true or false, got {show(propagate)}",
            (*loc, "propagate_frame_id"),
        )

    ref = KernelWiring(
        where, loc, name, input_name, output_name, auxiliary,
        inputs=trigger_refs, outputs=output_refs,
    )
    kernel_wiring_problems(ref, problems)
    if len(problems) > before or not aux_ok:
        return None, ref
    assert trigger_refs is not None and output_refs is not None
    assert name and kind and input_name and output_name and parameters is not None
    config = KernelConfig(
        name=name,
        kind=kind,
        input=input_name,
        output=output_name,
        auxiliary=tuple(binding for binding, _ in auxiliary),
        operation=operation,
        parameters=parameters,
        read_timeout=timing["read_timeout"],  # type: ignore[arg-type]
        pause_sleep=timing["pause_sleep"],  # type: ignore[arg-type]
        poll_interval=timing["poll_interval"],  # type: ignore[arg-type]
        outputs=tuple(n for n, _, _ in output_refs) if raw.get("outputs") else (),
        inputs=tuple(n for n, _, _ in trigger_refs) if raw.get("inputs") else (),
        trigger_policy=trigger_policy,  # type: ignore[arg-type]
        synchronization=synchronization,
        propagate_frame_id=propagate,
    )
    return config, ref


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


@dataclass
class _Parsed:
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


def _parse_pipeline(raw: Any) -> _Parsed:
    problems = Problems()
    parsed = _Parsed([], [], problems)
    if not isinstance(raw, Mapping):
        problems.add(
            "pipeline",
            None,
            "must be a mapping with 'shared_memory' and 'kernels' lists, got "
            + show(raw),
            (),
        )
        return parsed
    _check_keys(raw, _TOP_KEYS, "pipeline", (), problems)

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
            stream_refs.append((_entry_label(base, name), loc, name))

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


def parse_pipeline_checked(raw: Any) -> _Parsed:
    """:func:`_parse_pipeline`, with absurd nesting reported as a problem."""
    try:
        return _parse_pipeline(raw)
    except RecursionError:
        problems = Problems()
        problems.add("pipeline", None, "data is nested too deeply", ())
        return _Parsed([], [], problems)


def raise_problems(
    problems: Problems, raw: Any = None, path: str | None = None
) -> None:
    """Raise the collected problems (first as message, all in ``errors``)."""
    if not len(problems):
        return
    rendered: list[str] = []
    first_line: int | None = None
    for index, problem in enumerate(problems.items):
        line = line_of(raw, problem.loc) if path is not None else None
        if index == 0:
            first_line = line
        rendered.append(
            ConfigValidationError(problem.message, path=path, line=line).args[0]
        )
    raise ConfigValidationError(
        problems.items[0].message, path=path, line=first_line, errors=rendered
    )


def endpoint_from_dict(raw: Any, section: str) -> SourceConfig | SinkConfig:
    problems = Problems()
    try:
        config, _ = parse_endpoint_entry(raw, section, section, (), problems)
    except RecursionError:
        problems.add(section, None, "data is nested too deeply", ())
        config = None
    raise_problems(problems)
    assert config is not None
    return config


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
