"""The working parts of the pytest plugin (:mod:`shmpipeline.testing.plugin`
imports this module only when a hook or fixture needs it)."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from shmpipeline.errors import ScenarioError

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

NAMESPACE_ENV = "SHMPIPELINE_NAMESPACE"
SHM_DIR = Path("/dev/shm")
SEGMENT_PREFIX = "shmp"

_SCENARIOS = pytest.StashKey[dict]()
_SAVED_ENV = pytest.StashKey[tuple]()
#: the harness pool already running when the session began (an enclosing one's)
_POOL_BEFORE = pytest.StashKey[Any]()


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
    ``--scenario`` names and globs into the files to collect."""
    previous = os.environ.get(NAMESPACE_ENV)
    config.stash[_SAVED_ENV] = (previous,)
    config.stash[_POOL_BEFORE] = _running_harness_pool()
    if not previous:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        os.environ[NAMESPACE_ENV] = _clean(f"s{os.getpid()}{worker}")[:40]

    names = config.getoption("shmpipeline_scenarios", None) or []
    if not names:
        return
    from shmpipeline.testing.examples import match_with_shipped

    dirs = scenario_dirs(config)
    invocation = Path(config.invocation_params.dir)
    paths: dict[Path, None] = {}
    for name in names:
        try:
            candidate = invocation / name
            if candidate.is_file():
                paths[candidate.resolve()] = None
            else:
                paths.update(dict.fromkeys(match_with_shipped(name, dirs)))
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


_OUTCOMES = pytest.StashKey[list]()


def session_registry(config: pytest.Config) -> Any:
    """The registry of ``--shmpipeline-registry`` / the ``shmpipeline_registry``
    ini key, else ``None`` (the default registry with installed plugins)."""
    from shmpipeline.testing.registry_spec import resolve_registry

    spec = config.getoption("shmpipeline_registry", None) or config.getini(
        "shmpipeline_registry"
    )
    return resolve_registry(spec or None)


