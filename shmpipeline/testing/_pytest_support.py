"""The working parts of the pytest plugin (:mod:`shmpipeline.testing.plugin`
imports this module only when a hook or fixture needs it)."""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shmpipeline.errors import ScenarioError

NAMESPACE_ENV = "SHMPIPELINE_NAMESPACE"
SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "shmp"

_SCENARIOS = pytest.StashKey[dict]()
_SAVED_ENV = pytest.StashKey[tuple]()


# --- configuration ----------------------------------------------------------------


def scenario_dirs(config: pytest.Config) -> list[Path]:
    """Where scenarios are looked up: ``--scenario-dir`` options (relative to
    the invocation directory), else the ``scenario_dir`` ini option, else
    ``scenarios/`` under the rootdir if it exists, else the rootdir."""
    invocation = Path(config.invocation_params.dir)
    given = config.getoption("shmpipeline_scenario_dirs", None) or []
    if given:
        return [(invocation / d).resolve() for d in given]
    ini = config.getini("scenario_dir")
    if ini:
        return [Path(d).resolve() for d in ini]
    root = Path(config.rootpath)
    if (root / "scenarios").is_dir():
        return [(root / "scenarios").resolve()]
    return [root.resolve()]


def configure(config: pytest.Config) -> None:
    """Give the session (this xdist worker) its own namespace, and resolve
    ``--scenario`` names into the files to collect."""
    previous = os.environ.get(NAMESPACE_ENV)
    config.stash[_SAVED_ENV] = (previous,)
    if not previous:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.environ[NAMESPACE_ENV] = _clean(f"s{os.getpid()}{worker}")[:40]

    names = config.getoption("shmpipeline_scenarios", None) or []
    if not names:
        return
    from shmpipeline.testing.scenario import resolve_scenario

    dirs = scenario_dirs(config)
    invocation = Path(config.invocation_params.dir)
    paths: dict[Path, None] = {}
    for name in names:
        try:
            candidate = invocation / name
            if candidate.is_file():
                paths[candidate.resolve()] = None
            else:
                paths[resolve_scenario(name, dirs)] = None
        except ScenarioError as exc:
            raise pytest.UsageError(f"--scenario {name}: {exc}") from None
    config.stash[_SCENARIOS] = paths
    args = [str(p) for p in paths]
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        # `pytest --scenario NAME` alone runs just the scenarios
        config.args[:] = args
    else:
        config.args.extend(a for a in args if a not in config.args)


def unconfigure(config: pytest.Config) -> None:
    saved = config.stash.get(_SAVED_ENV, None)
    if saved is None:
        return
    (previous,) = saved
    if previous is None:
        os.environ.pop(NAMESPACE_ENV, None)
    else:
        os.environ[NAMESPACE_ENV] = previous


def report_header(config: pytest.Config) -> list[str] | None:
    paths = config.stash.get(_SCENARIOS, None)
    if not paths:
        return None
    return [f"shmpipeline scenarios: {', '.join(str(p) for p in paths)}"]


# --- namespaces and the leak guard ------------------------------------------------------


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


