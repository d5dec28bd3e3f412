"""The golden workflow: recording without churn, regen, unused goldens,
kind provenance, obtained files and the accept command, the first
divergence in pipeline order, matrices, the inline executor, the CLI's
namespaces and the HTML report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _scenario_texts import TINY

from shmpipeline.cli import main
from shmpipeline.errors import ScenarioError
from shmpipeline.testing import golden
from shmpipeline.testing.divergence import stream_order
from shmpipeline.testing.golden_inventory import unused_goldens
from shmpipeline.testing.runner import check_scenario
from shmpipeline.testing.scenario import load_scenario, load_scenarios

#: x -> double -> y -> triple -> z, captured in reverse order on purpose
CHAIN = """\
name: chain
seed: 3
frames: 6
pipeline:
  shared_memory:
    - {name: x, shape: [4], dtype: float32}
    - {name: y, shape: [4], dtype: float32}
    - {name: z, shape: [4], dtype: float32}
  kernels:
    - {name: triple, kind: cpu.scale, input: y, output: z, parameters: {factor: 3.0}}
    - {name: double, kind: cpu.scale, input: x, output: y, parameters: {factor: 2.0}}
inputs:
  x: {synthetic: {pattern: random}}
capture: [z, y, x]
"""

#: a 2-D stream, for the image panels of the report
IMAGE = """\
name: image
seed: 2
frames: 4
pipeline:
  shared_memory:
    - {name: frame, shape: [6, 5], dtype: float32}
    - {name: out, shape: [6, 5], dtype: float32}
  kernels:
    - {name: scale, kind: cpu.scale, input: frame, output: out, parameters: {factor: 2.0}}
inputs:
  frame: {synthetic: {pattern: random}}
