"""Scenario collection by the pytest plugin, through pytester: by path, by
directory with ``scenario_collect``, by glob; node ids, the ``scenario``
marker, matrices, unmet requirements, the report option, ``-rA`` and
goldens derived from node ids."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ElementTree

import pytest
import test_plugin  # noqa: F401 - imports the package first (see there)
from _scenario_texts import FAULT, TINY

pytest_plugins = ["pytester"]

INLINE = ("--scenario-executor", "inline")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)


def _scenarios(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "scenarios"
    folder.mkdir()
    (folder / "ao_tiny.yaml").write_text(TINY.replace("name: tiny", "name: ao_tiny"))
    (folder / "other.yaml").write_text(TINY.replace("name: tiny", "name: other"))
    (folder / "not_a_scenario.yaml").write_text("just: data\n")


def test_a_scenario_path_is_collected_with_a_readable_node_id(pytester):
    _scenarios(pytester)
    result = run(pytester, "scenarios/ao_tiny.yaml", "--update-goldens", "-v", *INLINE)
    result.assert_outcomes(passed=1)
    assert "scenarios/ao_tiny.yaml::ao_tiny PASSED" in result.stdout.str()
    junit = pytester.path / "junit.xml"
    run(
        pytester, "scenarios/ao_tiny.yaml", f"--junitxml={junit}", *INLINE
    ).assert_outcomes(passed=1)
    case = ElementTree.parse(junit).getroot().find(".//testcase")
    assert (
        case.get("name") == "ao_tiny"
        and case.get("classname") == "scenarios.ao_tiny.yaml"
    )


def test_directories_are_collected_only_with_scenario_collect(pytester):
    _scenarios(pytester)
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    run(pytester, "scenarios", "test_plain.py").assert_outcomes(
        passed=1
    )  # yaml ignored
    pytester.makeini("[pytest]\nscenario_collect = true\ntestpaths = scenarios .\n")
    result = run(pytester, "--update-goldens", "-v", *INLINE)
    result.assert_outcomes(passed=3)  # two scenarios, the plain test; data ignored
    out = result.stdout.str()
    assert "scenarios/other.yaml::other PASSED" in out
    marked = run(pytester, "-m", "scenario", *INLINE)
    marked.assert_outcomes(passed=2)  # the marker selects scenario items only


def test_scenario_globs(pytester):
    _scenarios(pytester)
    result = run(pytester, "--scenario", "ao_*", "--update-goldens", "-v", *INLINE)
    result.assert_outcomes(passed=1)
    assert "ao_tiny.yaml::ao_tiny PASSED" in result.stdout.str()
    nothing = run(pytester, "--scenario", "zz*")
    assert nothing.ret == pytest.ExitCode.USAGE_ERROR
    assert "no scenario matches 'zz*'" in nothing.stderr.str()


def test_a_matrix_gives_one_item_per_combination(pytester):
    (pytester.path / "tiny.yaml").write_text(TINY + "matrix:\n  seed: [1, 2]\n")
    result = run(pytester, "tiny.yaml", "--update-goldens", "-v", *INLINE)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert (
        "tiny.yaml::tiny[seed=1] PASSED" in out
        and "tiny.yaml::tiny[seed=2] PASSED" in out
    )
    assert (pytester.path / "tiny.seed=2.golden.npz").is_file()
    run(pytester, "tiny.yaml::tiny[seed=2]", *INLINE).assert_outcomes(passed=1)


def test_unmet_requirements_skip_with_the_reason(pytester):
    (pytester.path / "tiny.yaml").write_text(
        TINY + "requirements: ['kind:acme.filter']\n"
    )
    (pytester.path / "gpu.yaml").write_text(
        TINY.replace("name: tiny", "name: gpu")
        .replace("cpu.scale", "gpu.scale")
        .replace("dtype: float32}", "dtype: float32, storage: gpu, gpu_device: 'cuda:0'}")
    )
    result = run(pytester, "tiny.yaml", "gpu.yaml", "-rs")
    out = result.stdout.str()
    assert "needs kind:acme.filter: kernel kind 'acme.filter' is not installed" in out
    from shmpipeline.testing.requirements import torch_installed

    if not torch_installed():
        result.assert_outcomes(skipped=2)
        assert "needs torch: kind 'gpu.scale' needs PyTorch" in out
        failed = run(pytester, "gpu.yaml", "--require-gpu")
        failed.assert_outcomes(failed=1)
        assert "--require-gpu: needs torch" in failed.stdout.str()
    else:  # torch's CPU build: the gpu scenario is valid and waits for CUDA
        import torch

        if not torch.cuda.is_available():
            result.assert_outcomes(skipped=2)
            assert "no CUDA device" in out


def test_passing_and_expected_failures_print_the_cli_line_under_rA(pytester):
    (pytester.path / "fault.yaml").write_text(
        FAULT + "expect_failure: {kernel: boom, error: on fire}\n"
    )
    result = run(pytester, "fault.yaml", "-rA")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "scenario fault: passed" in out
    assert "kernel 'boom' failed as expected at frame 0" in out


def test_mismatch_under_pytest_quotes_the_pytest_accept_command(pytester):
    (pytester.path / "tiny.yaml").write_text(TINY)
    run(pytester, "tiny.yaml", "--update-goldens", *INLINE).assert_outcomes(passed=1)
    (pytester.path / "tiny.yaml").write_text(TINY.replace("factor: 2.0", "factor: 2.5"))
    result = run(pytester, "tiny.yaml", "--scenario-report", "report", *INLINE)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "accept this change: pytest tiny.yaml::tiny --update-goldens" in out
    assert "first divergence: frame 0, stream 'y', written by kernel 'double'" in out
    assert (pytester.path / "tiny.golden.obtained.npz").is_file()
    assert (pytester.path / "report" / "tiny.html").is_file()
    index = (pytester.path / "report" / "index.html").read_text()
    assert "tiny.html" in index
    regen = run(pytester, "tiny.yaml", "--force-regen", *INLINE)
    regen.assert_outcomes(failed=1)
    assert "golden regenerated" in regen.stdout.str()
    run(pytester, "tiny.yaml", *INLINE).assert_outcomes(passed=1)


def test_unused_goldens_are_reported_and_removed(pytester):
    _scenarios(pytester)
    run(pytester, "--scenario", "other", "--update-goldens", *INLINE).assert_outcomes(
        passed=1
    )
    (pytester.path / "scenarios" / "other.yaml").unlink()  # the scenario is gone
    result = run(pytester, "--scenario", "ao_tiny", "--update-goldens", *INLINE)
    out = result.stdout.str()
    assert "unused goldens" in out and "other.golden.npz (no scenario names it)" in out
    run(pytester, "--scenario", "ao_tiny", "--remove-unused-goldens", *INLINE)
    assert not (pytester.path / "scenarios" / "other.golden.npz").exists()


def test_run_scenario_derives_the_golden_from_the_node_id(pytester):
    pytester.makepyfile(
        test_python=textwrap.dedent(
            """
            import pytest
            import yaml
            from _texts import TINY
            from shmpipeline.testing.scenario import Scenario

            @pytest.mark.parametrize("factor", [2.0, 3.0])
            def test_factor(run_scenario, factor):
                raw = yaml.safe_load(TINY.replace("factor: 2.0", f"factor: {factor}"))
                run_scenario(Scenario.from_dict(raw))
            """
        )
    )
    (pytester.path / "_texts.py").write_text(f"TINY = {TINY!r}\n")
    run(pytester, "--update-goldens", *INLINE).assert_outcomes(passed=2)
    goldens = sorted(
        p.name for p in (pytester.path / "goldens" / "test_python").iterdir()
    )
    assert goldens == ["test_factor[2.0].golden.npz", "test_factor[3.0].golden.npz"]
    run(pytester, *INLINE).assert_outcomes(passed=2)
