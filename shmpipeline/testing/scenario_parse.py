"""The scenario document parser: raw YAML data to a :class:`Scenario`.

:func:`build_scenario` checks every top-level field, collecting each problem
at its location (:mod:`~shmpipeline.testing.scenario_problems`), and raises
one :class:`~shmpipeline.errors.ScenarioError` listing them all; the
pipeline and the inputs have their own modules
(:mod:`~shmpipeline.testing.scenario_parse_pipeline`,
:mod:`~shmpipeline.testing.scenario_parse_inputs`).
:func:`scenario_variants` expands a ``matrix`` first, its problems located
at the ``matrix`` key.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from shmpipeline._problems import Loc, did_you_mean, is_int, is_real, show
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ScenarioError
from shmpipeline.graph import PipelineGraph
from shmpipeline.testing.requirements import KIND_PREFIX as KIND_REQUIREMENT_PREFIX
from shmpipeline.testing.requirements import on_cuda
from shmpipeline.testing.scenario import (
    DEFAULT_FRAMES,
    DEFAULT_TIMEOUT_S,
    MAX_FRAMES,
    MODES,
    REQUIREMENTS,
    ExpectedFailure,
    Scenario,
)
from shmpipeline.testing.scenario_matrix import expand_matrix, variant_file
from shmpipeline.testing.scenario_parse_inputs import parse_inputs
from shmpipeline.testing.scenario_parse_pipeline import parse_pipeline
from shmpipeline.testing.scenario_problems import (
    PathProblem,
    ScenarioProblems,
    raise_problems,
)
from shmpipeline.testing.tolerances import (
    ToleranceProblem,
    Tolerances,
    parse_tolerances,
)
from shmpipeline.user_files import resolve_inside

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["TOP_KEYS", "build_scenario", "scenario_variants"]

#: the keys a scenario document may have
TOP_KEYS = (
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
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def scenario_variants(raw: Any, display: str | None) -> list[tuple[str, Any]]:
    """``(variant id, document)`` per combination of the document's
    ``matrix`` (one ``("", raw)`` without one); a bad matrix raises the
    :class:`ScenarioError` located at the ``matrix`` key."""
    if not isinstance(raw, Mapping) or raw.get("matrix") is None:
        return [("", raw)]
    try:
        return expand_matrix(raw)
    except ScenarioError as exc:
        problems = ScenarioProblems()
        problems.add("", None, exc.message, ("matrix",))  # located at the key
        raise_problems(problems, raw, display)
        raise  # pragma: no cover - raise_problems always raises with a problem


def build_scenario(
    raw: Any,
    *,
    display: str | None,
    path: Path | None,
    base_dir: Path,
    registry: KernelRegistry | None = None,
    allow_outside: bool = False,
    variant: str = "",
) -> Scenario:
    """The :class:`Scenario` of one document (no ``matrix`` left): ``path``
    the file it came from (``display`` as messages name it), relative paths
    resolved against ``base_dir``. Raises :class:`ScenarioError`."""
    problems = ScenarioProblems()
    if not isinstance(raw, Mapping):
        problems.at((), f"a scenario must be a mapping, got {show(raw)}")
        raise_problems(problems, raw, display)
    for key in raw:
        if key not in TOP_KEYS:
            problems.at(
                (key,),
                f"unknown key{did_you_mean(key, TOP_KEYS)}; allowed: "
                + ", ".join(TOP_KEYS),
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

    pipeline, pipeline_path, endpoints, endpoint_document = parse_pipeline(
        raw, display, base_dir, path, problems, registry, allow_outside
    )
    if pipeline is None:
        # Nothing else can be checked against a broken pipeline.
        raise_problems(problems, raw, display)
        raise ScenarioError("pipeline: invalid", path=display)

    inputs = parse_inputs(
        raw,
        pipeline,
        seed or 0,
        base_dir,
        problems,
        allow_outside,
        endpoint_document,
        endpoints,
    )
    if "gpu" not in requirements and any(
        on_cuda(spec.storage, spec.gpu_device) for spec in pipeline.shared_memory
    ):
        requirements = (*requirements, "gpu")  # a CUDA stream needs a GPU to run
    capture = _parse_capture(raw, pipeline, problems)
    tolerances = _parse_tolerances(raw, pipeline, problems)
    expect_failure = _parse_expect_failure(raw, pipeline, problems)
    golden = _parse_golden(raw, name, base_dir, path, problems, allow_outside, variant)
    raise_problems(problems, raw, display)
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


def _parse_name(raw: Mapping, path: Path | None, problems: ScenarioProblems) -> str:
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
    problems: ScenarioProblems,
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
    raw: Mapping, key: str, problems: ScenarioProblems, *, default: float | None
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


def _parse_mode(raw: Mapping, problems: ScenarioProblems):
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
    if mode == "free_running" and rate_hz is None and raw.get("rate_hz") is None:
        problems.at(("mode",), "free_running needs rate_hz (frames per second)")
    if mode == "lockstep":
        for key in ("rate_hz", "duration"):
            if raw.get(key) is not None:
                problems.at((key,), "only meaningful with mode: free_running")
    return mode, rate_hz, duration


def _parse_requirements(raw: Mapping, problems: ScenarioProblems) -> tuple[str, ...]:
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


def _parse_capture(
    raw: Mapping, pipeline: PipelineConfig, problems: ScenarioProblems
) -> tuple[str, ...]:
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


def _parse_tolerances(
    raw: Mapping, pipeline: PipelineConfig, problems: ScenarioProblems
) -> Tolerances:
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
    raw: Mapping, pipeline: PipelineConfig, problems: ScenarioProblems
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
    raw: Mapping,
    name: str,
    base_dir: Path,
    path: Path | None,
    problems: ScenarioProblems,
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
            variant_file(value.strip(), variant),
            what="golden",
            error=PathProblem,
            allow_outside=allow_outside,
        )
    except PathProblem as exc:
        problems.at(("golden",), str(exc))
        return None