"""


def _write(folder: Path, text: str, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def _alter(path: Path, stream: str, frame: int, index=(0,), delta=1.0) -> None:
    loaded = golden.load_golden(path)
    arrays = {k: np.array(v) for k, v in loaded.arrays.items()}
    arrays[stream][(frame, *index)] += delta
    kept = {
        k: v
        for k, v in loaded.metadata.items()
        if k
        not in ("format_version", "scenario_hash", "shmpipeline_version", "streams")
    }
    golden.save_golden(path, arrays, scenario_hash=loaded.scenario_hash, metadata=kept)


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


# --- recording --------------------------------------------------------------------


def test_recording_twice_gives_identical_bytes_and_a_normal_mode(tmp_path, umask_022):
    path = _write(tmp_path, TINY, "tiny")
    first = check_scenario(load_scenario(path), goldens="update")  # the real pipeline
    assert first.status == "recorded"
    target = tmp_path / "tiny.golden.npz"
    content, info = target.read_bytes(), target.stat()
    assert info.st_mode & 0o777 == 0o644
    again = check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert again.status == "unchanged" and "not rewritten" in again.message
    assert (
        target.read_bytes() == content and target.stat().st_mtime_ns == info.st_mtime_ns
    )
    target.unlink()  # a fresh recording of the same values: the same bytes
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert target.read_bytes() == content
    os.umask(0o002)
    target.unlink()
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert target.stat().st_mode & 0o777 == 0o664  # the user's umask decides


def test_a_changed_scenario_is_rewritten(tmp_path):
    path = _write(tmp_path, TINY, "tiny")
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    before = (tmp_path / "tiny.golden.npz").read_bytes()
    path.write_text(TINY.replace("seed: 1", "seed: 2"))
    outcome = check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert outcome.status == "recorded"
    assert (tmp_path / "tiny.golden.npz").read_bytes() != before


def test_golden_metadata_records_the_kinds_distributions(tmp_path):
    path = _write(tmp_path, TINY, "tiny")
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    meta = golden.load_golden(tmp_path / "tiny.golden.npz").metadata
    assert meta["format_version"] == golden.FORMAT_VERSION == 2
    kinds = meta["kinds"]
    assert list(kinds) == ["cpu.scale"]
    assert kinds["cpu.scale"]["distribution"] == "shmpipeline"
    assert kinds["cpu.scale"]["module"] == "shmpipeline.kernels.cpu.scale"


def test_a_mismatch_says_which_distribution_changed(tmp_path):
    path = _write(tmp_path, TINY, "tiny")
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    target = tmp_path / "tiny.golden.npz"
    loaded = golden.load_golden(target)
    meta = dict(loaded.metadata)
    meta["kinds"] = {"cpu.scale": {**meta["kinds"]["cpu.scale"], "version": "0.0.1"}}
    arrays = {k: np.array(v) for k, v in loaded.arrays.items()}
    arrays["y"][2, 1] += 1
    for key in ("format_version", "scenario_hash", "shmpipeline_version", "streams"):
        meta.pop(key)
    golden.save_golden(
        target, arrays, scenario_hash=loaded.scenario_hash, metadata=meta
    )
    outcome = check_scenario(load_scenario(path), executor="inline")
    assert "changed since the golden was recorded" in outcome.message
    assert (
        "kind cpu.scale: shmpipeline 0.0.1 when recorded, shmpipeline"
        in outcome.message
    )


def test_version_1_goldens_still_load(tmp_path):
    meta = {
        "format_version": 1,
        "scenario_hash": "abc",
        "created": "2024-01-01T00:00:00+00:00",
        "streams": {"y": {"shape": [2], "dtype": "<f4", "frames": 3}},
    }
    path = tmp_path / "old.golden.npz"
    np.savez_compressed(
        path,
        y=np.ones((3, 2), np.float32),
        **{golden.METADATA_KEY: np.array(json.dumps(meta))},
    )
    loaded = golden.load_golden(path)
    assert loaded.metadata["format_version"] == 1 and loaded.arrays["y"].shape == (3, 2)


# --- mismatches ------------------------------------------------------------------


def test_a_mismatch_writes_obtained_and_names_the_first_diverging_kernel(tmp_path):
    path = _write(tmp_path, CHAIN, "chain")
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    target = tmp_path / "chain.golden.npz"
    _alter(target, "y", 2)
    _alter(target, "z", 2)  # same frame downstream: the upstream stage is first
    outcome = check_scenario(load_scenario(path), executor="inline")
    lines = outcome.message.splitlines()
    assert lines[0] == (
        "first divergence: frame 2, stream 'y', written by kernel 'double' (cpu.scale)"
    )
    listed = [line.split("'")[1] for line in lines if line.startswith("stream '")]
    assert listed == ["y", "z"]  # pipeline order, not alphabetical or capture order
    assert [s.name for s in outcome.comparison.streams] == ["x", "y", "z"]
    assert lines[-1] == "accept this change: shmpipeline scenario record " + str(path)
    obtained = tmp_path / "chain.golden.obtained.npz"
    assert outcome.obtained == obtained
    again = golden.load_golden(obtained)
    assert again.metadata["obtained"] is True
    np.testing.assert_array_equal(again.arrays["y"], outcome.result.captures["y"])
    # accepting (re-recording) clears the obtained file
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert not obtained.exists()
    assert check_scenario(load_scenario(path), executor="inline").status == "passed"


def test_an_earlier_frame_downstream_is_the_first_divergence(tmp_path):
    path = _write(tmp_path, CHAIN, "chain")
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    _alter(tmp_path / "chain.golden.npz", "y", 4)
    _alter(tmp_path / "chain.golden.npz", "z", 1)
    outcome = check_scenario(load_scenario(path), executor="inline")
    assert outcome.divergence.format() == (
        "first divergence: frame 1, stream 'z', written by kernel 'triple' (cpu.scale)"
    )
    _alter(tmp_path / "chain.golden.npz", "x", 0)
    outcome = check_scenario(load_scenario(path), executor="inline")
    assert outcome.divergence.format() == (
        "first divergence: frame 0, stream 'x', written by the scenario's synthetic input"
    )


def test_stream_order_follows_the_data(tmp_path):
    scenario = load_scenario(_write(tmp_path, CHAIN, "chain"))
    assert stream_order(scenario.pipeline) == ["x", "y", "z"]


def test_force_regen_rewrites_only_failing_goldens_and_still_fails(tmp_path):
    path = _write(tmp_path, CHAIN, "chain")
    other = _write(tmp_path, TINY, "tiny")
    for item in (path, other):
        check_scenario(load_scenario(item), goldens="update", executor="inline")
    untouched = (tmp_path / "tiny.golden.npz").read_bytes()
    good = (tmp_path / "chain.golden.npz").read_bytes()
    _alter(tmp_path / "chain.golden.npz", "z", 3)
    outcome = check_scenario(load_scenario(path), goldens="regen", executor="inline")
    assert outcome.status == "failed" and "golden regenerated" in outcome.message
    assert (tmp_path / "chain.golden.npz").read_bytes() == good  # the run's values
    passing = check_scenario(load_scenario(other), goldens="regen", executor="inline")
    assert passing.status == "passed"
    assert (tmp_path / "tiny.golden.npz").read_bytes() == untouched
    (tmp_path / "tiny.golden.npz").unlink()
    missing = check_scenario(load_scenario(other), goldens="regen", executor="inline")
    assert missing.status == "failed" and (tmp_path / "tiny.golden.npz").is_file()


def test_unused_goldens_are_found_and_removed_by_the_cli(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "scenarios"
    path = _write(folder, TINY, "tiny")
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    golden.save_golden(
        folder / "gone.golden.npz", {"y": np.zeros((1, 2))}, scenario_hash="h"
    )
    (folder / "notes.golden.npz").write_text("not ours")  # never touched
    golden.save_golden(
        folder / "tiny.golden.obtained.npz", {"y": np.zeros((1, 2))}, scenario_hash="h"
    )
    assert unused_goldens([folder]) == [(folder / "gone.golden.npz").resolve()]
    monkeypatch.chdir(tmp_path)
    assert main(["scenario", "unused"]) == 0
    assert capsys.readouterr().out.strip().endswith("gone.golden.npz")
    assert main(["scenario", "unused", "--remove"]) == 0
    assert not (folder / "gone.golden.npz").exists()
    assert (folder / "notes.golden.npz").exists() and (
        folder / "tiny.golden.npz"
    ).exists()


# --- matrices ------------------------------------------------------------------


MATRIX = (
    TINY
    + "matrix:\n  pipeline.kernels.0.parameters.factor: [2.0, 3.0]\n  seed: [1, 2]\n"
)


def test_a_matrix_expands_into_one_scenario_and_golden_per_combination(tmp_path):
    path = _write(tmp_path, MATRIX, "tiny")
    scenarios = load_scenarios(path)
    assert [s.item_name for s in scenarios] == [
        "tiny[factor=2.0,seed=1]",
        "tiny[factor=2.0,seed=2]",
        "tiny[factor=3.0,seed=1]",
        "tiny[factor=3.0,seed=2]",
    ]
    assert scenarios[2].golden.name == "tiny.factor=3.0-seed=1.golden.npz"
    assert (
        scenarios[3].pipeline.kernels[0].parameters["factor"] == 3.0
        and scenarios[3].seed == 2
    )
    assert len({s.hash() for s in scenarios}) == 4
    with pytest.raises(ScenarioError, match="matrix of 4 combinations"):
        load_scenario(path)
    for scenario in scenarios:
        assert (
            check_scenario(scenario, goldens="update", executor="inline").status
            == "recorded"
        )
    assert unused_goldens([tmp_path]) == []
    path.write_text(TINY + "matrix:\n  seed: [1]\n")
    assert len(unused_goldens([tmp_path])) == 4  # the shrunk matrix left them


@pytest.mark.parametrize(
    ("matrix", "fragment"),
    [
        ("  nothing.here: [1]\n", "no field 'nothing'"),
        ("  seed: []\n", "non-empty list"),
        ("  seed: 3\n", "non-empty list"),
        ("  name: [a, b]\n", "other than name and matrix"),
    ],
)
def test_matrix_errors_name_the_entry(tmp_path, matrix, fragment):
    path = _write(tmp_path, TINY + "matrix:\n" + matrix, "tiny")
    with pytest.raises(ScenarioError, match=fragment) as caught:
        load_scenarios(path)
    assert "tiny.yaml:" in str(caught.value)


# --- executors and the CLI --------------------------------------------------------


def test_the_inline_executor_is_labelled_as_not_the_pipeline(tmp_path):
    path = _write(tmp_path, TINY, "tiny")
    outcome = check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert outcome.executor == "inline"
    assert "not the real pipeline" in outcome.format().splitlines()[0]
    assert check_scenario(load_scenario(path)).status == "passed"  # replay agrees


def test_cli_run_all_globs_and_a_fresh_namespace_per_run(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "scenarios"
    _write(folder, TINY, "tiny")
    _write(folder, CHAIN, "chain")
    monkeypatch.chdir(tmp_path)
    seen = []
    from shmpipeline.testing import runner

    real = runner.check_scenario

    def spy(scenario, **kwargs):
        seen.append((scenario.name, os.environ.get("SHMPIPELINE_NAMESPACE")))
        return real(scenario, **kwargs)

    monkeypatch.setattr(runner, "check_scenario", spy)
    monkeypatch.setenv("SHMPIPELINE_NAMESPACE", "outer")
    assert main(["scenario", "record", "--all", "--executor", "inline"]) == 0
    assert sorted(name for name, _ in seen) == ["chain", "tiny"]
    first = {ns for _, ns in seen}
    assert len(first) == 1 and "outer" not in first
    seen.clear()
    assert main(["scenario", "run", "t*", "--executor", "inline"]) == 0
    assert [name for name, _ in seen] == ["tiny"] and seen[0][1] not in first
    seen.clear()
    assert (
        main(["scenario", "run", "c*", "--namespace", "ci7", "--executor", "inline"])
        == 0
    )
    assert seen == [("chain", "ci7")]
    assert os.environ["SHMPIPELINE_NAMESPACE"] == "outer"
    out = capsys.readouterr().out
    assert "scenario chain: passed [inline executor" in out
    assert main(["scenario", "run", "zz*"]) == 1
    assert "no scenario matches 'zz*'" in capsys.readouterr().err
    assert main(["scenario", "run", "--all", "tiny"]) == 2


def test_cli_skips_unmet_kind_requirements(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "scenarios"
    _write(folder, TINY + "requirements: ['kind:acme.filter']\n", "tiny")
    monkeypatch.chdir(tmp_path)
    assert main(["scenario", "run", "tiny"]) == 0
    out = capsys.readouterr().out
    assert (
        "scenario tiny: skipped (needs kind:acme.filter: kernel kind 'acme.filter'"
        in out
    )
    assert main(["scenario", "list"]) == 0
    assert "needs kind:acme.filter: skipped here" in capsys.readouterr().out
    assert main(["scenario", "run", "tiny", "--report-html", "report"]) == 0
    index = (tmp_path / "report" / "index.html").read_text()
    assert "<td>tiny</td>" in index and "skipped" in index


# --- the HTML report ----------------------------------------------------------------


def _failing_outcome(tmp_path, text: str, name: str, stream: str, index):
    path = _write(tmp_path, text, name)
    check_scenario(load_scenario(path), goldens="update", executor="inline")
    _alter(tmp_path / f"{name}.golden.npz", stream, 2, index)
    return check_scenario(load_scenario(path), executor="inline")


def test_html_report_has_pictures_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")
    from shmpipeline.testing.report_html import write_index, write_scenario_report

    outcome = _failing_outcome(tmp_path, IMAGE, "image", "out", (1, 2))
    page = write_scenario_report(outcome, tmp_path / "report")
    text = page.read_text()
    assert text.count("data:image/png;base64,") == 1
    assert "first divergence: frame 2, stream &#x27;out&#x27;" in text
    assert "<svg" in text and "#b3261e" in text  # the graph marks the stage
    index = write_index(tmp_path / "report").read_text()
    assert 'href="image.html"' in index and "failed" in index


def test_html_report_degrades_to_tables_without_matplotlib(tmp_path, monkeypatch):
    from shmpipeline.testing import report_html

    monkeypatch.setattr(report_html, "matplotlib_available", lambda: False)
    outcome = _failing_outcome(tmp_path, CHAIN, "chain", "y", (1,))
    text = report_html.render_scenario_report(outcome)
    assert "data:image/png" not in text and "tables instead of pictures" in text
    assert "<th>max |difference|</th>" in text
    passing = check_scenario(
        load_scenario(tmp_path / "chain.yaml"), goldens="update", executor="inline"
    )
    short = report_html.render_scenario_report(passing)
    assert "tables instead" not in short and "<svg" in short


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.timeout(120)
def test_the_report_renders_in_headless_chromium(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on this machine")
    from shmpipeline.testing.report_html import write_scenario_report

    outcome = _failing_outcome(tmp_path, IMAGE, "image", "out", (1, 2))
    page = write_scenario_report(outcome, tmp_path / "report")
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    done = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # not a blank page
