"""Hostile pipeline documents are refused quickly and in bounded memory."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from shmpipeline import pipeline_validation as validation_module
from shmpipeline._problems import show
from shmpipeline._yaml import MAX_ALIAS_EXPANSION, LineDict, LineList, parse_yaml_text
from shmpipeline.config import PipelineConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import validate_pipeline_config

REPO = Path(__file__).resolve().parents[1]


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    lines.append("shared_memory:")
    lines.append(f"  - {{name: x, shape: [2], dtype: *a{levels - 1}}}")
    lines.append(f"kernels: *a{levels - 1}")
    return "\n".join(lines) + "\n"


def test_alias_bomb_text_is_small():
    assert len(alias_bomb()) < 600


def test_alias_bomb_is_refused_under_a_memory_limit(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    script = textwrap.dedent(
        f"""
        import resource, sys
        limit = 200 * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        from shmpipeline.config import PipelineConfig
        from shmpipeline.errors import ConfigValidationError
        from shmpipeline.graph import validate_pipeline_config
        errors = validate_pipeline_config({str(path)!r})
        print(errors[0])
        try:
            PipelineConfig.from_yaml({str(path)!r})
        except ConfigValidationError as exc:
            print(exc.message)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert "alias bomb" in lines[0] and str(path) in lines[0]
    assert lines[1].startswith("invalid YAML: aliases expand the document")


def test_a_few_aliases_are_fine():
    text = "base: &b {a: 1}\nuse: [*b, *b, *b]\n"
    data = parse_yaml_text(text)
    assert data["use"] == [{"a": 1}] * 3


def test_alias_budget_boundary():
    # 2 levels of 400 aliases of a 1-item list: 160 000 > budget
    text = 'a: &a ["x"]\nb: &b [' + ", ".join(["*a"] * 400) + "]\n"
    text += "c: [" + ", ".join(["*b"] * 400) + "]\n"
    with pytest.raises(ConfigValidationError, match="alias bomb"):
        parse_yaml_text(text)
    assert MAX_ALIAS_EXPANSION == 100_000


def test_recursive_alias_is_refused():
    with pytest.raises(ConfigValidationError, match="recursive alias"):
        parse_yaml_text("a: &a [1, *a]\n")


def test_show_is_bounded_on_line_tracking_containers():
    inner = LineList(["x" * 10_000] * 1000)
    outer = LineDict({f"k{i}": inner for i in range(1000)})
    text = show(outer)
    assert len(text) <= 300 and text.startswith("{'k0': ['xxxx")
    assert show(10**100000).endswith("-bit integer>")


@pytest.mark.timeout(20)
def test_fifo_config_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_yaml(fifo)
    assert info.value.message == "config file is a FIFO (named pipe), not a regular file"
    assert info.value.path == str(fifo)
    errors = validate_pipeline_config(fifo)
    assert errors == [f"{fifo}: config file is a FIFO (named pipe), not a regular file"]


@pytest.mark.timeout(20)
def test_dev_zero_and_directory_configs_are_refused():
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_yaml("/dev/zero")
    assert info.value.message == (
        "config file is a character device, not a regular file"
    )
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_yaml("/tmp")
    assert info.value.message == "config path is a directory, not a file"


def test_oversized_config_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_yaml(path)
    assert info.value.message == (
        "config file is 67108865 bytes, over the 67108864-byte limit"
    )


def test_unparseable_dtype_string_is_an_error_not_kept_as_text():
    with pytest.raises(ConfigValidationError) as info:
        SharedMemoryConfig("x", (4,), "nonsense")
    assert str(info.value) == "shared memory 'x': dtype: 'nonsense' is not a NumPy dtype"
    assert SharedMemoryConfig("x", [4], "float32").dtype == np.dtype("float32")


VALID = {
    "shared_memory": [
        {"name": "a", "shape": [4], "dtype": "float32"},
        {"name": "b", "shape": [4], "dtype": "float32"},
    ],
    "kernels": [{"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}],
}


def test_validated_config_is_not_parsed_again(monkeypatch):
    config = PipelineConfig.from_dict(VALID)
    assert config.validated

    def fail(raw):
        raise AssertionError("a validated config was re-parsed")

    monkeypatch.setattr(validation_module, "parse_pipeline_checked", fail)
    assert validate_pipeline_config(config) == []


def test_a_replaced_config_is_checked_again():
    from dataclasses import replace

    config = PipelineConfig.from_dict(VALID)
    broken = replace(config, kernels=config.kernels * 2)
    assert not broken.validated
    errors = validate_pipeline_config(broken)
    assert any("duplicate kernel name" in e for e in errors)


def test_a_huge_entry_name_is_shown_bounded():
    raw = {
        "shared_memory": [{"name": "a" * 1_000_000, "shape": [2], "dtype": "nope"}],
        "kernels": [{"name": "k" * 1_000_000, "kind": "cpu.copy", "input": "x",
                     "output": "y"}],
    }
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_dict(raw)
    assert all(len(message) < 1000 for message in info.value.errors)
    assert info.value.errors[0].startswith("shared_memory[0] 'aaaa")
