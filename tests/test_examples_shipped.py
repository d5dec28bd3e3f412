"""The shipped examples: found from a checkout (and, in CI, from a wheel),
listed and copied by ``shmpipeline examples``, looked up after the user's
own scenario directories."""

from __future__ import annotations

import json

import pytest

from shmpipeline.cli import main
from shmpipeline.errors import ScenarioError
from shmpipeline.testing.examples import (
    copy_examples,
    list_examples,
    match_with_shipped,
    shipped_pipelines_dir,
    shipped_scenarios_dir,
)


def test_shipped_trees_are_found():
    scenarios = shipped_scenarios_dir()
    pipelines = shipped_pipelines_dir()
    assert scenarios is not None and (scenarios / "ao_closed_loop.yaml").is_file()
    assert (scenarios / "ao_closed_loop.golden.npz").is_file()
    assert pipelines is not None and (pipelines / "scale.yaml").is_file()
    names = {(e.kind, e.name) for e in list_examples()}
    assert ("scenario", "ao_closed_loop") in names
    assert ("pipeline", "scale") in names
    assert ("project", "downstream_project") in names
    assert ("guide", "DOWNSTREAM.md") in names


def test_copy_examples_and_refuse_to_overwrite(tmp_path):
    written = copy_examples(tmp_path)
    assert (tmp_path / "scenarios" / "ao_closed_loop.golden.npz") in written
    assert (tmp_path / "scenarios" / "data" / "ao_reconstructor.npy").is_file()
    assert (tmp_path / "pipelines" / "ao_loop.yaml").is_file()
    assert not (tmp_path / "pipelines" / "downstream_project").exists()
    assert (tmp_path / "downstream_project" / "pyproject.toml").is_file()
    assert (tmp_path / "downstream_project" / "scenarios" / "gain_loop.yaml").is_file()
    assert (tmp_path / "DOWNSTREAM.md").is_file()
    assert not list(tmp_path.rglob("*.obtained.npz"))
    with pytest.raises(ScenarioError, match="already exists"):
        copy_examples(tmp_path)
    assert copy_examples(tmp_path, overwrite=True) == written


def test_names_fall_back_to_the_shipped_scenarios(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        "name: ao_closed_loop\npipeline: {shared_memory: [], kernels: []}\n"
    )
    # the user's own scenario of that name wins
    assert match_with_shipped("ao_closed_loop", [tmp_path]) == [
        (tmp_path / "mine.yaml").resolve()
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    found = match_with_shipped("ao_closed_loop", [empty])
    assert found == [(shipped_scenarios_dir() / "ao_closed_loop.yaml").resolve()]
    with pytest.raises(ScenarioError, match="nor among the shipped examples"):
        match_with_shipped("no_such_scenario", [empty])


def test_cli_lists_and_copies(tmp_path, capsys):
    assert main(["examples", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["examples"]
    assert {"scenario", "pipeline", "project", "guide"} == {row["kind"] for row in rows}
    assert main(["examples", str(tmp_path / "copy")]) == 0
    assert "copied" in capsys.readouterr().out
    assert (tmp_path / "copy" / "scenarios" / "ao_closed_loop.yaml").is_file()
    assert main(["examples", str(tmp_path / "copy")]) != 0
    assert "already exists" in capsys.readouterr().err


def test_cli_runs_a_shipped_scenario_from_an_empty_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["scenario", "run", "ao_closed_loop", "--executor", "inline"])
    assert code == 0
    assert not list(tmp_path.iterdir())
