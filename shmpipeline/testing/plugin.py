"""pytest plugin of shmpipeline (entry point ``pytest11``, name ``shmpipeline``).

Kept thin: options, hooks and fixture shells; the work lives in
:mod:`shmpipeline.testing._pytest_support`, imported when first needed.

Options::

    --scenario NAME          replay a scenario as a test item (repeatable;
                             alias --shmpipeline-scenario; a name, a glob
                             such as 'ao_*', or a path)
    --scenario-dir DIR       where scenarios are looked up (repeatable; ini
                             option ``scenario_dir``; default ``scenarios/``
                             under the rootdir if it exists, else the rootdir)
    --update-goldens         record goldens (a file is rewritten only when
                             its values or the scenario changed)
    --force-regen            compare; rewrite only the failing goldens, which
                             still fail so the change gets reviewed
    --remove-unused-goldens  delete goldens no scenario names any more
    --scenario-report DIR    write an HTML report per scenario and an index
    --scenario-executor E    ``replay`` (default: the real pipeline) or
                             ``inline`` (quick, in-process, not the pipeline)
    --scenario-allow-outside-paths  let scenario paths leave their folder
    --require-gpu            fail, instead of skipping, what needs a GPU

A scenario YAML (a file with a top-level ``pipeline`` key) is collected when
named on the command line (``pytest scenarios/ao_closed_loop.yaml``), by
``--scenario``, or, with the ini option ``scenario_collect = true``, from any
directory pytest collects (``testpaths`` included). Items are named
``scenarios/ao_closed_loop.yaml::ao_closed_loop`` (``...::name[r0=0.1]`` for
a combination of a ``matrix``) and carry the ``scenario`` marker.

Fixtures: ``pipeline_manager`` (a factory, or indirect parametrization with a
config), ``run_scenario`` (replay + golden check), ``shmpipeline_namespace``
(autouse: a unique ``SHMPIPELINE_NAMESPACE`` per test and xdist worker, and a
guard failing the test when it leaks a shared-memory segment; ini option
``shmpipeline_leak_guard = false`` turns the guard off). Marker ``gpu``:
skipped when no CUDA device is present (probed in a subprocess, so CUDA is
never initialised in the pytest process).
"""

from __future__ import annotations

import pytest


def _support():
    from shmpipeline.testing import _pytest_support

    return _pytest_support


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("shmpipeline", "shmpipeline scenarios and goldens")
    group.addoption(
        "--scenario",
        "--shmpipeline-scenario",
        action="append",
        dest="shmpipeline_scenarios",
        default=[],
        metavar="NAME",
        help="replay the scenario NAME (a glob such as 'ao_*', or a scenario "
        "file) as a test; repeatable",
    )
    group.addoption(
        "--scenario-dir",
        action="append",
        dest="shmpipeline_scenario_dirs",
        default=[],
        metavar="DIR",
        help="directory holding scenario YAMLs (repeatable; default: scenarios/ "
        "under the rootdir if it exists, else the rootdir)",
    )
    group.addoption(
        "--update-goldens",
        action="store_true",
        dest="shmpipeline_update_goldens",
        default=False,
        help="record scenario goldens instead of comparing with them (a golden "
        "is rewritten only when its values or the scenario changed)",
    )
    group.addoption(
        "--force-regen",
        action="store_true",
        dest="shmpipeline_force_regen",
        default=False,
        help="compare with the goldens, rewrite the failing ones and still fail "
        "those tests (review and commit the new files)",
    )
    group.addoption(
        "--remove-unused-goldens",
        action="store_true",
        dest="shmpipeline_remove_unused",
        default=False,
        help="delete golden files no scenario in the scenario directories names",
    )
    group.addoption(
        "--scenario-report",
        dest="shmpipeline_report_dir",
        default=None,
        metavar="DIR",
        help="write one self-contained HTML report per scenario (and index.html) "
        "into DIR",
    )
    group.addoption(
        "--scenario-executor",
        dest="shmpipeline_executor",
        default="replay",
        choices=("replay", "inline"),
        help="replay: the real multi-process pipeline (default); inline: the "
        "in-process reference executor, for quick local iteration (not the "
        "real pipeline)",
    )
    group.addoption(
        "--scenario-allow-outside-paths",
        action="store_true",
        dest="shmpipeline_allow_outside",
        default=False,
        help="let pipeline:, golden: and file: paths of scenarios leave the "
        "scenario's directory",
    )
    group.addoption(
        "--require-gpu",
        action="store_true",
        dest="shmpipeline_require_gpu",
        default=False,
        help="fail gpu tests and scenarios when no CUDA device is present "
        "(default: skip them)",
    )
    parser.addini(
        "scenario_dir",
        type="paths",
        default=[],
        help="directories holding scenario YAMLs (relative to the ini file)",
    )
    parser.addini(
        "scenario_collect",
        type="bool",
        default=False,
        help="collect scenario YAMLs from the directories pytest collects "
        "(default false: only files named on the command line or by --scenario)",
    )
    parser.addini(
        "shmpipeline_leak_guard",
        type="bool",
        default=True,
        help="fail tests that leak shared-memory segments (default true)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gpu: needs a CUDA device (skipped where none is present)"
    )
    config.addinivalue_line(
        "markers", "scenario: a shmpipeline scenario replay (collected by --scenario)"
    )
    _support().configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    _support().unconfigure(config)


def pytest_collect_file(file_path, parent):
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    return _support().collect_file(file_path, parent)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _support().session_finish(session)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    _support().terminal_summary(terminalreporter, config)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None:
        _support().require_gpu(item.config)


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    return _support().report_header(config)


@pytest.fixture(autouse=True)
def shmpipeline_namespace(request: pytest.FixtureRequest, monkeypatch):
    """A unique ``SHMPIPELINE_NAMESPACE`` for this test (inherited by spawned
    workers); the test fails if it leaves a segment of it behind."""
    with _support().namespace_guard(request.config, request.node.name) as namespace:
        monkeypatch.setenv("SHMPIPELINE_NAMESPACE", namespace)
        yield namespace


@pytest.fixture
def pipeline_manager(request: pytest.FixtureRequest):
    """A :class:`~shmpipeline.manager.PipelineManager` torn down after the test.

    Used directly, it is a factory: ``pipeline_manager(config, start=True,
    lockstep=False, **manager_kwargs)`` returns a built (and started) manager.
    With ``@pytest.mark.parametrize("pipeline_manager", [config],
    indirect=True)`` it is that config's built and started manager.
    """
    factory = _support().ManagerFactory()
    try:
        if hasattr(request, "param"):
            param = request.param
            if isinstance(param, dict) and "config" in param:
                yield factory(**param)
            else:
                yield factory(param)
        else:
            yield factory
    finally:
        factory.close()


@pytest.fixture
def run_scenario(request: pytest.FixtureRequest):
    """``run_scenario(name_or_path_or_scenario, *, check=True,
    update_goldens=None, golden=None)``: replay a scenario and compare it
    with its golden (honouring ``--update-goldens``/``--force-regen``);
    returns the :class:`~shmpipeline.testing.runner.ScenarioOutcome` and,
    with ``check=True``, fails the test with the comparison report when it
    did not pass. Names are looked up in the scenario directories and beside
    the test file. A :class:`~shmpipeline.testing.scenario.Scenario` without
    a golden path (built from a mapping) gets one derived from the test's
    node id: ``goldens/<test file stem>/<test name>.golden.npz`` beside the
    test file."""
    return _support().ScenarioRunner(request)
