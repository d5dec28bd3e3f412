"""Run a scenario and judge it: the one verdict the pytest plugin and the CLI
share.

:func:`check_scenario` replays a scenario and then:

- expected failure (``expect_failure``): passes when exactly that kernel
  failed with that error text; no golden is involved;
- any other failure (a kernel raised, a frame timed out): fails, saying
  which kernel, at which frame, with which error;
- free-running: passes when the run completed; the outcome carries the
  latency statistics (timings are reported, never asserted);
- lockstep: compares the captures with the golden file (tolerances of the
  scenario). On a mismatch the report opens with the first diverging stage,
  lists streams in pipeline order, says which kernel distributions changed
  since recording, writes the captures beside the golden as
  ``<golden>.obtained.npz`` and ends with the command accepting the change.

Golden modes (``goldens=``): ``compare`` (default); ``update`` records
every golden but rewrites a file only when its arrays or the scenario hash
changed (so re-recording never churns version control); ``regen`` compares,
and rewrites only the goldens that fail, which still fail so the new file
gets reviewed.

Executors (``executor=``): ``replay`` (default: the real multi-process
pipeline) or ``inline`` (:func:`~shmpipeline.testing.inline.run_inline`, in
this process, for quick local iteration; its outcomes say they are not the
real pipeline). Free-running scenarios always replay.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from shmpipeline.testing.replay import ReplayResult, replay
from shmpipeline.testing.scenario import Scenario, load_scenario, scenario_hash

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = [
    "EXECUTORS",
    "GOLDEN_MODES",
    "RECORD_HINT",
    "ScenarioOutcome",
    "accept_command",
    "check_scenario",
    "record_golden",
    "unloadable_outcome",
    "write_golden",
]

#: How to (re)record a golden, quoted in failure messages.
RECORD_HINT = (
    "record it with `pytest {target} --update-goldens` or "
    "`shmpipeline scenario record {target}`"
)
GOLDEN_MODES = ("compare", "update", "regen")
EXECUTORS = ("replay", "inline")
#: Label of outcomes computed by the inline executor.
INLINE_LABEL = "inline executor: computed in this process, not the real pipeline"


@dataclass(frozen=True)
class ScenarioOutcome:
    """The verdict on one scenario run.

    ``status`` is ``passed``, ``failed``, ``recorded`` (a golden written) or
    ``unchanged`` (recording found the golden already holding these values);
    ``message`` the human-readable explanation; ``comparison`` the
    :class:`~shmpipeline.testing.golden.ComparisonReport` when values were
    compared (streams in pipeline order), ``golden_arrays`` the golden's
    arrays then, ``divergence`` the
    :class:`~shmpipeline.testing.divergence.Divergence` of a mismatch,
    ``obtained`` the file the captures were written to on a mismatch and
    ``accept`` the command accepting them.
    """

    scenario: Scenario
    result: ReplayResult
    status: str
    message: str
    comparison: Any = None
    golden_arrays: Any = None
    divergence: Any = None
    obtained: Path | None = None
    accept: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def executor(self) -> str:
        return self.result.executor

    @property
    def headline(self) -> str:
        """``scenario NAME: STATUS`` (plus the executor when not replayed)."""
        head = f"scenario {self.scenario.item_name}: {self.status}"
        if self.executor == "inline":
            head += f" [{INLINE_LABEL}]"
        return head

    def format(self) -> str:
        """Multi-line text for terminals and pytest reports."""
        head = self.headline
        if self.scenario.path is not None:
            head += f" ({self.scenario.path})"
        lines = [head]
        if self.message:
            lines.append(self.message)
        latency = self.result.latency
        if latency is not None and self.result.mode == "free_running":
            lines.append(latency.format())
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (``scenario run --report``)."""
        comparison = None
        if self.comparison is not None:
            to_dict = getattr(self.comparison, "to_dict", None)
            comparison = to_dict() if to_dict is not None else str(self.comparison)
        return {
            "scenario": self.scenario.item_name,
            "variant": self.scenario.variant or None,
            "path": None if self.scenario.path is None else str(self.scenario.path),
            "golden": None
            if self.scenario.golden is None
            else str(self.scenario.golden),
            "scenario_hash": scenario_hash(self.scenario),
            "status": self.status,
            "ok": self.ok,
            "executor": self.executor,
            "message": self.message,
            "run": self.result.to_dict(),
            "comparison": comparison,
            "first_divergence": None
            if self.divergence is None
            else self.divergence.to_dict(),
            "obtained": None if self.obtained is None else str(self.obtained),
            "accept": self.accept,
        }


