"""Scenario files: a pipeline, its inputs, what to capture and how to compare.

A scenario (SPEC §8) is a YAML file, usually in ``scenarios/``::

    name: ao_loop_synthetic            # default: the file name without .yaml
    description: five-stage AO loop on a random camera
    pipeline: ../examples/ao_loop.yaml # a path relative to this file, or a mapping
    seed: 7                            # default 0
    frames: 40                         # lockstep frames (default 20)
    inputs:                            # per source stream
      wfs_frame: {synthetic: {pattern: random, amplitude: 0.1, offset: 1.0}}
      reconstructor: {constant: 0.01}  # scalar or nested list, written once
      mode_offset: {file: offset.npy}  # .npy relative to this file, written once
      camera: {fake: shack_hartmann, command: dm_command, lenslets: 8}
    capture: [commands]                # default: the sink streams
    golden: ao_loop_synthetic.golden.npz   # default: <name>.golden.npz beside it
    tolerances:
      default: {rtol: 1.0e-6, atol: 0.0}   # or {ulp: 4}; default: per dtype
      streams: {commands: {atol: 1.0e-5}}
    expect_failure: {kernel: boom, error: deliberate}   # fault scenarios
    requirements: [gpu]                # or torch, kind:acme.filter: skipped with
                                       # the reason where a need is unmet
    matrix:                            # one scenario (and golden) per combination
      inputs.camera.read_noise: [1.0, 2.0]
    mode: lockstep                     # or free_running (with rate_hz, duration)
    timeout: 10                        # seconds one frame may take
    overrides:                         # change the pipeline without copying it
      kernels: {gain: {parameters: {gains: [0.4, 0.4]}}}
      streams: {dm_state: {initial: {pattern: constant, value: 0.0}}}
    endpoints: {archive: run}          # start a software sink/source for real

Inputs:

- ``synthetic``: the fields of :class:`~shmpipeline.synthetic.SyntheticInputConfig`
  except ``stream_name``; frame ``k`` is the pattern's frame ``k``. ``seed``
  defaults to one derived from the scenario seed and the stream name.
- ``fake``: a hardware fake of :mod:`shmpipeline.testing.fakes` by kind, the
  other keys being its parameters; ``command: STREAM`` closes a loop (frame
  ``k`` is computed from that stream's value after frame ``k - 1``).
- ``constant`` / ``file``: a static frame written once before the pipeline
  starts (for matrices and offsets read as auxiliaries). A stream that
  triggers a kernel needs a per-frame input (``synthetic`` or ``fake``).
- ``calibrate``: a reconstructor measured on a camera fake of this
  scenario, written once (:mod:`~shmpipeline.testing.calibration_input`).

An ``inputs`` key may name a pipeline **source** instead of a stream: the
input feeds that source's stream (a multi-stream source takes
``{streams: {STREAM: input, ...}}``, every stream written with the same
frame id each step). Sources and sinks are not started in a scenario unless
``endpoints`` says ``run``; ``overrides`` replace kernel, source and sink
``parameters`` entries and stream ``initial`` values (see
:mod:`~shmpipeline.testing.pipeline_under_test`). ``Scenario.pipeline`` is
the pipeline that runs (only the endpoints run), ``endpoints`` each
endpoint's state, and the hash covers the overrides and the endpoints.

Source streams read only as auxiliaries may be left out: they stay zero.

Paths (``pipeline``, ``golden``, ``file``) resolve inside the scenario's
directory unless the caller passes ``allow_outside_paths=True``; every file
is read through :mod:`shmpipeline.user_files` (regular files only, size cap,
never blocking). A ``matrix`` maps dotted paths to value lists; each
combination is a :class:`Scenario` with ``variant`` set (``read_noise=1.0``),
named ``name[read_noise=1.0]`` as a test item, with the golden
``<name>.read_noise=1.0.golden.npz`` (see :func:`load_scenarios`).

Errors are :class:`~shmpipeline.errors.ScenarioError` naming the field, with
the file and line (``ao.yaml:12: inputs.wfs: synthetic: pattern: unknown
pattern 'rnd'...``), every problem collected in ``errors``; nothing else
escapes :func:`load_scenario`.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import io
import itertools
import json
import math
import numbers
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import yaml

from shmpipeline._problems import Problems, did_you_mean, is_int, is_real, show
from shmpipeline._yaml import line_of, load_yaml_file, plain
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ConfigValidationError, ScenarioError
from shmpipeline.testing.tolerances import (
    Tolerance,
    ToleranceProblem,
    Tolerances,
    parse_tolerances,
)
from shmpipeline.user_files import (
    check_regular_file,
    read_user_bytes,
    read_user_text,
    resolve_inside,
)

__all__ = [
    "ExpectedFailure",
    "FakeInput",
    "InputSpec",
    "MODES",
    "REQUIREMENTS",
    "Scenario",
    "StaticInput",
    "SyntheticInput",
    "Tolerance",
    "Tolerances",
    "MAX_MATRIX_COMBINATIONS",
    "expand_matrix",
    "find_scenarios",
    "load_scenario",
    "load_scenarios",
    "looks_like_scenario",
    "match_scenarios",
    "quick_load",
    "resolve_scenario",
    "declared_goldens",
    "declared_requirements",
    "scenario_from_config",
    "scenarios_from_dict",
    "scenario_hash",
]

#: Version of the hashed scenario representation (bump when it changes).
HASH_VERSION = 1
MODES = ("lockstep", "free_running")
REQUIREMENTS = ("gpu", "torch")
#: ``requirements`` entries naming a kernel kind a plugin must provide.
KIND_REQUIREMENT_PREFIX = "kind:"
DEFAULT_FRAMES = 20
DEFAULT_TIMEOUT_S = 10.0
MAX_FRAMES = 10_000_000
SCENARIO_SUFFIXES = (".yaml", ".yml")

_TOP_KEYS = (
    "name",
    "description",
    "pipeline",
    "seed",
    "frames",
    "inputs",
    "capture",
    "golden",
    "tolerances",
    "expect_failure",
    "requirements",
    "mode",
    "rate_hz",
    "duration",
    "timeout",
    "matrix",
    "overrides",
    "endpoints",
)
#: Most combinations one ``matrix`` may expand into.
MAX_MATRIX_COMBINATIONS = 256
_INPUT_KINDS = ("synthetic", "fake", "constant", "file", "calibrate")
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")

Loc = tuple[Any, ...]


# --- the dataclasses ----------------------------------------------------------------


@dataclass(frozen=True)
class ExpectedFailure:
    """A fault scenario passes when ``kernel`` fails with ``error`` (a
    substring of its error message; ``None``: any error)."""

    kernel: str
    error: str | None = None

    def matches(self, kernel: str | None, message: str | None) -> bool:
        """Whether a failure of ``kernel`` with ``message`` is the expected one."""
        if kernel != self.kernel:
            return False
        return self.error is None or self.error in (message or "")


@dataclass(frozen=True)
class InputSpec:
    """The input of one source stream (a base for the concrete kinds)."""

    stream: str

    @property
    def per_frame(self) -> bool:
        """Whether a new frame is written every step (else written once)."""
        return True

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (hashed into :func:`scenario_hash`)."""
        raise NotImplementedError


