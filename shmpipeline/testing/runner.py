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
  scenario) and fails with the comparator's report; with
  ``update_goldens=True`` it records the golden instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from shmpipeline.testing.replay import ReplayResult, replay
from shmpipeline.testing.scenario import Scenario, load_scenario, scenario_hash

__all__ = ["ScenarioOutcome", "check_scenario", "record_golden", "RECORD_HINT"]

#: How to (re)record a golden, quoted in failure messages.
RECORD_HINT = (
    "record it with `pytest --scenario {name} --update-goldens` or "
    "`shmpipeline scenario record {target}`"
)


@dataclass(frozen=True)
class ScenarioOutcome:
    """The verdict on one scenario run.

    ``status`` is ``passed``, ``failed`` or ``recorded``; ``message`` the
    human-readable explanation (the comparator's report on a mismatch);
    ``comparison`` the :class:`~shmpipeline.testing.golden.ComparisonReport`
    when values were compared.
    """

    scenario: Scenario
    result: ReplayResult
    status: str
    message: str
    comparison: Any = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def format(self) -> str:
        """Multi-line text for terminals and pytest reports."""
        head = f"scenario {self.scenario.name}: {self.status}"
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
            "scenario": self.scenario.name,
            "path": None if self.scenario.path is None else str(self.scenario.path),
            "golden": None
            if self.scenario.golden is None
            else str(self.scenario.golden),
            "scenario_hash": scenario_hash(self.scenario),
            "status": self.status,
            "ok": self.ok,
            "message": self.message,
            "run": self.result.to_dict(),
            "comparison": comparison,
        }


def _target(scenario: Scenario) -> str:
    """How to name the scenario on a command line run from here."""
    if scenario.path is None:
        return scenario.name
    try:
        return str(scenario.path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(scenario.path)


def record_golden(scenario: Scenario, result: ReplayResult) -> Path:
    """Write ``result``'s captures as the scenario's golden; return its path."""
    from shmpipeline.testing import golden

    if scenario.golden is None:
        raise ValueError(
            f"scenario {scenario.name!r} has no golden path (not loaded from a file)"
        )
    scenario.golden.parent.mkdir(parents=True, exist_ok=True)
    golden.save_golden(
        scenario.golden,
        dict(result.captures),
        scenario_hash=scenario_hash(scenario),
        metadata={"scenario": scenario.name, "frames": result.frames_completed},
    )
    return scenario.golden


def check_scenario(
    scenario: Scenario | str | PathLike[str],
    *,
    update_goldens: bool = False,
    registry: Any = None,
    result: ReplayResult | None = None,
) -> ScenarioOutcome:
    """Replay ``scenario`` (unless ``result`` is given) and judge it; see the
    module docstring. Never raises for a failing pipeline or a mismatch:
    those are ``failed`` outcomes."""
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if result is None:
        result = replay(scenario, registry=registry)

    def outcome(status: str, message: str, comparison: Any = None) -> ScenarioOutcome:
        return ScenarioOutcome(scenario, result, status, message, comparison)

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

    from shmpipeline.testing import golden

    if update_goldens:
        path = record_golden(scenario, result)
        return outcome(
            "recorded",
            f"recorded {result.frames_completed} frames of "
            f"{', '.join(scenario.capture)} in {path}",
        )
    hint = RECORD_HINT.format(name=scenario.name, target=_target(scenario))
    if scenario.golden is None:
        return outcome("failed", f"scenario {scenario.name!r} has no golden file")
    from shmpipeline.errors import GoldenMismatchError, GoldenMissingError

    try:
        expected = golden.load_golden(scenario.golden)
    except GoldenMissingError:
        return outcome("failed", f"golden file missing: {scenario.golden}; {hint}")
    except GoldenMismatchError as exc:  # unreadable / foreign / newer format
        return outcome("failed", str(exc))
    report = golden.compare_captures(
        dict(result.captures),
        expected,
        tolerances=scenario.tolerances,
        scenario_hash=scenario_hash(scenario),
    )
    if report.ok:
        return outcome(
            "passed",
            f"{result.frames_completed} frames of {', '.join(scenario.capture)} "
            f"match {scenario.golden}",
            report,
        )
    return outcome("failed", report.format(), report)
