"""The pytest plugin, driven through pytester: scenario items from an empty
project directory, golden recording and mismatch reports, fixtures, the gpu
marker and the shared-memory leak guard."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _scenario_texts import FAULT, TINY

from shmpipeline.testing.golden import load_golden, save_golden

pytest_plugins = ["pytester"]


def _import_the_package() -> None:
    """Import every shmpipeline module now: pytester's in-process runs drop
    the modules first imported inside them, and a class pickled later by
    another test in this worker (a spawned kernel's config) would then no
    longer be the class its module holds (PicklingError)."""
    import importlib
    import pkgutil

    import shmpipeline

    for name in (
        "multiprocessing.connection",
        "multiprocessing.forkserver",
        "multiprocessing.heap",
        "multiprocessing.popen_forkserver",
        "multiprocessing.popen_spawn_posix",
        "multiprocessing.queues",
        "multiprocessing.resource_tracker",
        "multiprocessing.sharedctypes",
        "multiprocessing.synchronize",
    ):
        importlib.import_module(name)
    for info in pkgutil.walk_packages(shmpipeline.__path__, "shmpipeline."):
        if ".gpu" in info.name or info.name.endswith(("_torch", "__main__")):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError:  # an optional dependency absent here
            continue


_import_the_package()

SHIPPED = Path(__file__).resolve().parents[1] / "scenarios"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def add_tiny(pytester: pytest.Pytester, directory: str = ".") -> Path:
    folder = pytester.path / directory
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_options_are_registered(pytester):
    result = run(pytester, "--help")
    text = result.stdout.str()
    for option in (
        "--scenario=NAME",
        "--shmpipeline-scenario",
        "--scenario-dir",
        "--update-goldens",
        "--require-gpu",
        "--force-regen",
        "--remove-unused-goldens",
        "--scenario-report=DIR",
        "--scenario-executor",
        "--scenario-allow-outside-paths",
        "scenario_dir",
        "scenario_collect",
    ):
        assert option in text


def test_update_goldens_records_then_the_scenario_passes(pytester):
    add_tiny(pytester)
    missing = run(pytester, "--scenario", "tiny")
    missing.assert_outcomes(failed=1)
    out = missing.stdout.str()
    assert "golden file missing" in out and "--update-goldens" in out
    assert "Traceback" not in out

    recorded = run(pytester, "--scenario", "tiny", "--update-goldens")
    recorded.assert_outcomes(passed=1)
    golden = load_golden(pytester.path / "tiny.golden.npz")
    assert set(golden.arrays) == {"y"} and golden.arrays["y"].shape == (5, 4)

    run(pytester, "--scenario", "tiny").assert_outcomes(passed=1)
    # the alias and a path work too
    run(pytester, "--shmpipeline-scenario", "tiny.yaml").assert_outcomes(passed=1)


def test_an_altered_golden_fails_with_the_report(pytester):
    add_tiny(pytester)
    run(pytester, "--scenario", "tiny", "--update-goldens").assert_outcomes(passed=1)
    path = pytester.path / "tiny.golden.npz"
    golden = load_golden(path)
    y = np.array(golden.arrays["y"])
    y[3, 2] += 1.0
    save_golden(path, {"y": y}, scenario_hash=golden.scenario_hash)

    result = run(pytester, "--scenario", "tiny")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "scenario tiny: failed" in out
    assert "1 of 1 streams differ from the golden" in out
    assert "y" in out and "first diverging frame" in out.lower() or "frame 3" in out
    assert "Traceback" not in out and "def runtest" not in out


def test_scenario_from_an_empty_project_in_a_subprocess(pytester):
    """The issue's bar: `pytest --scenario ao_closed_loop` in a directory
    holding only the scenario YAML and its golden."""
    for name in ("ao_closed_loop.yaml", "ao_closed_loop.golden.npz"):
        shutil.copy(SHIPPED / name, pytester.path / name)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--scenario", "ao_closed_loop"
    )
    result.assert_outcomes(passed=1)
    assert "ao_closed_loop.yaml" in result.stdout.str()


def test_scenario_dir_option_and_ini(pytester):
    add_tiny(pytester, "cases")
    (pytester.path / "scenarios").mkdir()  # the default directory, empty
    unknown = run(pytester, "--scenario", "tiny")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    assert "scenario 'tiny' not found" in unknown.stderr.str()

    run(
        pytester, "--scenario", "tiny", "--scenario-dir", "cases", "--update-goldens"
    ).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\nscenario_dir = cases\n")
    run(pytester, "--scenario", "tiny").assert_outcomes(passed=1)


def test_default_scenario_dir_is_scenarios_under_rootdir(pytester):
    add_tiny(pytester, "scenarios")
    run(pytester, "--scenario", "tiny", "--update-goldens").assert_outcomes(passed=1)
    assert (pytester.path / "scenarios" / "tiny.golden.npz").is_file()


def test_unexpected_and_expected_failures(pytester):
    (pytester.path / "fault.yaml").write_text(FAULT)
    result = run(pytester, "--scenario", "fault")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "kernel 'boom' failed at frame 0" in out and "sensor on fire" in out

    (pytester.path / "fault.yaml").write_text(
        FAULT + "expect_failure: {kernel: boom, error: on fire}\n"
    )
    run(pytester, "--scenario", "fault").assert_outcomes(passed=1)


def test_invalid_scenario_is_a_collection_error_with_file_and_line(pytester):
    (pytester.path / "bad.yaml").write_text(TINY.replace("frames: 5", "frames: -1"))
    result = run(pytester, "--scenario", "bad.yaml")
    assert result.ret != 0
    out = result.stdout.str()
    assert "bad.yaml:4: frames: must be an integer >= 1" in out
    assert "Traceback" not in out


def test_explicit_test_paths_run_beside_scenarios(pytester):
    add_tiny(pytester)
    pytester.makepyfile(test_other="def test_other():\n    assert True\n")
    result = run(pytester, "--scenario", "tiny", "--update-goldens", "test_other.py")
    result.assert_outcomes(passed=2)


def test_run_scenario_and_pipeline_manager_fixtures(pytester):
    add_tiny(pytester)
    run(pytester, "--scenario", "tiny", "--update-goldens").assert_outcomes(passed=1)
    pytester.makepyfile(
        test_fixtures=textwrap.dedent(
            """
            import numpy as np
            import pytest

            CONFIG = {
                "shared_memory": [
                    {"name": "a", "shape": [3], "dtype": "float64"},
                    {"name": "b", "shape": [3], "dtype": "float64"},
                ],
                "kernels": [{"name": "neg", "kind": "cpu.scale", "input": "a",
                             "output": "b", "parameters": {"factor": -1.0}}],
            }

            def test_run_scenario(run_scenario):
                outcome = run_scenario("tiny")
                assert outcome.ok and outcome.status == "passed"
                assert outcome.result.captures["y"].shape == (5, 4)

            def test_run_scenario_mismatch_fails(run_scenario):
                outcome = run_scenario("tiny", check=False, update_goldens=False)
                assert outcome.ok

            def test_factory(pipeline_manager):
                manager = pipeline_manager(CONFIG)
                a, b = manager.get_stream("a"), manager.get_stream("b")
                a.write(np.array([1.0, 2.0, 3.0]))
                assert list(b.read_new(timeout=10.0)) == [-1.0, -2.0, -3.0]

            @pytest.mark.parametrize("pipeline_manager", [CONFIG], indirect=True)
            def test_indirect(pipeline_manager):
                assert pipeline_manager.status()["state"] == "running"
            """
        )
    )
    run(pytester, "test_fixtures.py").assert_outcomes(passed=4)


def test_gpu_marker_skips_or_fails_without_cuda(pytester, monkeypatch):
    monkeypatch.setenv("SHMPIPELINE_TEST_GPU", "0")
    pytester.makepyfile(
        test_gpu="import pytest\n\n@pytest.mark.gpu\ndef test_needs_cuda():\n    pass\n"
    )
    skipped = run(pytester, "-rs")
    skipped.assert_outcomes(skipped=1)
    assert "SHMPIPELINE_TEST_GPU=0" in skipped.stdout.str()
    run(pytester, "--require-gpu").assert_outcomes(errors=1)  # fails in setup
    monkeypatch.setenv("SHMPIPELINE_TEST_GPU", "1")
    run(pytester).assert_outcomes(passed=1)


def test_gpu_scenario_is_skipped_without_cuda(pytester, monkeypatch):
    monkeypatch.setenv("SHMPIPELINE_TEST_GPU", "0")
    (pytester.path / "tiny.yaml").write_text(TINY + "requirements: [gpu]\n")
    run(pytester, "--scenario", "tiny").assert_outcomes(skipped=1)
    run(pytester, "--scenario", "tiny", "--require-gpu").assert_outcomes(errors=1)


def test_leak_guard_fails_a_leaking_test_and_cleans_up(pytester):
    pytester.makepyfile(
        test_leak=textwrap.dedent(
            """
            import os
            from shmpipeline.stream import SharedStream, list_segments

            def test_leaks():
                stream = SharedStream.create("leaky", (4,), "float32")
                stream.close()  # closed, never unlinked
                with open("namespace.txt", "w") as handle:
                    handle.write(os.environ["SHMPIPELINE_NAMESPACE"])

            def test_clean():
                with SharedStream.create("tidy", (4,), "float32") as stream:
                    stream.unlink()
            """
        )
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, errors=1)
    assert "test leaked shared-memory segments" in result.stdout.str()
    namespace = (pytester.path / "namespace.txt").read_text()
    assert not list(Path("/dev/shm").glob(f"shmp.{namespace}.*"))


def test_each_test_gets_its_own_namespace(pytester):
    pytester.makepyfile(
        test_ns=textwrap.dedent(
            """
            import os

            def test_a(shmpipeline_namespace):
                assert os.environ["SHMPIPELINE_NAMESPACE"] == shmpipeline_namespace
                open("a.txt", "w").write(shmpipeline_namespace)

            def test_b(shmpipeline_namespace):
                open("b.txt", "w").write(shmpipeline_namespace)
            """
        )
    )
    run(pytester).assert_outcomes(passed=2)
    a = (pytester.path / "a.txt").read_text()
    b = (pytester.path / "b.txt").read_text()
    assert a != b and "testa" in a and "testb" in b
