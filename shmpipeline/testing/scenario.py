"""Scenario files: a pipeline, its inputs, what to capture and how to compare.

A scenario is a YAML file, usually in ``scenarios/``::

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

This module holds :class:`Scenario` and the functions to load, find,
resolve and hash scenarios. The rest lives beside it, one concept each:
the input kinds (:mod:`~shmpipeline.testing.inputs`), the document parser
(:mod:`~shmpipeline.testing.scenario_parse`, which builds ``Scenario``
objects and so is imported on use here), matrices
(:mod:`~shmpipeline.testing.scenario_matrix`) and the unvalidated file
readers (:mod:`~shmpipeline.testing.scenario_files`). The names other code
imports from here keep working.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any

from shmpipeline._problems import did_you_mean
from shmpipeline._yaml import load_yaml_file
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ConfigValidationError, ScenarioError
from shmpipeline.testing.canonical import canonical
from shmpipeline.testing.inputs import (
    FakeInput,
    InputSpec,
    StaticInput,
    SyntheticInput,
    derived_seed,
)
from shmpipeline.testing.requirements import NAMED_REQUIREMENTS as REQUIREMENTS
from shmpipeline.testing.requirements import declared_requirements
from shmpipeline.testing.scenario_files import (
    declared_goldens,
    declared_name,
    looks_like_scenario,
    quick_load,
)
from shmpipeline.testing.scenario_matrix import MAX_MATRIX_COMBINATIONS, expand_matrix
from shmpipeline.testing.tolerances import Tolerance, Tolerances
from shmpipeline.user_files import check_regular_file

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "ExpectedFailure",
    "as_scenario",
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
# REQUIREMENTS (imported above): the named ``requirements`` entries, besides
# ``kind:NAME`` (as shmpipeline.testing.requirements checks them)
DEFAULT_FRAMES = 20
DEFAULT_TIMEOUT_S = 10.0
MAX_FRAMES = 10_000_000
SCENARIO_SUFFIXES = (".yaml", ".yml")


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
        registry: KernelRegistry | None = None,
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
        return _parser().build_scenario(
            raw,
            display=None,
            path=None,
            base_dir=base.resolve(),
            registry=registry,
            allow_outside=allow_outside_paths,
        )


# --- public functions ----------------------------------------------------------------


def _parser() -> ModuleType:
    """The document parser module (:mod:`.scenario_parse`): it builds
    :class:`Scenario` objects, so it imports this module and is imported on
    use here."""
    from shmpipeline.testing import scenario_parse

    return scenario_parse


def as_scenario(
    scenario: Scenario | str | PathLike[str], registry: KernelRegistry | None = None
) -> Scenario:
    """``scenario`` itself, or the scenario file it names loaded with
    :func:`load_scenario` (what the executors accept)."""
    if isinstance(scenario, Scenario):
        return scenario
    return load_scenario(scenario, registry=registry)


def scenarios_from_dict(
    raw: Mapping[str, Any],
    *,
    base_dir: str | PathLike[str] | None = None,
    registry: KernelRegistry | None = None,
    allow_outside_paths: bool = False,
) -> tuple[Scenario, ...]:
    """:meth:`Scenario.from_dict` for a mapping that may declare a
    ``matrix``: one scenario per combination (each with its ``variant``)."""
    base = (Path(base_dir) if base_dir is not None else Path.cwd()).resolve()
    parser = _parser()
    return tuple(
        parser.build_scenario(
            variant_raw,
            display=None,
            path=None,
            base_dir=base,
            registry=registry,
            allow_outside=allow_outside_paths,
            variant=variant,
        )
        for variant, variant_raw in parser.scenario_variants(raw, None)
    )


def load_scenario(
    path: str | PathLike[str],
    *,
    registry: KernelRegistry | None = None,
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
    registry: KernelRegistry | None = None,
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
    parser = _parser()
    return tuple(
        parser.build_scenario(
            variant_raw,
            display=display,
            path=resolved,
            base_dir=resolved.parent,
            registry=registry,
            allow_outside=allow_outside_paths,
            variant=variant,
        )
        for variant, variant_raw in parser.scenario_variants(raw, display)
    )


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
                seed=derived_seed(seed, stream),
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
        "pipeline": canonical(scenario.pipeline.to_dict()),
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
            "document": canonical(dict(scenario.endpoint_document)),
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
        declared = declared_name(path)
        if text in (path.stem, declared):
            return path
        available.append(declared or path.stem)
    where = ", ".join(str(d) for d in dirs) or "no directory"
    listing = ", ".join(sorted(set(available))) or "none"
    hint = did_you_mean(text, available)
    raise ScenarioError(
        f"scenario {text!r} not found{hint} (searched {where}; available: {listing})"
    )


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
        or fnmatch.fnmatchcase(declared_name(path) or "", pattern)
        or fnmatch.fnmatchcase(str(path), pattern)
    ]
    if not found:
        where = ", ".join(str(d) for d in dirs) or "no directory"
        raise ScenarioError(f"no scenario matches {pattern!r} (searched {where})")
    return found