@dataclass(frozen=True)
class SyntheticInput(InputSpec):
    """Frame ``k`` is frame ``k`` of a synthetic pattern."""

    config: Any = None  # SyntheticInputConfig (imported lazily)

    def describe(self) -> dict[str, Any]:
        data = dict(self.config.to_dict())
        data.pop("stream_name", None)
        return {"synthetic": data}


@dataclass(frozen=True)
class FakeInput(InputSpec):
    """Frame ``k`` comes from a hardware fake (:mod:`~shmpipeline.testing.fakes`).

    ``command`` names the stream whose value after frame ``k - 1`` the fake
    consumes (a deformable-mirror command closing the loop), or ``None``.
    """

    kind: str = ""
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    seed: int = 0
    command: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "fake": self.kind,
            "params": _canonical(dict(self.params)),
            "seed": self.seed,
            "command": self.command,
        }


@dataclass(frozen=True)
class StaticInput(InputSpec):
    """A frame written once before start (``constant`` or ``file``)."""

    value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    origin: str = "constant"

    @property
    def per_frame(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        data = np.ascontiguousarray(self.value)
        return {
            "static": self.origin,
            "dtype": data.dtype.str,
            "shape": list(data.shape),
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
        }


@dataclass(frozen=True)
class Scenario:
    """One validated scenario (see the module docstring for the fields).

    ``path`` is the scenario file (``None`` when built from a mapping or a
    config); ``golden`` the resolved golden path (``None`` without a file);
    ``inputs`` are ordered by stream name.
    """

    name: str
    pipeline: PipelineConfig
    description: str = ""
    seed: int = 0
    frames: int = DEFAULT_FRAMES
    inputs: tuple[InputSpec, ...] = ()
    capture: tuple[str, ...] = ()
    golden: Path | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    expect_failure: ExpectedFailure | None = None
    requirements: tuple[str, ...] = ()
    mode: str = "lockstep"
    rate_hz: float | None = None
    duration: float | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    path: Path | None = field(default=None, compare=False)
    pipeline_path: Path | None = field(default=None, compare=False)
    variant: str = ""
    #: each source/sink of the pipeline -> ``run``, ``replaced`` or ``off``
    #: (only ``run`` ones are in ``pipeline``; see pipeline_under_test)
    endpoints: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: the sources/sinks as the scenario's pipeline declares them (overrides
    #: applied), hashed so changing one invalidates a golden
    endpoint_document: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({}), compare=False
    )

    @property
    def item_name(self) -> str:
        """The pytest item name: ``name``, or ``name[r0=0.1]`` for one
        combination of a ``matrix``."""
        return f"{self.name}[{self.variant}]" if self.variant else self.name

    @property
    def inputs_by_stream(self) -> dict[str, InputSpec]:
        return {spec.stream: spec for spec in self.inputs}

    @property
    def base_dir(self) -> Path:
        """Directory relative paths of this scenario are resolved against."""
        if self.path is not None:
            return self.path.parent
        return Path.cwd().resolve()

    @property
    def frame_count(self) -> int:
        """Frames to write: ``frames``, or ``duration * rate_hz`` when
        free-running with a duration."""
        if self.mode == "free_running" and self.duration is not None:
            assert self.rate_hz is not None
            return max(1, int(round(self.duration * self.rate_hz)))
        return self.frames

    def hash(self) -> str:
        """Shortcut for :func:`scenario_hash`."""
        return scenario_hash(self)

    @classmethod
    def from_dict(
        cls,
        raw: Mapping[str, Any],
        *,
        base_dir: str | PathLike[str] | None = None,
        registry: Any = None,
        allow_outside_paths: bool = False,
    ) -> Scenario:
        """Validate a scenario mapping; relative paths resolve against
        ``base_dir`` (default: the working directory); kernel kinds against
        ``registry`` (default: the default registry)."""
        if isinstance(raw, Mapping) and raw.get("matrix") is not None:
            raise ScenarioError(
                "matrix: a scenario with a matrix is several scenarios; build them "
                "with scenarios_from_dict()"
            )
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        return _build(
            raw,
            display=None,
            path=None,
            base_dir=base.resolve(),
            registry=registry,
            allow_outside=allow_outside_paths,
        )


# --- public functions ----------------------------------------------------------------


def scenarios_from_dict(
    raw: Mapping[str, Any],
    *,
    base_dir: str | PathLike[str] | None = None,
    registry: Any = None,
    allow_outside_paths: bool = False,
) -> tuple[Scenario, ...]:
    """:meth:`Scenario.from_dict` for a mapping that may declare a
    ``matrix``: one scenario per combination (each with its ``variant``)."""
    base = (Path(base_dir) if base_dir is not None else Path.cwd()).resolve()
    return tuple(
        _build(
            variant_raw,
            display=None,
            path=None,
            base_dir=base,
            registry=registry,
            allow_outside=allow_outside_paths,
            variant=variant,
        )
        for variant, variant_raw in _variants(raw, None)
    )


def load_scenario(
    path: str | PathLike[str],
    *,
    registry: Any = None,
    allow_outside_paths: bool = False,
) -> Scenario:
    """Load and validate a scenario file (``ScenarioError`` on any problem);
    kernel kinds are checked against ``registry`` (default: the default
    registry). The ``pipeline``, ``golden`` and ``file`` paths it names must
    stay inside the scenario's directory unless ``allow_outside_paths``; a
    FIFO, device, directory or oversized file is refused before reading."""
    scenarios = load_scenarios(
        path, registry=registry, allow_outside_paths=allow_outside_paths
    )
    if len(scenarios) != 1:
        raise ScenarioError(
            f"declares a matrix of {len(scenarios)} combinations; load them with "
            "load_scenarios()",
            path=str(path),
        )
    return scenarios[0]


def load_scenarios(
    path: str | PathLike[str],
    *,
    registry: Any = None,
    allow_outside_paths: bool = False,
) -> tuple[Scenario, ...]:
    """Load a scenario file as :func:`load_scenario` does, expanding its
    ``matrix`` (if any) into one scenario per combination, each with its
    ``variant`` id and its own golden."""
    check_regular_file(path, what="scenario file", error=ScenarioError)
    try:
        raw, display, file_path = load_yaml_file(path)
    except ConfigValidationError as exc:
        message = exc.message.replace("config file", "scenario file")
        raise ScenarioError(message, path=exc.path, line=exc.line) from None
    try:
        resolved = file_path.resolve()
    except (OSError, RuntimeError):
        resolved = file_path.absolute()
    return tuple(
        _build(
            variant_raw,
            display=display,
            path=resolved,
            base_dir=resolved.parent,
            registry=registry,
            allow_outside=allow_outside_paths,
            variant=variant,
        )
        for variant, variant_raw in _variants(raw, display)
    )