def _target(scenario: Scenario) -> str:
    """How to name the scenario on a command line run from here."""
    if scenario.path is None:
        return scenario.name
    try:
        return str(scenario.path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(scenario.path)


def accept_command(scenario: Scenario) -> str:
    """The CLI command re-recording ``scenario``'s golden from here (a matrix
    file re-records every combination; unchanged ones keep their bytes)."""
    return f"shmpipeline scenario record {shlex.quote(_target(scenario))}"


def _metadata(scenario: Scenario, result: ReplayResult, registry: KernelRegistry | None) -> dict:
    from shmpipeline.testing.provenance import kind_distributions

    meta: dict[str, Any] = {
        "scenario": scenario.name,
        "frames": result.frames_completed,
        "kinds": kind_distributions(scenario.pipeline, registry),
    }
    if scenario.variant:
        meta["variant"] = scenario.variant
    return meta


def write_golden(
    scenario: Scenario, result: ReplayResult, *, registry: KernelRegistry | None = None
) -> bool:
    """Record ``result``'s captures as the scenario's golden unless the file
    already holds exactly these arrays for this scenario hash; returns
    whether the file was (re)written."""
    from shmpipeline.errors import GoldenError
    from shmpipeline.testing import golden
    from shmpipeline.testing.inline import captures_equal

    if scenario.golden is None:
        raise ValueError(
            f"scenario {scenario.name!r} has no golden path (not loaded from a file)"
        )
    digest = scenario_hash(scenario)
    try:
        existing = golden.load_golden(scenario.golden)
    except GoldenError:
        existing = None
    if (
        existing is not None
        and existing.scenario_hash == digest
        and captures_equal(dict(existing.arrays), dict(result.captures))
    ):
        return False
    golden.save_golden(
        scenario.golden,
        dict(result.captures),
        scenario_hash=digest,
        metadata=_metadata(scenario, result, registry),
    )
    return True


def record_golden(scenario: Scenario, result: ReplayResult) -> Path:
    """Write ``result``'s captures as the scenario's golden (unless unchanged,
    see :func:`write_golden`); return its path."""
    write_golden(scenario, result)
    assert scenario.golden is not None
    return scenario.golden


def _run(scenario: Scenario, executor: str, registry: KernelRegistry | None) -> ReplayResult:
    if executor not in EXECUTORS:
        raise ValueError(
            f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}"
        )
    if executor == "inline" and scenario.mode == "lockstep":
        from shmpipeline.testing.inline import run_inline

        return run_inline(scenario, registry=registry)
    return replay(scenario, registry=registry)


def _empty_result(name: str, executor: str) -> ReplayResult:
    return ReplayResult(
        scenario=name,
        executor=executor,
        mode="lockstep",
        frames=0,
        frames_completed=0,
        captures=MappingProxyType({}),
    )


def unloadable_outcome(
    path: str | PathLike[str], message: str, executor: str = "replay"
) -> ScenarioOutcome:
    """The ``failed`` outcome of a scenario file that does not load (its
    one-line error as the message; the scenario a placeholder named after
    the file, with an empty pipeline)."""
    from shmpipeline.config import PipelineConfig

    file_path = Path(path)
    placeholder = Scenario(
        name=file_path.stem or "scenario",
        pipeline=PipelineConfig(shared_memory=(), kernels=()),
        description="could not be loaded",
        path=file_path,
    )
    return ScenarioOutcome(
        placeholder,
        _empty_result(placeholder.name, executor),
        "failed",
        message.splitlines()[0] if message else "could not be loaded",
    )