def golden_mode(config: pytest.Config) -> str:
    """``update``, ``regen`` or ``compare`` from the command-line options."""
    if config.getoption("shmpipeline_update_goldens", False):
        return "update"
    if config.getoption("shmpipeline_force_regen", False):
        return "regen"
    return "compare"


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A :class:`ScenarioFile` for a scenario YAML that was named by
    ``--scenario``, given on the command line, or found in a collected
    directory with ``scenario_collect = true``."""
    from shmpipeline.testing.scenario import looks_like_scenario

    config = parent.config
    try:
        resolved = Path(file_path).resolve()
    except OSError:
        return None
    wanted = config.stash.get(_SCENARIOS, None) or {}
    if resolved in wanted:
        return ScenarioFile.from_parent(parent, path=Path(file_path))
    explicit = parent.session.isinitpath(file_path)
    if not explicit and not config.getini("scenario_collect"):
        return None
    if not looks_like_scenario(resolved):
        return None
    return ScenarioFile.from_parent(parent, path=Path(file_path))


class ScenarioFile(pytest.File):
    """A scenario YAML: one item, or one per combination of its matrix."""

    def collect(self):
        from shmpipeline.errors import ConfigValidationError
        from shmpipeline.testing.requirements import unmet_for_file
        from shmpipeline.testing.scenario import load_scenarios

        try:
            registry = session_registry(self.config)
        except ConfigValidationError as exc:  # a registry name that does not load
            raise self.CollectError(str(exc)) from None
        unmet = unmet_for_file(self.path, registry=registry, probe_gpu=False)
        if unmet:
            yield UnmetScenario.from_parent(self, name=self.path.stem, unmet=unmet)
            return
        allow = bool(self.config.getoption("shmpipeline_allow_outside", False))
        try:
            scenarios = load_scenarios(
                self.path, registry=registry, allow_outside_paths=allow
            )
        except ScenarioError as exc:
            raise self.CollectError("\n".join(exc.errors)) from None
        for scenario in scenarios:
            yield ScenarioItem.from_parent(
                self, name=scenario.item_name, scenario=scenario
            )


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
        executor = self.config.getoption("shmpipeline_executor", "replay") or "replay"
        with namespace_guard(self.config, self.name) as namespace:
            with _namespace_env(namespace):
                outcome = check_scenario(
                    self.scenario,
                    registry=session_registry(self.config),
                    goldens=golden_mode(self.config),
                    executor=executor,
                    accept=pytest_accept_command(self.nodeid),
                )
        self.user_properties.append(("scenario_status", outcome.status))
        self.user_properties.append(("scenario_executor", outcome.executor))
        report_outcome(self.config, outcome)
        if outcome.ok:  # (a failure's report is the failure text itself)
            self.add_report_section("call", "shmpipeline", outcome.format())
        if outcome.result.latency is not None:
            self.add_report_section(
                "call", "shmpipeline latency", outcome.result.latency.format()
            )
        if not outcome.ok:
            raise ScenarioCheckFailed(outcome.format())

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (ScenarioCheckFailed, ScenarioError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"scenario {self.scenario.item_name}"


class UnmetScenario(pytest.Item):
    """A scenario whose requirements are not met here: skipped with the
    reason (failed with ``--require-gpu`` when a GPU or torch is missing)."""

    def __init__(self, *, unmet: tuple, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unmet = unmet
        self.add_marker("scenario")

    def runtest(self) -> None:
        reason = "; ".join(u.format() for u in self.unmet)
        hardware = any(u.hardware for u in self.unmet)
        if hardware and self.config.getoption("shmpipeline_require_gpu", False):
            pytest.fail(f"--require-gpu: {reason}", pytrace=False)
        pytest.skip(reason)

    def reportinfo(self):
        return self.path, None, f"scenario {self.name}"


def pytest_accept_command(nodeid: str) -> str:
    """The pytest command that re-records the golden of item ``nodeid``."""
    return f"pytest {shlex.quote(nodeid)} --update-goldens"


def report_outcome(config: pytest.Config, outcome: Any) -> None:
    """Write the HTML report of ``outcome`` when ``--scenario-report`` is set."""
    directory = config.getoption("shmpipeline_report_dir", None)
    if not directory:
        return
    from shmpipeline.testing.report_html import write_scenario_report

    target = Path(config.invocation_params.dir) / directory
    write_scenario_report(outcome, target)


def _scenario_activity(config: pytest.Config) -> bool:
    if config.getoption("shmpipeline_scenarios", None):
        return True
    if config.getini("scenario_collect"):
        return True
    for flag in (
        "shmpipeline_update_goldens",
        "shmpipeline_force_regen",
        "shmpipeline_remove_unused",
    ):
        if config.getoption(flag, False):
            return True
    return any(
        str(arg).split("::")[0].endswith((".yaml", ".yml")) for arg in config.args
    )


def _inventory_dirs(config: pytest.Config) -> list[Path]:
    invocation = Path(config.invocation_params.dir)
    dirs: dict[Path, None] = {}
    if (
        config.getoption("shmpipeline_scenario_dirs", None)
        or config.getini("scenario_dir")
        or (Path(config.rootpath) / "scenarios").is_dir()
    ):
        dirs.update(dict.fromkeys(scenario_dirs(config)))
    for path in config.stash.get(_SCENARIOS, None) or {}:
        dirs[path.parent] = None
    for arg in config.args:
        candidate = (invocation / str(arg).split("::")[0]).resolve()
        if candidate.is_dir():
            dirs[candidate] = None
        elif candidate.suffix in (".yaml", ".yml") and candidate.is_file():
            dirs[candidate.parent] = None
    return list(dirs)


def _running_harness_pool() -> Any:
    """The replay harness's worker pool in this process, if one runs (the
    replay module is not imported just to ask)."""
    import sys

    replay = sys.modules.get("shmpipeline.testing.replay")
    return None if replay is None else replay.active_harness_pool()


def session_finish(session: pytest.Session) -> None:
    """End the worker pool this session's replays ran on (in every xdist
    worker: the session, not interpreter exit, owns it); then, on the
    controlling process, write the HTML index of the reports."""
    config = session.config
    if _running_harness_pool() is not None:
        from shmpipeline.testing.replay import shutdown_harness_pool

        shutdown_harness_pool(keep=config.stash.get(_POOL_BEFORE, None))
    if hasattr(config, "workerinput"):
        return
    directory = config.getoption("shmpipeline_report_dir", None)
    if directory:
        from shmpipeline.testing.report_html import write_index

        target = Path(config.invocation_params.dir) / directory
        if target.is_dir():
            write_index(target)


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Report goldens no scenario names any more (and remove them when asked)."""
    if hasattr(config, "workerinput") or not _scenario_activity(config):
        return
    from shmpipeline.testing.golden_inventory import remove_goldens, unused_goldens

    unused = unused_goldens(_inventory_dirs(config))
    directory = config.getoption("shmpipeline_report_dir", None)
    if directory:
        index = Path(config.invocation_params.dir) / directory / "index.html"
        if index.is_file():
            terminalreporter.write_line(f"shmpipeline: scenario report {index}")
    if not unused:
        return
    if config.getoption("shmpipeline_remove_unused", False):
        removed = remove_goldens(unused)
        terminalreporter.section("shmpipeline: unused goldens removed")
        for path in removed:
            terminalreporter.write_line(str(path))
        return
    terminalreporter.section("shmpipeline: unused goldens")
    for path in unused:
        terminalreporter.write_line(f"{path} (no scenario names it)")
    terminalreporter.write_line("remove them with --remove-unused-goldens")


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
        from shmpipeline.testing.examples import shipped_scenarios_dir
        from shmpipeline.testing.scenario import resolve_scenario

        candidate = Path(name_or_path)
        if candidate.is_file():
            return candidate.resolve()
        dirs = scenario_dirs(self.config)
        here = Path(self.request.path).parent
        for base in (here, here / "scenarios"):
            if base.is_dir() and base not in dirs:
                dirs.append(base)
        shipped = shipped_scenarios_dir()  # looked up after the user's own
        if shipped is not None and shipped.resolve() not in dirs:
            dirs.append(shipped.resolve())
        return resolve_scenario(name_or_path, dirs)

    def golden_for_node(self) -> Path:
        """``goldens/<test file stem>/<test name>.golden.npz`` beside the test
        file: where a scenario built in Python records its golden."""
        node = self.request.node
        name = re.sub(r"[^A-Za-z0-9_.=\-\[\],]+", "_", node.name)
        test_file = Path(self.request.path)
        return test_file.parent / "goldens" / test_file.stem / f"{name}.golden.npz"

    def __call__(
        self,
        name_or_path: Any,
        *,
        check: bool = True,
        update_goldens: bool | None = None,
        registry: KernelRegistry | None = None,
        golden: Any = None,
    ) -> Any:
        from dataclasses import replace

        from shmpipeline.testing.runner import check_scenario
        from shmpipeline.testing.scenario import Scenario, load_scenario

        allow = bool(self.config.getoption("shmpipeline_allow_outside", False))
        if registry is None:
            from shmpipeline.errors import ConfigValidationError

            try:
                registry = session_registry(self.config)
            except ConfigValidationError as exc:
                pytest.fail(str(exc), pytrace=False)
        if isinstance(name_or_path, Scenario):
            scenario = name_or_path
        else:
            from shmpipeline.testing.requirements import unmet_for_file

            path = self.resolve(name_or_path)
            unmet = unmet_for_file(path, registry=registry, probe_gpu=False)
            if unmet:
                reason = "; ".join(u.format() for u in unmet)
                hardware = any(u.hardware for u in unmet)
                if hardware and self.config.getoption("shmpipeline_require_gpu", False):
                    pytest.fail(f"--require-gpu: {reason}", pytrace=False)
                pytest.skip(reason)
            try:
                scenario = load_scenario(
                    path, registry=registry, allow_outside_paths=allow
                )
            except ScenarioError as exc:
                pytest.fail(str(exc), pytrace=False)
        if golden is not None:
            scenario = replace(scenario, golden=Path(golden))
        elif scenario.golden is None:
            scenario = replace(scenario, golden=self.golden_for_node())
        if "gpu" in scenario.requirements:
            require_gpu(self.config)
        if update_goldens is None:
            mode = golden_mode(self.config)
        else:
            mode = "update" if update_goldens else "compare"
        outcome = check_scenario(
            scenario,
            goldens=mode,
            registry=registry,
            executor=self.config.getoption("shmpipeline_executor", "replay")
            or "replay",
            accept=pytest_accept_command(self.request.node.nodeid),
        )
        report_outcome(self.config, outcome)
        if check and not outcome.ok:
            pytest.fail(outcome.format(), pytrace=False)
        return outcome