def _variants(raw: Any, display: str | None) -> list[tuple[str, Any]]:
    if not isinstance(raw, Mapping) or raw.get("matrix") is None:
        return [("", raw)]
    try:
        return expand_matrix(raw)
    except ScenarioError as exc:
        problems = _Problems()
        problems.add("", None, exc.message, ("matrix",))  # located at the key
        _raise(problems, raw, display)
        raise  # pragma: no cover - _raise always raises with a problem


def expand_matrix(raw: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(variant id, scenario mapping)`` per combination of ``raw['matrix']``.

    ``matrix`` maps a dotted path into the scenario (``inputs.wfs.atmosphere.r0``;
    integers index lists) to the list of values it takes; the combinations
    are the cartesian product, in the order given. An id reads
    ``r0=0.1,gain=0.4`` (the last path component, or the whole path where
    two would read alike). Raises :class:`ScenarioError` naming the entry.
    """
    matrix = raw.get("matrix")
    if not isinstance(matrix, Mapping) or not matrix:
        raise ScenarioError(
            "matrix: must map dotted paths (e.g. inputs.wfs.synthetic.amplitude) "
            "to lists of values"
        )
    axes: list[tuple[str, tuple[Any, ...]]] = []
    count = 1
    for key, values in matrix.items():
        if (
            not isinstance(key, str)
            or not key.strip()
            or key.split(".")[0]
            in (
                "matrix",
                "name",
            )
        ):
            raise ScenarioError(
                f"matrix: {show(key)}: must be a dotted path to a field "
                "other than name and matrix"
            )
        if not isinstance(values, list) or not values:
            raise ScenarioError(f"matrix.{key}: must be a non-empty list of values")
        axes.append((key.strip(), tuple(values)))
        count *= len(values)
        if count > MAX_MATRIX_COMBINATIONS:
            raise ScenarioError(
                f"matrix: more than {MAX_MATRIX_COMBINATIONS} combinations"
            )
    labels = _axis_labels([key for key, _ in axes])
    base = {k: v for k, v in raw.items() if k != "matrix"}
    expanded: list[tuple[str, dict[str, Any]]] = []
    for combination in itertools.product(*(values for _, values in axes)):
        variant_raw: Any = base
        parts = []
        for (key, _), label, value in zip(axes, labels, combination, strict=True):
            variant_raw = _set_path(variant_raw, key, value)
            parts.append(f"{label}={_show_value(value)}")
        expanded.append((",".join(parts), variant_raw))
    ids = [variant for variant, _ in expanded]
    if len(set(ids)) != len(ids):
        raise ScenarioError("matrix: two combinations read alike; use distinct values")
    return expanded


def _axis_labels(keys: list[str]) -> list[str]:
    short = [
        next((p for p in reversed(k.split(".")) if not p.isdigit()), k) for k in keys
    ]
    return [s if short.count(s) == 1 else k for s, k in zip(short, keys, strict=True)]


def _show_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(_canonical(value), separators=(",", ":"))


def _set_path(node: Any, dotted: str, value: Any) -> Any:
    """A copy of ``node`` with the element at ``dotted`` set (copies only the
    containers along the path, keeping their line information)."""
    head, _, rest = dotted.partition(".")
    if isinstance(node, Mapping):
        copied = copy.copy(node)
        if not rest:
            copied[head] = value
            return copied
        if head not in node:
            raise ScenarioError(f"matrix.{dotted}: no field {head!r} to set")
        copied[head] = _set_path(node[head], rest, value)
        return copied
    if isinstance(node, list) and head.isdigit() and int(head) < len(node):
        copied = copy.copy(node)
        index = int(head)
        copied[index] = value if not rest else _set_path(node[index], rest, value)
        return copied
    raise ScenarioError(f"matrix: cannot set {dotted!r} (no such field or index)")


def scenario_from_config(
    config: PipelineConfig,
    *,
    frames: int = 5,
    seed: int = 0,
    name: str = "pipeline",
    capture: Iterable[str] | None = None,
    amplitude: float = 1.0,
) -> Scenario:
    """A lockstep scenario driving every source of ``config`` with seeded
    random frames and capturing every kernel output (or ``capture``).

    For property tests over random pipelines (replay vs inline executor).
    Its sources and sinks are not started (``endpoints`` says which are
    replaced by the random inputs).
    Raises :class:`ScenarioError` for the rare pipelines no lockstep replay
    can drive deterministically (two sources each feeding, as an auxiliary,
    a kernel the other triggers).
    """
    from shmpipeline.graph import PipelineGraph
    from shmpipeline.synthetic import SyntheticInputConfig

    graph = PipelineGraph.from_config(config)
    inputs = tuple(
        SyntheticInput(
            stream,
            SyntheticInputConfig(
                stream,
                pattern="random",
                seed=_derived_seed(seed, stream),
                amplitude=amplitude,
            ),
        )
        for stream in graph.source_streams()
    )
    if capture is None:
        capture = [k.output for k in config.kernels]
    from shmpipeline.testing.sources import write_order

    write_order(config, [spec.stream for spec in inputs])  # ScenarioError if ambiguous
    endpoints: dict[str, str] = {}
    declared: dict[str, Any] = {}
    if config.sources or config.sinks:  # not started, as in a scenario file
        from shmpipeline.testing.pipeline_under_test import endpoint_states

        document = config.to_dict()
        endpoints, _ = endpoint_states(document, None, {s.stream for s in inputs})
        declared = {k: document[k] for k in ("sources", "sinks") if k in document}
        config = replace(config, sources=(), sinks=())
    return Scenario(
        name=name,
        pipeline=config,
        seed=seed,
        frames=frames,
        inputs=inputs,
        capture=tuple(dict.fromkeys(capture)),
        endpoints=MappingProxyType(endpoints),
        endpoint_document=MappingProxyType(declared),
    )


def scenario_hash(scenario: Scenario) -> str:
    """SHA-256 over what determines the captured values.

    Covers the normalised pipeline, seed, frame count, mode and rate, every
    input (static frames by content) and the captured streams; not the name,
    description, golden path, tolerances, requirements or expected failure,
    so editing those keeps a recorded golden valid.
    """
    document = {
        "version": HASH_VERSION,
        "pipeline": _canonical(scenario.pipeline.to_dict()),
        "seed": scenario.seed,
        "frames": scenario.frame_count,
        "mode": scenario.mode,
        "rate_hz": scenario.rate_hz,
        "inputs": {spec.stream: spec.describe() for spec in scenario.inputs},
        "capture": list(scenario.capture),
    }
    if scenario.endpoints:
        document["endpoints"] = {
            "states": dict(sorted(scenario.endpoints.items())),
            "document": _canonical(dict(scenario.endpoint_document)),
        }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_scenarios(dirs: Iterable[str | PathLike[str]]) -> list[Path]:
    """Scenario files (``*.yaml``/``*.yml`` with a top-level ``pipeline`` key)
    under ``dirs``, recursively, sorted; hidden directories are skipped and
    files that do not parse are ignored (``load_scenario`` reports them)."""
    found: dict[Path, None] = {}
    for directory in dirs:
        root = Path(directory)
        if root.is_file():
            if looks_like_scenario(root):
                found[root.resolve()] = None
            continue
        if not root.is_dir():
            continue
        for candidate in sorted(root.rglob("*")):
            if candidate.suffix not in SCENARIO_SUFFIXES or not candidate.is_file():
                continue
            relative = candidate.relative_to(root).parts[:-1]
            if any(part.startswith(".") for part in relative):
                continue
            if looks_like_scenario(candidate):
                found[candidate.resolve()] = None
    return sorted(found)


def resolve_scenario(
    name_or_path: str | PathLike[str], dirs: Iterable[str | PathLike[str]] = ()
) -> Path:
    """Find a scenario by file path, or by name (its ``name`` field or file
    stem) in ``dirs``. Raises :class:`ScenarioError` listing what exists."""
    dirs = [Path(d) for d in dirs]
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.suffix in SCENARIO_SUFFIXES or "/" in text or candidate.is_file():
        if candidate.is_file():
            return candidate.resolve()
        for directory in dirs:
            if (directory / candidate).is_file():
                return (directory / candidate).resolve()
        raise ScenarioError(f"scenario file not found: {text}")
    available: list[str] = []
    for path in find_scenarios(dirs):
        declared = _declared_name(path)
        if text in (path.stem, declared):
            return path
        available.append(declared or path.stem)
    where = ", ".join(str(d) for d in dirs) or "no directory"
    listing = ", ".join(sorted(set(available))) or "none"
    hint = did_you_mean(text, available)
    raise ScenarioError(
        f"scenario {text!r} not found{hint} (searched {where}; available: {listing})"
    )


# --- parsing ------------------------------------------------------------------------


class _LocalError(Exception):
    """A path problem turned into a located scenario problem by the caller."""


class _Problems(Problems):
    """Problems with a location in the raw scenario data."""

    def at(self, loc: Loc, problem: str) -> None:
        self.add(_label(loc), None, problem, loc)


def _label(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _raise(
    problems: _Problems, raw: Any, display: str | None, extra: list[str] | None = None
) -> None:
    if not len(problems) and not extra:
        return
    located = []
    for index, problem in enumerate(problems.items):
        line = line_of(raw, problem.loc) if display is not None else None
        located.append((line if line is not None else 0, index, problem.message, line))
    located.sort()  # in file order (collection order for a mapping)
    rendered = [
        ScenarioError(message, path=display, line=line).args[0]
        for _, _, message, line in located
    ]
    _, _, first_message, first_line = located[0]
    raise ScenarioError(first_message, path=display, line=first_line, errors=rendered)


def _build(
    raw: Any,
    *,
    display: str | None,
    path: Path | None,
    base_dir: Path,
    registry: Any = None,
    allow_outside: bool = False,
    variant: str = "",
):
    problems = _Problems()
    if not isinstance(raw, Mapping):
        problems.at((), f"a scenario must be a mapping, got {show(raw)}")
        _raise(problems, raw, display)
    for key in raw:
        if key not in _TOP_KEYS:
            problems.at(
                (key,),
                f"unknown key{did_you_mean(key, _TOP_KEYS)}; allowed: "
                + ", ".join(_TOP_KEYS),
            )

    name = _parse_name(raw, path, problems)
    description = raw.get("description")
    if description is None:
        description = ""
    elif not isinstance(description, str):
        problems.at(("description",), "must be a string")
        description = ""
    seed = _parse_int(raw, "seed", problems, default=0, minimum=0)
    frames = _parse_int(
        raw, "frames", problems, default=DEFAULT_FRAMES, minimum=1, maximum=MAX_FRAMES
    )
    timeout = _parse_number(raw, "timeout", problems, default=DEFAULT_TIMEOUT_S)
    mode, rate_hz, duration = _parse_mode(raw, problems)
    requirements = _parse_requirements(raw, problems)

    pipeline, pipeline_path, endpoints, endpoint_document = _parse_pipeline(
        raw, display, base_dir, path, problems, registry, allow_outside
    )
    if pipeline is None:
        # Nothing else can be checked against a broken pipeline.
        _raise(problems, raw, display)
        raise ScenarioError("pipeline: invalid", path=display)

    inputs = _parse_inputs(
        raw,
        pipeline,
        seed or 0,
        base_dir,
        problems,
        allow_outside,
        endpoint_document,
        endpoints,
    )
    capture = _parse_capture(raw, pipeline, problems)
    tolerances = _parse_tolerances(raw, pipeline, problems)
    expect_failure = _parse_expect_failure(raw, pipeline, problems)
    golden = _parse_golden(raw, name, base_dir, path, problems, allow_outside, variant)
    _raise(problems, raw, display)
    return Scenario(
        name=name,
        description=description,
        pipeline=pipeline,
        seed=seed,
        frames=frames,
        inputs=inputs,
        capture=capture,
        golden=golden,
        tolerances=tolerances,
        expect_failure=expect_failure,
        requirements=requirements,
        mode=mode,
        rate_hz=rate_hz,
        duration=duration,
        timeout=timeout,
        path=path,
        pipeline_path=pipeline_path,
        variant=variant,
        endpoints=MappingProxyType(endpoints),
        endpoint_document=MappingProxyType(endpoint_document),
    )


def _parse_name(raw: Mapping, path: Path | None, problems: _Problems) -> str:
    value = raw.get("name")
    if value is None:
        if path is not None:
            return path.stem
        problems.at(("name",), "required when the scenario is not loaded from a file")
        return "scenario"
    if not isinstance(value, str) or not _NAME_RE.match(value.strip()):
        problems.at(
            ("name",),
            "must be a name of letters, digits, '_', '-' and '.', got "
            + show(value),
        )
        return path.stem if path is not None else "scenario"
    return value.strip()


def _parse_int(
    raw: Mapping,
    key: str,
    problems: _Problems,
    *,
    default: int,
    minimum: int,
    maximum: int | None = None,
) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if (
        not is_int(value)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bound = f" and at most {maximum}" if maximum is not None else ""
        problems.at(
            (key,),
            f"must be an integer >= {minimum}{bound}, got {show(value)}",
        )
        return default
    return int(value)


def _parse_number(
    raw: Mapping, key: str, problems: _Problems, *, default: float | None
) -> Any:
    value = raw.get(key)
    if value is None:
        return default
    if (
        not is_real(value)
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        problems.at((key,), f"must be a positive number, got {show(value)}")
        return default
    return float(value)


def _parse_mode(raw: Mapping, problems: _Problems):
    mode = raw.get("mode")
    if mode is None:
        mode = "lockstep"
    elif not isinstance(mode, str) or mode.strip().lower() not in MODES:
        problems.at(
            ("mode",),
            f"must be one of {', '.join(MODES)}, got {show(mode)}",
        )
        mode = "lockstep"
    else:
        mode = mode.strip().lower()
    rate_hz = _parse_number(raw, "rate_hz", problems, default=None)
    duration = _parse_number(raw, "duration", problems, default=None)
    if mode == "free_running" and rate_hz is None and "rate_hz" not in raw:
        problems.at(("mode",), "free_running needs rate_hz (frames per second)")
    if mode == "lockstep":
        for key in ("rate_hz", "duration"):
            if raw.get(key) is not None:
                problems.at((key,), "only meaningful with mode: free_running")
    return mode, rate_hz, duration


def _parse_requirements(raw: Mapping, problems: _Problems) -> tuple[str, ...]:
    value = raw.get("requirements")
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        problems.at(("requirements",), "must be a list such as [gpu]")
        return ()
    found: list[str] = []
    for index, item in enumerate(items):
        text = item.strip() if isinstance(item, str) else None
        if text is not None and text.startswith(KIND_REQUIREMENT_PREFIX):
            kind = text[len(KIND_REQUIREMENT_PREFIX) :].strip()
            text = KIND_REQUIREMENT_PREFIX + kind if kind else None
        elif text is not None:
            text = text.lower()
            if text not in REQUIREMENTS:
                text = None
        if text is None:
            problems.at(
                ("requirements", index),
                f"unknown requirement {show(item)}; known: "
                + ", ".join(REQUIREMENTS)
                + f", {KIND_REQUIREMENT_PREFIX}NAME",
            )
            continue
        if text not in found:
            found.append(text)
    return tuple(found)


def _parse_pipeline(
    raw: Mapping,
    display: str | None,
    base_dir: Path,
    path: Path | None,
    problems: _Problems,
    registry: Any = None,
    allow_outside: bool = False,
) -> tuple[PipelineConfig | None, Path | None, dict[str, str], dict[str, Any]]:
    """The pipeline the scenario runs, the file it came from, each endpoint's
    state and the endpoints as declared (see :mod:`.pipeline_under_test`)."""
    from shmpipeline.graph import validate_pipeline_config

    failed: tuple[None, None, dict, dict] = (None, None, {}, {})
    value = raw.get("pipeline")
    if value is None:
        problems.at(("pipeline",), "required (a mapping, or a path to a pipeline YAML)")
        return failed
    file_path: Path | None = None
    if isinstance(value, str):
        try:
            file_path = resolve_inside(
                base_dir,
                value.strip(),
                what="pipeline",
                error=_LocalError,
                allow_outside=allow_outside,
            )
            if not file_path.exists():
                raise _LocalError(f"pipeline file not found: {file_path}")
            check_regular_file(file_path, what="pipeline file", error=_LocalError)
            document, _, _ = load_yaml_file(file_path)
        except _LocalError as exc:
            problems.at(("pipeline",), str(exc))
            return failed
        except ConfigValidationError as exc:
            problems.at(("pipeline",), str(exc))
            return failed
    elif isinstance(value, Mapping):
        document = value
    else:
        problems.at(
            ("pipeline",),
            "must be a mapping (shared_memory, kernels) or a path to a pipeline "
            f"YAML, got {show(value)}",
        )
        return failed
    plain_document = isinstance(document, Mapping) and not (
        raw.get("overrides") is not None
        or raw.get("endpoints") is not None
        or document.get("sources")
        or document.get("sinks")
    )
    if not plain_document and isinstance(document, Mapping):
        return _parse_pipeline_under_test(
            raw, document, file_path, path, base_dir, problems, registry
        )
    if file_path is not None:
        errors = validate_pipeline_config(file_path, registry=registry)
        if errors:
            for error in errors:
                problems.at(("pipeline",), error)
            return failed
        try:
            return PipelineConfig.from_yaml(file_path), file_path, {}, {}
        except ConfigValidationError as exc:  # pragma: no cover - validated above
            problems.at(("pipeline",), str(exc))
            return failed
    errors = validate_pipeline_config(value, registry=registry)
    for error in errors:
        match = re.match(r"(shared_memory|kernels)\[(\d+)\]", error)
        loc = (
            ("pipeline", match.group(1), int(match.group(2)))
            if match
            else ("pipeline",)
        )
        problems.add("pipeline", None, error, loc)
    if errors:
        return failed
    try:
        config = PipelineConfig.from_dict(value)
    except ConfigValidationError as exc:  # pragma: no cover - validated above
        problems.at(("pipeline",), exc.message)
        return failed
    # Relative paths in kernel parameters resolve against the scenario's folder.
    if path is not None:
        config = replace(config, source_path=path)
    return config, None, {}, {}


def _parse_pipeline_under_test(
    raw: Mapping,
    document: Mapping,
    file_path: Path | None,
    path: Path | None,
    base_dir: Path,
    problems: _Problems,
    registry: Any,
) -> tuple[PipelineConfig | None, Path | None, dict[str, str], dict[str, Any]]:
    """A pipeline with overrides or endpoints: the overrides applied, the
    endpoints not run left out, what remains validated."""
    from shmpipeline.graph import validate_pipeline_config
    from shmpipeline.testing import pipeline_under_test as put

    failed: tuple[None, None, dict, dict] = (None, None, {}, {})
    known_problems = len(problems)
    changed, override_problems = put.apply_overrides(plain(document), raw.get("overrides"))
    for loc, message in override_problems:
        problems.at(loc, message)
    if override_problems:
        return failed
    where = "pipeline" if raw.get("overrides") is None else "pipeline (overridden)"
    try:
        PipelineConfig.from_dict(changed)  # the whole document must parse
    except ConfigValidationError as exc:
        for message in exc.errors or [exc.message]:
            problems.at(("pipeline",), f"{where}: {message}")
        return failed
    states, state_problems = put.endpoint_states(
        changed, raw.get("endpoints"), _fed_streams(raw.get("inputs"), changed)
    )
    for loc, message in state_problems:
        problems.at(loc, message)
    running = put.running_document(changed, states)
    errors = validate_pipeline_config(running, registry=registry)
    for error in errors:
        problems.at(("pipeline",), f"{where}: {error}")
    for loc, message in put.unreplaced_kind_problems(changed, states, registry):
        problems.at(loc, message)
    if errors or len(problems) > known_problems:
        return failed
    base = file_path.parent if file_path is not None else (
        path.parent if path is not None else base_dir
    )
    try:
        config = PipelineConfig.from_dict(running, base_path=base)
    except ConfigValidationError as exc:  # pragma: no cover - validated above
        problems.at(("pipeline",), exc.message)
        return failed
    if file_path is not None:
        config = replace(config, source_path=file_path)
    elif path is not None:
        config = replace(config, source_path=path)
    declared = {k: changed[k] for k in ("sources", "sinks") if changed.get(k)}
    return config, file_path, states, declared


def _fed_streams(inputs: Any, document: Mapping[str, Any]) -> set[str]:
    """Streams the scenario's raw ``inputs`` write (a key naming a source
    feeds that source's streams)."""
    if not isinstance(inputs, Mapping):
        return set()
    from shmpipeline.testing.pipeline_under_test import endpoint_streams

    streams = {
        entry.get("name")
        for entry in document.get("shared_memory") or []
        if isinstance(entry, Mapping)
    }
    sources = {
        entry.get("name"): entry
        for entry in document.get("sources") or []
        if isinstance(entry, Mapping)
    }
    fed: set[str] = set()
    for key, item in inputs.items():
        if key in streams:
            fed.add(key)
        elif key in sources:
            given = item.get("streams") if isinstance(item, Mapping) else None
            if isinstance(given, Mapping):
                fed.update(str(name) for name in given)
            else:
                fed.update(endpoint_streams("sources", sources[key]))
    return fed


def _derived_seed(seed: int, stream: str) -> int:
    """A per-stream seed, stable across runs and Python versions."""
    return (int(seed) * 1_000_003 + zlib.crc32(stream.encode("utf-8"))) % (2**32)


def _parse_inputs(
    raw: Mapping,
    pipeline: PipelineConfig,
    seed: int,
    base_dir: Path,
    problems: _Problems,
    allow_outside: bool = False,
    endpoint_document: Mapping[str, Any] | None = None,
    endpoints: Mapping[str, str] | None = None,
) -> tuple[InputSpec, ...]:
    from shmpipeline.graph import PipelineGraph

    graph = PipelineGraph.from_config(pipeline)
    sources = set(graph.source_streams())
    triggers = {k.input for k in pipeline.kernels}
    specs = pipeline.shared_memory_by_name
    value = raw.get("inputs")
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        problems.at(("inputs",), "must be a mapping of source stream -> input")
        return ()
    from shmpipeline.testing.pipeline_under_test import endpoint_streams

    run_streams = {  # written by an endpoint the scenario runs
        stream: entry.get("name")
        for section in ("sources", "sinks")
        for entry in (endpoint_document or {}).get(section, ())
        if (endpoints or {}).get(entry.get("name")) == "run"
        for stream in endpoint_streams(section, entry)
    }
    inputs: dict[str, InputSpec] = {}
    calibrations: list[tuple[str, Any, Loc]] = []
    for stream, item, loc in _input_items(value, specs, endpoint_document, problems):
        if isinstance(item, Mapping) and "calibrate" in item and stream in specs:
            calibrations.append((stream, item, loc))
            continue
        if stream in run_streams:
            problems.at(
                loc,
                f"written by {run_streams[stream]!r}, which the scenario runs "
                "(endpoints); drop the input or the 'run'",
            )
            continue
        if not isinstance(stream, str) or stream not in specs:
            problems.at(
                loc,
                f"unknown stream {show(stream)}"
                + did_you_mean(stream, list(specs)),
            )
            continue
        if stream not in sources:
            producers = graph.producers(stream)
            why = (
                f"written by kernel {producers[0]!r}"
                if producers
                else "read by no kernel"
            )
            problems.at(loc, f"not a source stream ({why}); inputs feed sources only")
            continue
        spec = _parse_input(
            item,
            stream,
            specs[stream],
            seed,
            base_dir,
            loc,
            specs,
            problems,
            allow_outside,
        )
        if spec is None:
            continue
        if not spec.per_frame and stream in triggers:
            problems.at(
                loc,
                "triggers a kernel, so it needs a per-frame input (synthetic or "
                "fake); constant and file inputs are written once",
            )
            continue
        inputs[stream] = spec
    for stream, item, loc in calibrations:  # after the camera fakes they measure
        spec = _parse_calibration(item, stream, specs[stream], inputs, loc, problems)
        if spec is not None:
            if stream in triggers:
                problems.at(loc, "triggers a kernel; a calibration is written once")
            else:
                inputs[stream] = spec
    for stream in sorted(sources & triggers):
        if stream in run_streams:
            continue
        if stream not in inputs and stream not in value:
            problems.at(
                ("inputs",),
                f"source stream {stream!r} triggers a kernel and needs an input "
                "(synthetic or fake)",
            )
    from shmpipeline.testing.sources import write_order

    try:
        write_order(pipeline, [n for n, spec in inputs.items() if spec.per_frame])
    except ScenarioError as exc:
        problems.at(("inputs",), exc.message.removeprefix("inputs: "))
    return tuple(inputs[name] for name in sorted(inputs))


def _input_items(
    value: Mapping[str, Any],
    specs: Mapping[str, Any],
    endpoint_document: Mapping[str, Any] | None,
    problems: _Problems,
) -> list[tuple[Any, Any, Loc]]:
    """``(stream, input, location)`` for each entry of ``inputs``: a key
    naming a stream feeds it; one naming a source feeds that source's stream,
    or each of a multi-stream source's streams through ``streams:``."""
    sources = {
        entry.get("name"): entry
        for entry in (endpoint_document or {}).get("sources", ())
        if isinstance(entry, Mapping)
    }
    items: list[tuple[Any, Any, Loc]] = []
    for key, item in value.items():
        if key in specs or key not in sources:
            items.append((key, item, ("inputs", key)))
            continue
        entry = sources[key]
        written = list(entry.get("streams") or [entry.get("stream")])
        per_stream = item.get("streams") if isinstance(item, Mapping) else None
        if per_stream is None and len(written) == 1:
            items.append((written[0], item, ("inputs", key)))
            continue
        if not isinstance(per_stream, Mapping) or (
            isinstance(item, Mapping) and len(item) != 1
        ):
            problems.at(
                ("inputs", key),
                f"source {key!r} writes {', '.join(map(str, written))}: give one "
                "input per stream under streams: {STREAM: input}",
            )
            continue
        for stream, sub in per_stream.items():
            loc: Loc = ("inputs", key, "streams", stream)
            if stream not in written:
                problems.at(
                    loc,
                    f"source {key!r} does not write {show(stream)} (it writes "
                    f"{', '.join(map(str, written))})",
                )
                continue
            items.append((stream, sub, loc))
        missing = [s for s in written if s not in per_stream]
        if missing:
            problems.at(
                ("inputs", key, "streams"),
                f"missing an input for {', '.join(map(str, missing))}",
            )
    return items


def _parse_input(
    item: Any,
    stream: str,
    spec: Any,
    seed: int,
    base_dir: Path,
    loc: Loc,
    specs: Mapping[str, Any],
    problems: _Problems,
    allow_outside: bool = False,
) -> InputSpec | None:
    if not isinstance(item, Mapping):
        problems.at(
            loc,
            "must be a mapping with one of " + ", ".join(_INPUT_KINDS),
        )
        return None
    kinds = [key for key in _INPUT_KINDS if key in item]
    if len(kinds) != 1:
        problems.at(
            loc,
            "needs exactly one of "
            + ", ".join(_INPUT_KINDS)
            + (f" (got {', '.join(kinds)})" if kinds else ""),
        )
        return None
    kind = kinds[0]
    if kind == "synthetic":
        return _parse_synthetic(item, stream, spec, seed, loc, problems)
    if kind == "fake":
        return _parse_fake(item, stream, spec, seed, loc, specs, problems)
    extra = [key for key in item if key != kind]
    if extra:
        problems.at((*loc, extra[0]), f"unknown key next to {kind!r}")
        return None
    if kind == "constant":
        return _parse_constant(
            item["constant"], stream, spec, (*loc, "constant"), problems
        )
    return _parse_file(
        item["file"], stream, spec, base_dir, (*loc, "file"), problems, allow_outside
    )


def _parse_calibration(item, stream, spec, inputs, loc, problems) -> InputSpec | None:
    from shmpipeline.testing.calibration_input import (
        CalibrationProblem,
        calibrated_reconstructor,
    )

    extra = [key for key in item if key != "calibrate"]
    if extra:
        problems.at((*loc, extra[0]), "unknown key next to 'calibrate'")
        return None
    settings = item["calibrate"]
    camera = settings.get("camera") if isinstance(settings, Mapping) else None
    try:
        value = calibrated_reconstructor(
            settings, inputs.get(camera) if isinstance(camera, str) else None, spec
        )
    except CalibrationProblem as exc:
        where = (*loc, "calibrate") + ((exc.field,) if exc.field else ())
        problems.at(where, exc.message)
        return None
    return StaticInput(stream, value=value, origin="calibrate")


def _parse_synthetic(item, stream, spec, seed, loc, problems) -> InputSpec | None:
    from shmpipeline.synthetic import SyntheticInputConfig

    extra = [key for key in item if key != "synthetic"]
    if extra:
        problems.at((*loc, extra[0]), "unknown key next to 'synthetic'")
        return None
    fields = item["synthetic"]
    if fields is None:
        fields = {}
    if isinstance(fields, str):
        fields = {"pattern": fields}
    if not isinstance(fields, Mapping):
        problems.at(
            (*loc, "synthetic"),
            "must be a mapping such as {pattern: random, amplitude: 0.1}",
        )
        return None
    if "stream_name" in fields:
        problems.at(
            (*loc, "synthetic", "stream_name"),
            "not allowed here (the key names the stream)",
        )
        return None
    values = {k: v for k, v in fields.items() if v is not None}
    values.setdefault("seed", _derived_seed(seed, stream))
    try:
        config = SyntheticInputConfig.from_dict({"stream_name": stream, **values})
    except ConfigValidationError as exc:
        message = exc.message
        prefix = f"synthetic input {stream!r}: "
        if message.startswith(prefix):
            message = message[len(prefix) :]
        bad, _, rest = message.partition(":")
        if bad.strip() in fields and rest:
            problems.at((*loc, "synthetic", bad.strip()), rest.strip())
        else:
            problems.at((*loc, "synthetic"), message)
        return None
    return SyntheticInput(stream, config)


def _parse_fake(item, stream, spec, seed, loc, specs, problems) -> InputSpec | None:
    kind = item["fake"]
    if not isinstance(kind, str) or not kind.strip():
        problems.at((*loc, "fake"), "must name a fake kind, e.g. shack_hartmann")
        return None
    params = {k: v for k, v in item.items() if k not in ("fake", "command", "seed")}
    command = item.get("command")
    if command is not None and (not isinstance(command, str) or command not in specs):
        problems.at(
            (*loc, "command"),
            f"unknown stream {show(command)}"
            + did_you_mean(command, list(specs)),
        )
        return None
    fake_seed = item.get("seed")
    if fake_seed is None:
        fake_seed = _derived_seed(seed, stream)
    elif not is_int(fake_seed) or fake_seed < 0:
        problems.at((*loc, "seed"), "must be a non-negative integer")
        return None
    fake = FakeInput(
        stream,
        kind=kind.strip(),
        params=MappingProxyType(plain(params)),
        seed=int(fake_seed),
        command=command,
    )
    from shmpipeline.testing import sources

    error = sources.check_fake(fake, spec, specs)
    if error is not None:
        field_name, message = error
        field_loc = (*loc, field_name) if field_name in item else loc
        problems.at(field_loc, message)
        return None
    return fake


def _as_array(value: Any, spec: Any) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        raise ValueError(f"must be numbers, got {show(value)}")
    if dtype.kind in "iub" and array.dtype.kind in "fc":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise ValueError(f"stream is {dtype.name}: values must be whole numbers")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"values out of the range of {dtype.name}")
    try:
        out = np.broadcast_to(array, spec.shape)
    except ValueError:
        raise ValueError(
            f"shape {tuple(array.shape)} does not fit the stream's {tuple(spec.shape)}"
        ) from None
    result = np.ascontiguousarray(out).astype(dtype, copy=True)
    result.setflags(write=False)
    return result


