"""Validation helpers shared by the CPU and GPU kernel catalogs.

Every helper raises :class:`~shmpipeline.errors.ConfigValidationError` with a
message of the form ``kernel '<name>': <field>: <problem>`` (the graph
validator prefixes the kernel's index), so both catalogs report the same
problem in the same words. Fields are ``input``, ``output``,
``auxiliary.<alias>``, ``parameters.<key>`` or ``operation``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from shmpipeline._problems import close_matches
from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError

#: sentinel default meaning "the parameter is required"
REQUIRED: Any = object()


# --- message building ------------------------------------------------------


def error(
    config: KernelConfig, field: str | None, problem: str
) -> ConfigValidationError:
    """Build the error for ``field`` of ``config`` (not raised here)."""
    where = f"kernel {config.name!r}"
    if field:
        where = f"{where}: {field}"
    return ConfigValidationError(f"{where}: {problem}")


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def closest(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` close matches of ``word`` among ``candidates``."""
    return close_matches(word, candidates, n=n, cutoff=0.5)


# --- stream specs ----------------------------------------------------------


def spec_map(shared_memory: Any) -> dict[str, SharedMemoryConfig]:
    """Return ``shared_memory`` as a name -> spec dict (a sequence of specs,
    e.g. ``PipelineConfig.shared_memory``, is accepted too)."""
    if isinstance(shared_memory, Mapping):
        return dict(shared_memory)
    return {spec.name: spec for spec in shared_memory}


def trigger_fields(config: KernelConfig) -> list[tuple[str, str]]:
    """Return ``(field, stream name)`` of each trigger input: ``input`` for a
    single ``input``, else ``inputs[i]``."""
    if not config.inputs:
        return [("input", config.input)]
    return [(f"inputs[{i}]", name) for i, name in enumerate(config.inputs)]


def output_fields(config: KernelConfig) -> list[tuple[str, str]]:
    """Return ``(field, stream name)`` of each output: ``output`` for a single
    ``output``, else ``outputs[i]``."""
    if not config.outputs:
        return [("output", config.output)]
    return [(f"outputs[{i}]", name) for i, name in enumerate(config.outputs)]


def bindings(config: KernelConfig) -> list[tuple[str, str]]:
    """Return ``(field, stream name)`` for the trigger inputs, each
    auxiliary, then the outputs."""
    pairs = trigger_fields(config)
    pairs += [(f"auxiliary.{b.alias}", b.name) for b in config.auxiliary]
    pairs += output_fields(config)
    return pairs


def check_streams_defined(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
) -> None:
    """Every stream the kernel binds must be defined."""
    for field, name in bindings(config):
        if name not in shared_memory:
            hint = closest(str(name), shared_memory)
            extra = f" (did you mean {', '.join(map(repr, hint))}?)" if hint else ""
            raise error(config, field, f"unknown shared memory {name!r}{extra}")


def _arity_problem(arity: Any, count: int, noun: str) -> str | None:
    """``None`` when ``count`` fits ``arity`` (exact, ``(min, max)`` or
    ``None``), else the words ``takes <expected> <noun>s, got <count>``."""
    if arity is None:
        return None
    low, high = (arity, arity) if isinstance(arity, int) else arity
    if count >= low and (high is None or count <= high):
        return None
    if low == high:
        expected = f"exactly {low}"
    elif high is None:
        expected = f"at least {low}"
    else:
        expected = f"between {low} and {high}"
    plural = "" if (high == 1 and low == 1) else "s"
    return f"takes {expected} {noun}{plural}, got {count}"


def check_arity(kernel_cls: type, config: KernelConfig) -> None:
    """Check the trigger, auxiliary and output counts against the class's
    ``input_arity``, ``auxiliary_arity`` and ``output_arity``."""
    kind = kernel_cls.kind
    inputs_field = "inputs" if config.inputs else "input"
    outputs_field = "outputs" if config.outputs else "output"
    counts = (
        (inputs_field, "input_arity", len(config.trigger_inputs), "trigger input"),
        ("auxiliary", "auxiliary_arity", len(config.auxiliary), "auxiliary stream"),
        (outputs_field, "output_arity", len(config.all_outputs), "output stream"),
    )
    for field, attr, count, noun in counts:
        problem = _arity_problem(getattr(kernel_cls, attr, 1), count, noun)
        if problem is not None:
            raise error(config, field, f"kind {kind!r} {problem}")


