"""``shmpipeline scenario list|run|record``: output, exit codes and the same
report as the pytest plugin."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _scenario_texts import FAULT, TINY

from shmpipeline.cli import main
from shmpipeline.testing.golden import load_golden, save_golden


@pytest.fixture
def project(tmp_path, monkeypatch):
    folder = tmp_path / "scenarios"
    folder.mkdir()
    (folder / "tiny.yaml").write_text(TINY)
    (folder / "fault.yaml").write_text(
        FAULT + "expect_failure: {kernel: boom, error: on fire}\n"
    )
    monkeypatch.chdir(tmp_path)
    return folder


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(project, capsys):
    code, out, _ = cli(capsys, "scenario", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("fault") and "expects a failure" in lines[0]
    assert lines[1].startswith("tiny") and "golden MISSING" in lines[1]
    assert "one stage doubling random frames" in lines[1]
    code, out, _ = cli(capsys, "scenario", "list", str(project), "--json")
    document = json.loads(out)
    by_name = {row["name"]: row for row in document["scenarios"]}
    assert by_name["tiny"]["frames"] == 5 and by_name["tiny"]["golden_present"] is False
    assert by_name["fault"]["expect_failure"] is True


def test_list_reports_invalid_files_and_bad_dirs(project, capsys):
    (project / "broken.yaml").write_text(TINY.replace("frames: 5", "frames: zero"))
    code, out, _ = cli(capsys, "scenario", "list")
    assert (
        code == 0 and "broken  INVALID" in out and "frames: must be an integer" in out
    )
    code, _, err = cli(capsys, "scenario", "list", "no-such-dir")
    assert code == 1 and "not a directory: no-such-dir" in err


def test_record_run_and_mismatch(project, capsys, tmp_path):
    code, out, err = cli(capsys, "scenario", "run", "tiny")
    assert code == 1
    assert "scenario tiny: failed" in out and "golden file missing" in out
    assert "shmpipeline scenario record scenarios/tiny.yaml" in out
    assert "1 of 1 scenario(s) failed" in err

    code, out, _ = cli(capsys, "scenario", "record", "tiny")
    assert code == 0 and "scenario tiny: recorded" in out
    assert (project / "tiny.golden.npz").is_file()

    report = tmp_path / "report.json"
    code, out, _ = cli(
        capsys, "scenario", "run", "tiny", "fault", "--report", str(report)
    )
    assert code == 0
    assert "scenario tiny: passed" in out and "scenario fault: passed" in out
    document = json.loads(report.read_text())
    assert document["ok"] is True
    assert [s["status"] for s in document["scenarios"]] == ["passed", "passed"]
    assert document["scenarios"][0]["comparison"]["ok"] is True

    golden = load_golden(project / "tiny.golden.npz")
    altered = np.array(golden.arrays["y"])
    altered[1] *= 2
    save_golden(
        project / "tiny.golden.npz", {"y": altered}, scenario_hash=golden.scenario_hash
    )
    code, out, _ = cli(
        capsys, "scenario", "run", str(project / "tiny.yaml"), "--report", str(report)
    )
    assert code == 1
    assert "streams differ from the golden" in out and "Traceback" not in out
    document = json.loads(report.read_text())
    assert document["ok"] is False
    assert document["scenarios"][0]["comparison"]["streams"][0]["name"] == "y"


def test_unknown_scenario_is_a_user_error(project, capsys):
    code, out, err = cli(capsys, "scenario", "run", "nope")
    assert code == 1 and out == ""
    assert "shmpipeline: error: scenario 'nope' not found" in err
    assert "available: fault, tiny" in err
    assert "Traceback" not in err


def test_invalid_scenario_reports_every_problem(project, capsys):
    (project / "bad.yaml").write_text(
        TINY.replace("frames: 5", "frames: 0").replace("seed: 1", "seed: -1")
    )
    code, _, err = cli(capsys, "scenario", "run", "scenarios/bad.yaml")
    assert code == 1
    assert "bad.yaml:3: seed: must be an integer >= 0" in err
    assert "bad.yaml:4: frames: must be an integer >= 1" in err


def test_gpu_scenario_skipped_or_required(project, capsys, monkeypatch):
    monkeypatch.setenv("SHMPIPELINE_TEST_GPU", "0")
    (project / "tiny.yaml").write_text(TINY + "requirements: [gpu]\n")
    code, out, err = cli(capsys, "scenario", "run", "tiny")
    assert code == 0 and "scenario tiny: skipped (needs gpu:" in out
    code, out, _ = cli(capsys, "scenario", "run", "tiny", "--require-gpu")
    assert code == 1 and "--require-gpu: needs gpu" in out


def test_usage_errors_exit_2(capsys):
    assert main(["scenario"]) == 2
    assert main(["scenario", "run"]) == 2
    capsys.readouterr()


def test_list_shows_unmet_gpu_as_skipped_not_invalid(project, capsys, monkeypatch):
    monkeypatch.setenv("SHMPIPELINE_TEST_GPU", "0")
    (project / "tiny.yaml").write_text(TINY + "requirements: [gpu]\n")
    code, out, _ = cli(capsys, "scenario", "list")
    assert code == 0
    line = next(row for row in out.splitlines() if row.startswith("tiny"))
    assert "needs gpu: skipped here" in line and "INVALID" not in out