def _parse_constant(value, stream, spec, loc, problems) -> InputSpec | None:
    if value is None or isinstance(value, (str, Mapping)):
        problems.at(loc, "must be a number or a (nested) list of numbers")
        return None
    try:
        array = _as_array(value, spec)
    except (ValueError, TypeError, OverflowError) as exc:
        problems.at(loc, str(exc))
        return None
    return StaticInput(stream, value=array, origin="constant")


def _parse_file(
    value, stream, spec, base_dir, loc, problems, allow_outside=False
) -> InputSpec | None:
    if not isinstance(value, str) or not value.strip():
        problems.at(loc, "must be a path to a .npy file (relative to the scenario)")
        return None
    try:
        file_path = resolve_inside(
            base_dir,
            value.strip(),
            what="file",
            error=_LocalError,
            allow_outside=allow_outside,
        )
        if not file_path.exists():
            raise _LocalError(f"file not found: {file_path}")
        content = read_user_bytes(file_path, what="file", error=_LocalError)
    except _LocalError as exc:
        problems.at(loc, str(exc))
        return None
    try:
        data = np.load(io.BytesIO(content), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        problems.at(loc, f"cannot read {file_path} as .npy: {exc}")
        return None
    if not isinstance(data, np.ndarray):
        problems.at(loc, f"{file_path} is not a single .npy array")
        return None
    if tuple(data.shape) != tuple(spec.shape):
        problems.at(
            loc,
            f"array shape {tuple(data.shape)} differs from the stream's "
            f"{tuple(spec.shape)}",
        )
        return None
    try:
        array = _as_array(data, spec)
    except (ValueError, TypeError) as exc:
        problems.at(loc, str(exc))
        return None
    return StaticInput(stream, value=array, origin=f"file:{value.strip()}")


def _parse_capture(raw, pipeline: PipelineConfig, problems) -> tuple[str, ...]:
    from shmpipeline.graph import PipelineGraph

    value = raw.get("capture")
    specs = pipeline.shared_memory_by_name
    if value is None:
        graph = PipelineGraph.from_config(pipeline)
        sinks = graph.sink_streams()
        return (
            tuple(sinks)
            if sinks
            else tuple(dict.fromkeys(k.output for k in pipeline.kernels))
        )
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        problems.at(("capture",), "must be a non-empty list of stream names")
        return ()
    found: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str) or item not in specs:
            problems.at(
                ("capture", index),
                f"unknown stream {show(item)}"
                + did_you_mean(item, list(specs)),
            )
        elif item in found:
            problems.at(("capture", index), f"{item!r} listed twice")
        else:
            found.append(item)
    return tuple(found)