def check_scenario(
    scenario: Scenario | str | PathLike[str],
    *,
    update_goldens: bool = False,
    registry: KernelRegistry | None = None,
    result: ReplayResult | None = None,
    goldens: str | None = None,
    executor: str = "replay",
    accept: str | None = None,
) -> ScenarioOutcome:
    """Replay ``scenario`` (unless ``result`` is given) and judge it; see the
    module docstring. ``goldens`` is a mode of :data:`GOLDEN_MODES`
    (``update_goldens=True`` is ``update``); ``accept`` overrides the command
    quoted to accept a change; kernel, source and sink kinds resolve through
    ``registry`` (default: the default registry, with the installed
    plugins). Never raises for a user error (a scenario that does not load,
    an unknown kind), a failing pipeline or a mismatch: those are ``failed``
    outcomes with a one-line message."""
    from shmpipeline.errors import ConfigValidationError

    mode = goldens or ("update" if update_goldens else "compare")
    if mode not in GOLDEN_MODES:
        raise ValueError(
            f"goldens must be one of {', '.join(GOLDEN_MODES)}, got {mode!r}"
        )
    if not isinstance(scenario, Scenario):
        try:
            scenario = load_scenario(scenario, registry=registry)
        except ConfigValidationError as exc:  # ScenarioError included
            return unloadable_outcome(scenario, str(exc), executor)
    if result is None:
        try:
            result = _run(scenario, executor, registry)
        except ConfigValidationError as exc:  # e.g. a kind this registry lacks
            return ScenarioOutcome(
                scenario,
                _empty_result(scenario.name, executor),
                "failed",
                str(exc).splitlines()[0],
            )
    accept = accept or accept_command(scenario)

    def outcome(status: str, message: str, **extra: Any) -> ScenarioOutcome:
        return ScenarioOutcome(scenario, result, status, message, **extra)

    problem = result.problem()
    if problem is not None:
        detail = problem
        if result.failure is not None and result.failure.traceback:
            detail += "\n\nworker traceback:\n" + result.failure.traceback.rstrip()
        return outcome("failed", detail)
    if scenario.expect_failure is not None:
        failure = result.failure
        assert failure is not None
        return outcome(
            "passed",
            f"kernel {failure.kernel!r} failed as expected at frame {failure.frame}: "
            f"{failure.error}",
        )
    if result.mode == "free_running":
        return outcome("passed", f"free-running, {result.frames_completed} frames")
    if scenario.golden is None:
        return outcome("failed", f"scenario {scenario.name!r} has no golden file")

    from shmpipeline.errors import GoldenError
    from shmpipeline.testing import golden

    captured = ", ".join(scenario.capture)
    if mode == "update":
        try:
            written = write_golden(scenario, result, registry=registry)
        except GoldenError as exc:
            return outcome("failed", str(exc))
        _remove_obtained(scenario.golden)
        if not written:
            return outcome(
                "unchanged",
                f"golden {scenario.golden} already holds these "
                f"{result.frames_completed} frames of {captured} (not rewritten)",
            )
        return outcome(
            "recorded",
            f"recorded {result.frames_completed} frames of {captured} in "
            f"{scenario.golden}",
        )
    try:
        expected = golden.load_golden(scenario.golden)
    except GoldenError as exc:  # missing, unreadable, foreign, newer format
        missing = not Path(scenario.golden).exists()
        if mode == "regen" and missing:
            return _regenerate(scenario, result, registry, outcome, str(exc))
        text = (
            f"golden file missing: {scenario.golden}; record it with: {accept}"
            if missing
            else str(exc)
        )
        return outcome("failed", text)
    report = golden.compare_captures(
        dict(result.captures),
        expected,
        tolerances=scenario.tolerances,
        scenario_hash=scenario_hash(scenario),
    )
    report = _in_pipeline_order(report, scenario)
    if report.ok:
        _remove_obtained(scenario.golden)
        return outcome(
            "passed",
            f"{result.frames_completed} frames of {captured} match {scenario.golden}",
            comparison=report,
            golden_arrays=expected.arrays,
        )
    from shmpipeline.testing.divergence import first_divergence
    from shmpipeline.testing.provenance import kind_distributions, version_changes

    divergence = first_divergence(
        report.failures, scenario.pipeline, scenario.inputs_by_stream
    )
    lines = [] if divergence is None else [divergence.format()]
    lines.append(report.format())
    changes = version_changes(
        expected.metadata.get("kinds"), kind_distributions(scenario.pipeline, registry)
    )
    if changes:
        lines.append("changed since the golden was recorded:")
        lines.extend(f"  {line}" for line in changes)
    if mode == "regen":
        return _regenerate(
            scenario,
            result,
            registry,
            outcome,
            "\n".join(lines),
            comparison=report,
            golden_arrays=expected.arrays,
            divergence=divergence,
        )
    obtained = _write_obtained(scenario, result, registry)
    if isinstance(obtained, Path):
        lines.append(
            f"obtained values written to {obtained} (same layout as the golden)"
        )
        obtained_path: Path | None = obtained
    else:
        lines.append(f"obtained values not written: {obtained}")
        obtained_path = None
    lines.append(f"accept this change: {accept}")
    return outcome(
        "failed",
        "\n".join(lines),
        comparison=report,
        golden_arrays=expected.arrays,
        divergence=divergence,
        obtained=obtained_path,
        accept=accept,
    )