def new_namespace(test_name: str) -> str:
    """A namespace unique to this process, xdist worker and test."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return (
        f"t{os.getpid()}{_clean(worker)}{_clean(test_name)[:24]}{uuid.uuid4().hex[:6]}"
    )


def segments(namespace: str) -> list[str]:
    """Names of the ``/dev/shm`` segments of ``namespace``."""
    if not SHM_DIR.is_dir():
        return []
    prefix = f"{SEGMENT_PREFIX}.{namespace}."
    return sorted(p.name for p in SHM_DIR.iterdir() if p.name.startswith(prefix))


@contextlib.contextmanager
def namespace_guard(config: pytest.Config, test_name: str) -> Iterator[str]:
    """Yield a fresh namespace; afterwards remove any segment left in it and
    fail the test when there was one (unless the ini option disables it)."""
    namespace = new_namespace(test_name)
    yield namespace
    leaked = segments(namespace)
    for name in leaked:  # clean up so one leak does not cascade
        with contextlib.suppress(OSError):
            (SHM_DIR / name).unlink()
    if leaked and config.getini("shmpipeline_leak_guard"):
        pytest.fail(f"test leaked shared-memory segments: {leaked}", pytrace=False)


@contextlib.contextmanager
def _namespace_env(namespace: str) -> Iterator[None]:
    previous = os.environ.get(NAMESPACE_ENV)
    os.environ[NAMESPACE_ENV] = namespace
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(NAMESPACE_ENV, None)
        else:
            os.environ[NAMESPACE_ENV] = previous


# --- GPU probe ---------------------------------------------------------------------------


def require_gpu(config: pytest.Config) -> None:
    """Skip (or with ``--require-gpu`` fail) when there is no CUDA device."""
    from shmpipeline.testing.gpu_probe import cuda_probe

    present, reason = cuda_probe()
    if present:
        return
    if config.getoption("shmpipeline_require_gpu", False):
        pytest.fail(f"--require-gpu: {reason}", pytrace=False)
    pytest.skip(reason)


# --- scenario items ----------------------------------------------------------------------


class ScenarioCheckFailed(AssertionError):
    """A scenario item failed; the message is the whole report."""


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    wanted = parent.config.stash.get(_SCENARIOS, None)
    if not wanted:
        return None
    try:
        resolved = Path(file_path).resolve()
    except OSError:
        return None
    if resolved not in wanted:
        return None
    return ScenarioFile.from_parent(parent, path=Path(file_path))


class ScenarioFile(pytest.File):
    """A scenario YAML named by ``--scenario``: one item."""

    def collect(self):
        from shmpipeline.testing.scenario import declared_requirements, load_scenario

        try:
            scenario = load_scenario(self.path)
        except ScenarioError as exc:
            if "gpu" in declared_requirements(self.path):
                # e.g. gpu kinds that cannot be validated without torch: the
                # scenario is skipped (or failed with --require-gpu) like any
                # gpu item, the load error reported only where a GPU exists
                yield UnloadableGpuScenario.from_parent(
                    self, name=self.path.stem, error=exc
                )
                return
            raise self.CollectError("\n".join(exc.errors)) from None
        yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)


class ScenarioItem(pytest.Item):
    """Replay one scenario and check it against its golden."""

    def __init__(self, *, scenario: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.add_marker("scenario")
        if "gpu" in scenario.requirements:
            self.add_marker("gpu")

    def runtest(self) -> None:
        from shmpipeline.testing.runner import check_scenario

        if "gpu" in self.scenario.requirements:
            require_gpu(self.config)
        update = bool(self.config.getoption("shmpipeline_update_goldens", False))
        with namespace_guard(self.config, self.name) as namespace:
            with _namespace_env(namespace):
                outcome = check_scenario(self.scenario, update_goldens=update)
        self.user_properties.append(("scenario_status", outcome.status))
        if outcome.result.latency is not None:
            self.add_report_section(
                "call", "shmpipeline", outcome.result.latency.format()
            )
        if not outcome.ok:
            raise ScenarioCheckFailed(outcome.format())
        if outcome.status == "recorded":
            self.add_report_section("call", "shmpipeline", outcome.message)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (ScenarioCheckFailed, ScenarioError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"scenario {self.scenario.name}"


class UnloadableGpuScenario(pytest.Item):
    """A ``requirements: [gpu]`` scenario that does not load here."""

    def __init__(self, *, error: ScenarioError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error
        self.add_marker("gpu")
        self.add_marker("scenario")

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ScenarioError):
            return "\n".join(excinfo.value.errors)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"scenario {self.name}"


# --- fixtures' helpers -------------------------------------------------------------------


class ManagerFactory:
    """Builds managers for the ``pipeline_manager`` fixture and shuts every
    one of them down at teardown."""

    def __init__(self) -> None:
        self.managers: list[Any] = []

    def __call__(
        self,
        config: Any,
        *,
        start: bool = True,
        lockstep: bool = False,
        **kwargs: Any,
    ) -> Any:
        from shmpipeline.manager import PipelineManager

        manager = PipelineManager(config, **kwargs)
        self.managers.append(manager)
        if lockstep:
            manager.set_lockstep(True)
        manager.build()
        if start:
            manager.start()
        return manager

    def close(self) -> None:
        while self.managers:
            manager = self.managers.pop()
            try:
                manager.shutdown()
            except Exception:  # noqa: BLE001 - never leak segments on teardown
                manager.shutdown(force=True)


class ScenarioRunner:
    """The ``run_scenario`` fixture's callable."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.config = request.config

    def resolve(self, name_or_path: Any) -> Path:
        from shmpipeline.testing.scenario import resolve_scenario

        candidate = Path(name_or_path)
        if candidate.is_file():
            return candidate.resolve()
        dirs = scenario_dirs(self.config)
        here = Path(self.request.path).parent
        for base in (here, here / "scenarios"):
            if base.is_dir() and base not in dirs:
                dirs.append(base)
        return resolve_scenario(name_or_path, dirs)

    def __call__(
        self,
        name_or_path: Any,
        *,
        check: bool = True,
        update_goldens: bool | None = None,
        registry: Any = None,
    ) -> Any:
        from shmpipeline.testing.runner import check_scenario
        from shmpipeline.testing.scenario import Scenario

        scenario = (
            name_or_path
            if isinstance(name_or_path, Scenario)
            else self.resolve(name_or_path)
        )
        if update_goldens is None:
            update_goldens = bool(
                self.config.getoption("shmpipeline_update_goldens", False)
            )
        if isinstance(scenario, Scenario):
            requirements = scenario.requirements
        else:
            from shmpipeline.testing.scenario import load_scenario

            scenario = load_scenario(scenario)
            requirements = scenario.requirements
        if "gpu" in requirements:
            require_gpu(self.config)
        outcome = check_scenario(
            scenario, update_goldens=update_goldens, registry=registry
        )
        if check and not outcome.ok:
            pytest.fail(outcome.format(), pytrace=False)
        return outcome