def _parse_tolerances(raw, pipeline: PipelineConfig, problems) -> Tolerances:
    found: list[ToleranceProblem] = []
    tolerances = parse_tolerances(
        raw.get("tolerances"),
        ("tolerances",),
        found,
        stream_names=list(pipeline.shared_memory_by_name),
    )
    for problem in found:
        problems.at(problem.loc, problem.message)
    return tolerances


def _parse_expect_failure(
    raw, pipeline: PipelineConfig, problems
) -> ExpectedFailure | None:
    value = raw.get("expect_failure")
    if value is None:
        return None
    loc: Loc = ("expect_failure",)
    if isinstance(value, str):
        value = {"kernel": value}
    if not isinstance(value, Mapping):
        problems.at(loc, "must be a mapping {kernel: NAME, error: TEXT}")
        return None
    for key in value:
        if key not in ("kernel", "error"):
            problems.at((*loc, key), "unknown key; allowed: kernel, error")
    kernel = value.get("kernel")
    names = [k.name for k in pipeline.kernels]
    if not isinstance(kernel, str) or kernel not in names:
        problems.at(
            (*loc, "kernel"),
            f"unknown kernel {show(kernel)}"
            + did_you_mean(kernel, names)
            + f"; kernels: {', '.join(names)}",
        )
        return None
    error = value.get("error")
    if error is not None and (not isinstance(error, str) or not error):
        problems.at(
            (*loc, "error"), "must be a non-empty string (a substring of the error)"
        )
        return None
    return ExpectedFailure(kernel=kernel, error=error)


