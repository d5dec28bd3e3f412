"""The ``pipeline`` of a scenario: a mapping or a pipeline file, validated.

A plain pipeline is validated as ``shmpipeline validate`` would; one with
``overrides``, ``endpoints`` or sources and sinks first gets the overrides
applied and the endpoints the scenario does not run left out
(:mod:`~shmpipeline.testing.pipeline_under_test`), and what remains is
validated. Every problem is recorded at the ``pipeline`` key (or the kernel
or stream entry of an inline pipeline).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shmpipeline._problems import show
from shmpipeline._yaml import load_yaml_file, plain
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.pipeline_validation import validate_pipeline_config
from shmpipeline.testing import pipeline_under_test as put
from shmpipeline.testing.scenario_parse_inputs import fed_streams
from shmpipeline.testing.scenario_problems import PathProblem, ScenarioProblems
from shmpipeline.user_files import check_regular_file, resolve_inside

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["ParsedPipeline", "parse_pipeline"]

#: the pipeline that runs, the file it came from, each endpoint's state and
#: the endpoints as declared (``None`` first when the pipeline is invalid)
ParsedPipeline = tuple[PipelineConfig | None, Path | None, dict[str, str], dict[str, Any]]


def parse_pipeline(
    raw: Mapping,
    display: str | None,
    base_dir: Path,
    path: Path | None,
    problems: ScenarioProblems,
    registry: KernelRegistry | None = None,
    allow_outside: bool = False,
) -> ParsedPipeline:
    """The pipeline the scenario runs, the file it came from, each endpoint's
    state and the endpoints as declared (see :mod:`.pipeline_under_test`)."""
    failed = _failed()
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
                error=PathProblem,
                allow_outside=allow_outside,
            )
            if not file_path.exists():
                raise PathProblem(f"pipeline file not found: {file_path}")
            check_regular_file(file_path, what="pipeline file", error=PathProblem)
            document, _, _ = load_yaml_file(file_path)
        except PathProblem as exc:
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


def _failed() -> ParsedPipeline:
    """What an invalid pipeline parses to (fresh mappings each time)."""
    return (None, None, {}, {})


def _parse_pipeline_under_test(
    raw: Mapping,
    document: Mapping,
    file_path: Path | None,
    path: Path | None,
    base_dir: Path,
    problems: ScenarioProblems,
    registry: KernelRegistry | None,
) -> ParsedPipeline:
    """A pipeline with overrides or endpoints: the overrides applied, the
    endpoints not run left out, what remains validated."""
    failed = _failed()
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
        changed, raw.get("endpoints"), fed_streams(raw.get("inputs"), changed)
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