def _regenerate(scenario, result, registry, outcome, why: str, **extra: Any):
    """``regen`` mode: rewrite a failing golden and still fail the test."""
    from shmpipeline.errors import GoldenError

    try:
        write_golden(scenario, result, registry=registry)
    except GoldenError as exc:
        return outcome("failed", f"{why}\ngolden not regenerated: {exc}", **extra)
    _remove_obtained(scenario.golden)
    return outcome(
        "failed",
        f"{why}\ngolden regenerated: {scenario.golden} was rewritten with this run's "
        "values; review the change (e.g. `git diff --stat`) and commit it",
        **extra,
    )


def _in_pipeline_order(report: Any, scenario: Scenario) -> Any:
    from shmpipeline.testing.divergence import stream_order

    order = {name: i for i, name in enumerate(stream_order(scenario.pipeline))}
    streams = sorted(
        report.streams, key=lambda s: (order.get(s.name, len(order)), s.name)
    )
    return replace(report, streams=tuple(streams))


def _write_obtained(scenario: Scenario, result: ReplayResult, registry: KernelRegistry | None) -> Any:
    from shmpipeline.errors import GoldenError
    from shmpipeline.testing import golden

    assert scenario.golden is not None
    target = golden.obtained_path(scenario.golden)
    metadata = _metadata(scenario, result, registry)
    metadata["obtained"] = True
    try:
        return golden.save_golden(
            target,
            dict(result.captures),
            scenario_hash=scenario_hash(scenario),
            metadata=metadata,
        )
    except (GoldenError, OSError) as exc:
        return str(exc)


def _remove_obtained(golden_path: Path | None) -> None:
    """Drop a stale ``.obtained.npz`` once the golden matches (only a file of
    the golden format is ever removed)."""
    from shmpipeline.testing import golden

    if golden_path is None:
        return
    target = golden.obtained_path(golden_path)
    if target.is_file() and not target.is_symlink() and golden.is_golden_file(target):
        target.unlink(missing_ok=True)