def _parse_golden(
    raw,
    name: str,
    base_dir: Path,
    path: Path | None,
    problems,
    allow_outside: bool = False,
    variant: str = "",
) -> Path | None:
    value = raw.get("golden")
    if value is None:
        if path is None:
            return None
        value = f"{name}.golden.npz"
    if not isinstance(value, str) or not value.strip():
        problems.at(("golden",), "must be a file path (relative to the scenario)")
        return None
    try:
        return resolve_inside(
            base_dir,
            _variant_file(value.strip(), variant),
            what="golden",
            error=_LocalError,
            allow_outside=allow_outside,
        )
    except _LocalError as exc:
        problems.at(("golden",), str(exc))
        return None


# --- helpers ------------------------------------------------------------------------------


def declared_goldens(path: str | PathLike[str]) -> tuple[Path, ...]:
    """The golden files a scenario file names (one per matrix combination),
    read without validating it; ``()`` when it cannot be read."""
    file_path = Path(path).resolve()
    raw = quick_load(file_path)
    if not isinstance(raw, Mapping):
        return ()
    try:
        variants = expand_matrix(raw) if raw.get("matrix") is not None else [("", raw)]
    except ScenarioError:
        return ()
    found: list[Path] = []
    for variant, variant_raw in variants:
        name = variant_raw.get("name")
        name = name.strip() if isinstance(name, str) else file_path.stem
        value = variant_raw.get("golden")
        value = value.strip() if isinstance(value, str) else f"{name}.golden.npz"
        found.append((file_path.parent / _variant_file(value, variant)).resolve())
    return tuple(found)