def check_storage(
    kernel_cls: type,
    config: KernelConfig,
    shared_memory: Mapping[str, SharedMemoryConfig],
) -> None:
    """Every bound stream must use the kernel class's storage, with two
    bridges for mixed pipelines on the *input* side (trigger, auxiliaries):

    - a gpu stream with ``cpu_mirror: true`` may feed a cpu kernel, which
      reads its host mirror;
    - a cpu stream may feed a kernel class with ``accepts_host_inputs`` set
      (the built-in gpu kernels): the worker uploads each frame to the device.

    The output always has the kernel's storage.
    """
    storage = kernel_cls.storage
    host_inputs = bool(getattr(kernel_cls, "accepts_host_inputs", False))
    for field, name in bindings(config):
        spec = shared_memory[name]
        actual = spec.storage
        if actual == storage:
            continue
        hint = ""
        if field != "output":
            if storage == "cpu" and actual == "gpu":
                if spec.cpu_mirror:
                    continue
                hint = " without cpu_mirror (set cpu_mirror: true to read it on the host)"
            elif storage == "gpu" and actual == "cpu" and host_inputs:
                continue
        raise error(
            config,
            field,
            f"kind {kernel_cls.kind!r} needs {storage} storage, "
            f"but stream {name!r} is {actual}{hint}",
        )


def check_known_parameters(config: KernelConfig, allowed: Iterable[str]) -> None:
    """Reject parameter keys the kernel does not read (typos)."""
    allowed = sorted(allowed)
    for key in config.parameters or {}:
        if key in allowed:
            continue
        if not allowed:
            raise error(config, f"parameters.{key}", "this kind takes no parameters")
        hint = closest(str(key), allowed)
        extra = f"; did you mean {hint[0]!r}?" if hint else ""
        raise error(
            config,
            f"parameters.{key}",
            f"unknown parameter (known: {', '.join(allowed)}){extra}",
        )


def input_spec(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
) -> SharedMemoryConfig:
    """The primary trigger input's spec."""
    return shared_memory[config.input]


def output_spec(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
) -> SharedMemoryConfig:
    """The primary output's spec."""
    return shared_memory[config.output]


def auxiliary_spec(
    config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig], index: int
) -> tuple[str, SharedMemoryConfig]:
    """Return ``(field, spec)`` of the auxiliary binding at ``index``."""
    binding = config.auxiliary[index]
    return f"auxiliary.{binding.alias}", shared_memory[binding.name]


def require_same_shape(
    config: KernelConfig,
    reference: tuple[str, SharedMemoryConfig],
    *others: tuple[str, SharedMemoryConfig],
) -> None:
    """Each ``(field, spec)`` of ``others`` must have the reference's shape."""
    _require_same(config, reference, others, "shape", lambda s: tuple(s.shape), str)


def require_same_dtype(
    config: KernelConfig,
    reference: tuple[str, SharedMemoryConfig],
    *others: tuple[str, SharedMemoryConfig],
) -> None:
    """Each ``(field, spec)`` of ``others`` must have the reference's dtype."""
    _require_same(
        config, reference, others, "dtype", lambda s: np.dtype(s.dtype), _dtype_name
    )


def _dtype_name(dtype: np.dtype) -> str:
    return dtype.name


def _require_same(
    config: KernelConfig,
    reference: tuple[str, SharedMemoryConfig],
    others: Sequence[tuple[str, SharedMemoryConfig]],
    what: str,
    value: Callable[[SharedMemoryConfig], Any],
    text: Callable[[Any], str],
) -> None:
    """The error at the first of ``others`` whose ``value`` (its ``what``,
    shown as ``text``) differs from the reference's."""
    ref_field, ref = reference
    want = value(ref)
    for field, spec in others:
        got = value(spec)
        if got != want:
            raise error(
                config,
                field,
                f"{what} {text(got)} of stream {spec.name!r} must equal the "
                f"{ref_field} {what} {text(want)}",
            )


def require_shape(
    config: KernelConfig,
    field: str,
    spec: SharedMemoryConfig,
    expected: tuple[int, ...],
) -> None:
    """The stream must have exactly ``expected`` shape."""
    if tuple(spec.shape) != tuple(expected):
        raise error(
            config,
            field,
            f"stream {spec.name!r} must have shape {tuple(expected)}, "
            f"got {tuple(spec.shape)}",
        )


def require_ndim(
    config: KernelConfig, field: str, spec: SharedMemoryConfig, ndim: int
) -> None:
    """The stream must have ``ndim`` dimensions."""
    if len(spec.shape) != ndim:
        what = {1: "a 1-D vector", 2: "a 2-D array"}.get(ndim, f"{ndim}-D")
        raise error(
            config,
            field,
            f"stream {spec.name!r} must be {what}, got shape {tuple(spec.shape)}",
        )


def require_size(
    config: KernelConfig, field: str, spec: SharedMemoryConfig, size: int
) -> None:
    """The stream must hold exactly ``size`` elements."""
    actual = math.prod(spec.shape)
    if actual != size:
        noun = "element" if size == 1 else "elements"
        raise error(
            config,
            field,
            f"stream {spec.name!r} must hold {size} {noun}, got shape "
            f"{tuple(spec.shape)} ({actual} elements)",
        )


_KIND_WORDS = {
    "number": ("numeric", lambda dt: dt.kind in "iufc"),
    "real": ("real numeric (integer or floating)", lambda dt: dt.kind in "iuf"),
    "inexact": ("floating or complex", lambda dt: dt.kind in "fc"),
    "floating": ("floating", lambda dt: dt.kind == "f"),
}


