"""Parsing one ``shared_memory`` entry (a stream) and its ``initial`` fill."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline._config_parse.fields import (
    FULL_NAME_CHARS,
    open_entry,
    parse_choice,
    parse_text,
)
from shmpipeline._problems import Loc, Problems, did_you_mean, is_int, is_real, show
from shmpipeline._yaml import plain
from shmpipeline.config import INITIAL_PATTERNS, STREAM_MODES, SharedMemoryConfig
from shmpipeline.errors import StreamLayoutError
from shmpipeline.stream._names import check_name

__all__ = ["MAX_NDIM", "parse_stream_entry"]

#: numpy's own limit on the number of dimensions is 64; we keep it sane
MAX_NDIM = 32
_INT64_MAX = 2**63 - 1

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
#: width-less dtype spellings accepted because their meaning is fixed
_FIXED_ALIASES = {"float": "float64", "double": "float64"}
_GPU_DEVICE_RE = re.compile(r"cuda(:\d+)?\Z")
_DTYPE_CODE_RE = re.compile(r"[<>=|]?[a-zA-Z]\d+\Z")
_NUMERIC_KINDS = "biufc"


def _parse_stream_name(
    value: Any, where: str, loc: Loc, problems: Problems
) -> str | None:
    name = parse_text(value, where, "name", loc, problems)
    if name is None:
        return None
    if len(name) > FULL_NAME_CHARS:
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


def parse_stream_entry(
    raw: Any, base: str, loc: Loc, problems: Problems
) -> tuple[SharedMemoryConfig | None, str | None]:
    """Parse one ``shared_memory`` entry; return (config or None, name or None)."""
    before = len(problems)
    where = open_entry(
        raw, base, loc, problems, needs="name, shape and dtype", allowed=_STREAM_KEYS
    )
    if where is None:
        return None, None
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
        mode = parse_choice(
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
    pattern = parse_choice(
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