def _variant_file(name: str, variant: str) -> str:
    """``x.golden.npz`` -> ``x.r0=0.1.golden.npz`` for a matrix combination."""
    if not variant:
        return name
    tag = re.sub(r"[^A-Za-z0-9_.=\-]+", "_", variant.replace(",", "-"))
    for suffix in (".golden.npz", ".npz"):
        if name.endswith(suffix):
            return f"{name[: -len(suffix)]}.{tag}{suffix}"
    return f"{name}.{tag}"


def _canonical(value: Any) -> Any:
    """A JSON-stable copy of nested config values (numpy scalars to Python)."""
    if isinstance(value, Mapping):
        return {
            str(k): _canonical(v)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
        }
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.ndarray):
        return _canonical(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, numbers.Number) and not isinstance(value, (bool, int, float)):
        return repr(value)
    return value


def quick_load(path: Path) -> Any:
    """The parsed YAML of a file, or ``None`` when it is not a readable
    regular file or does not parse (never blocks on a FIFO; no validation)."""
    try:
        text = read_user_text(path, what="scenario file", error=ScenarioError)
        return yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - not a scenario we can list
        return None


def looks_like_scenario(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a readable YAML mapping with a top-level
    ``pipeline`` key (what collection and listing treat as a scenario)."""
    data = quick_load(Path(path))
    return isinstance(data, Mapping) and "pipeline" in data


def match_scenarios(
    pattern: str, dirs: Iterable[str | PathLike[str]] = ()
) -> list[Path]:
    """Scenario files matching ``pattern``: a glob (``ao_*``) over the names
    and file stems of the scenarios in ``dirs``, else one name or path as
    :func:`resolve_scenario` finds it. Raises :class:`ScenarioError` when
    nothing matches."""
    if not any(char in pattern for char in "*?[") or Path(pattern).is_file():
        return [resolve_scenario(pattern, dirs)]
    dirs = [Path(d) for d in dirs]
    found = [
        path
        for path in find_scenarios(dirs)
        if fnmatch.fnmatchcase(path.stem, pattern)
        or fnmatch.fnmatchcase(_declared_name(path) or "", pattern)
        or fnmatch.fnmatchcase(str(path), pattern)
    ]
    if not found:
        where = ", ".join(str(d) for d in dirs) or "no directory"
        raise ScenarioError(f"no scenario matches {pattern!r} (searched {where})")
    return found


def declared_requirements(path: str | PathLike[str]) -> tuple[str, ...]:
    """The ``requirements`` a scenario file declares, read without
    validating it (so a GPU scenario can be skipped where it cannot even be
    validated, e.g. without torch)."""
    data = quick_load(Path(path))
    value = data.get("requirements") if isinstance(data, Mapping) else None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return ()
    return tuple(
        item.strip().lower()
        for item in items
        if isinstance(item, str) and item.strip().lower() in REQUIREMENTS
    )  # kind:NAME entries: see shmpipeline.testing.requirements


def _declared_name(path: Path) -> str | None:
    data = quick_load(path)
    if isinstance(data, Mapping) and isinstance(data.get("name"), str):
        return data["name"].strip()
    return None