def require_dtype_kind(
    config: KernelConfig, field: str, spec: SharedMemoryConfig, kind: str
) -> None:
    """The stream dtype must be of ``kind``: number, real, inexact, floating."""
    words, test = _KIND_WORDS[kind]
    dtype = np.dtype(spec.dtype)
    if not test(dtype):
        raise error(
            config,
            field,
            f"stream {spec.name!r} must have a {words} dtype, got {dtype.name}",
        )


# --- parameters ------------------------------------------------------------


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _given(
    config: KernelConfig, key: str, default: Any, missing: str
) -> tuple[Any, bool]:
    """``(parameters[key], True)`` when the key is given, else ``(default,
    False)``; the error ``missing`` when it is absent and ``default`` is
    REQUIRED. The parsers below validate only a given value."""
    params = config.parameters or {}
    if key in params:
        return params[key], True
    if default is REQUIRED:
        raise error(config, f"parameters.{key}", missing)
    return default, False


def parse_number(
    config: KernelConfig,
    key: str,
    default: Any = REQUIRED,
    *,
    finite: bool = True,
    positive: bool = False,
    non_negative: bool = False,
) -> float:
    """Return ``parameters[key]`` as a float (``default`` when absent).

    Accepts ints and floats (also NumPy scalars), never booleans or strings.
    """
    value, given = _given(config, key, default, "required real number is missing")
    if not given:
        return value
    if not _is_real(value):
        raise error(
            config,
            f"parameters.{key}",
            f"must be a real number, got {_describe(value)}",
        )
    number = float(value)
    if finite and not math.isfinite(number):
        raise error(
            config, f"parameters.{key}", f"must be finite, got {_describe(value)}"
        )
    if positive and not number > 0:
        raise error(
            config, f"parameters.{key}", f"must be positive, got {_describe(value)}"
        )
    if non_negative and not number >= 0:
        raise error(
            config, f"parameters.{key}", f"must be >= 0, got {_describe(value)}"
        )
    return number


def parse_positive_int(config: KernelConfig, key: str, default: Any = REQUIRED) -> int:
    """Return ``parameters[key]`` as a positive int (no bools, no 2.5)."""
    value, given = _given(config, key, default, "required positive integer is missing")
    if not given:
        return value
    return _as_int(config, key, value, "a positive integer", positive=True)


def parse_integer(config: KernelConfig, key: str, default: Any = REQUIRED) -> int:
    """Return ``parameters[key]`` as an int of any sign (no bools, no 2.5)."""
    value, given = _given(config, key, default, "required integer is missing")
    if not given:
        return value
    return _as_int(config, key, value, "an integer")


def _as_int(
    config: KernelConfig, key: str, value: Any, words: str, *, positive: bool = False
) -> int:
    """A given integer parameter (no bools, no 2.5; ``positive``: > 0), or
    the error "must be <words>"."""
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Integral)
        or (positive and int(value) <= 0)
    ):
        raise error(config, f"parameters.{key}", f"must be {words}, got {_describe(value)}")
    return int(value)


def parse_boolean(config: KernelConfig, key: str, default: Any = REQUIRED) -> bool:
    """Return ``parameters[key]``, which must be ``true`` or ``false``."""
    value, given = _given(config, key, default, "required boolean is missing")
    if not given:
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise error(
            config,
            f"parameters.{key}",
            f"must be true or false, got {_describe(value)}",
        )
    return bool(value)


def parse_choice(
    config: KernelConfig, key: str, choices: Sequence[str], default: Any = REQUIRED
) -> str:
    """Return ``parameters[key]``, which must be one of ``choices``."""
    value, given = _given(config, key, default, f"required; one of {', '.join(choices)}")
    if not given:
        return value
    if not isinstance(value, str) or value not in choices:
        hint = closest(value, choices) if isinstance(value, str) else []
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise error(
            config,
            f"parameters.{key}",
            f"must be one of {', '.join(choices)}, got {_describe(value)}{extra}",
        )
    return value


def parse_text(config: KernelConfig, key: str, default: Any = REQUIRED) -> str:
    """Return ``parameters[key]`` as a non-empty string."""
    value, given = _given(config, key, default, "required non-empty string is missing")
    if not given:
        return value
    if not isinstance(value, str) or not value.strip():
        raise error(
            config,
            f"parameters.{key}",
            f"must be a non-empty string, got {_describe(value)}",
        )
    return value


__all__ = [
    "REQUIRED",
    "auxiliary_spec",
    "bindings",
    "check_arity",
    "check_known_parameters",
    "check_storage",
    "check_streams_defined",
    "closest",
    "error",
    "input_spec",
    "output_fields",
    "output_spec",
    "parse_boolean",
    "parse_choice",
    "parse_integer",
    "parse_number",
    "parse_positive_int",
    "parse_text",
    "require_dtype_kind",
    "require_ndim",
    "require_same_dtype",
    "require_same_shape",
    "require_shape",
    "require_size",
    "spec_map",
    "trigger_fields",
]
