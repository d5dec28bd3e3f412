"""PipelineConfig.from_yaml: file and line of every problem, YAML syntax and
I/O failures as ConfigValidationError, YAML quirks."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from _pipeline_configs import ao_loop

from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ConfigValidationError

VALID = """\
shared_memory:
  - {name: frame, shape: [64, 64], dtype: float32, storage: cpu}
  - {name: out, shape: [64, 64], dtype: float32}
  - name: gain_map
    shape: [64, 64]
    dtype: float32
kernels:
  - name: scale_stage
    kind: cpu.scale
    input: frame
    output: out
    auxiliary: [gain_map]
    parameters: {factor: 2.0}
    read_timeout: 1.0
    pause_sleep: 0.01
"""


def write(tmp_path: Path, text: str, name: str = "pipeline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path) -> ConfigValidationError:
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_yaml(path)
    return info.value


def test_valid_file_loads_with_source_path(tmp_path):
    path = write(tmp_path, VALID)
    config = PipelineConfig.from_yaml(path)
    assert config.source_path == path.resolve()
    assert config.base_dir == path.resolve().parent
    assert config == PipelineConfig.from_yaml(str(path))
    (stage,) = config.kernels
    assert stage.auxiliary_by_alias == {"gain_map": "gain_map"}
    assert stage.parameters == {"factor": 2.0}
    assert type(stage.parameters) is dict  # no loader subclass leaks out
    assert config.shared_memory[2].dtype == np.dtype("float32")


def test_round_trip_through_yaml(tmp_path):
    config = PipelineConfig.from_dict(ao_loop())
    path = write(tmp_path, yaml.safe_dump(config.to_dict(), sort_keys=False))
    assert PipelineConfig.from_yaml(path) == config


def test_error_names_file_and_field_line(tmp_path):
    path = write(tmp_path, VALID.replace("input: frame", "input: fram"))
    exc = load_error(path)
    assert exc.message.startswith(
        "kernels[0] 'scale_stage': input: undefined shared memory 'fram'"
    )
    assert exc.path == str(path) and exc.line == 10
    assert str(exc).startswith(f"{path}:10: kernels[0] 'scale_stage': input:")


def test_flow_mapping_field_line(tmp_path):
    path = write(
        tmp_path,
        VALID.replace("[64, 64], dtype: float32}", "[64, 2.7], dtype: float32}", 1),
    )
    exc = load_error(path)
    assert exc.message.startswith(
        "shared_memory[1] 'out': shape: dimension 1 must be a positive integer"
    )
    assert exc.line == 3


def test_block_mapping_field_line(tmp_path):
    path = write(tmp_path, VALID.replace("    dtype: float32\n", "    dtype: int\n"))
    exc = load_error(path)
    assert exc.message.startswith("shared_memory[2] 'gain_map': dtype: 'int'")
    assert exc.line == 6


def test_missing_field_reports_the_entry_line(tmp_path):
    path = write(tmp_path, VALID.replace("    kind: cpu.scale\n", ""))
    exc = load_error(path)
    assert exc.message == "kernels[0] 'scale_stage': kind: required"
    assert exc.line == 8


def test_unknown_key_line(tmp_path):
    path = write(
        tmp_path, VALID.replace("    pause_sleep: 0.01\n", "    pause_sleap: 0.01\n")
    )
    exc = load_error(path)
    assert exc.message.startswith("kernels[0] 'scale_stage': unknown key 'pause_sleap'")
    assert exc.line == 15
    path = write(tmp_path, VALID + "extra: 1\n")
    exc = load_error(path)
    assert exc.message.startswith("pipeline: unknown key 'extra'")
    assert exc.line == 16


def test_auxiliary_item_line(tmp_path):
    text = VALID.replace(
        "    auxiliary: [gain_map]\n",
        "    auxiliary:\n      gain: gain_map\n      bad-alias: frame2\n",
    )
    exc = load_error(write(tmp_path, text))
    assert exc.errors[0] == (
        f"{tmp_path / 'pipeline.yaml'}:14: kernels[0] 'scale_stage': auxiliary.bad-alias: "
        "alias 'bad-alias' must be a Python identifier, not a keyword (it is a name "
        "in operation expressions)"
    )


def test_every_problem_is_listed_with_its_line(tmp_path):
    text = (
        VALID.replace(
            "[64, 64], dtype: float32, storage: cpu}",
            "[0], dtype: float32, storage: tpu}",
        )
        .replace("input: frame", "input: fram")
        .replace("read_timeout: 1.0", "read_timeout: -1")
    )
    path = write(tmp_path, text)
    exc = load_error(path)
    assert [e.split(": ", 1)[0] for e in exc.errors] == [
        f"{path}:2",
        f"{path}:2",
        f"{path}:14",
        f"{path}:10",
    ]
    assert exc.errors[2].endswith(
        "read_timeout: must be a positive finite number of seconds, got -1"
    )
    assert exc.line == 2 and exc.message == exc.errors[0].split(": ", 1)[1]


def test_duplicate_stream_name_line(tmp_path):
    text = VALID.replace("name: gain_map", "name: frame").replace("[gain_map]", "[]")
    exc = load_error(write(tmp_path, text))
    assert exc.message.startswith("shared_memory[2] 'frame': name: duplicate")
    assert exc.line == 4


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = write(tmp_path, VALID.replace("kind: cpu.scale", "kind: [cpu.scale"))
    exc = load_error(path)
    assert exc.message.startswith("invalid YAML:")
    assert exc.path == str(path) and exc.line is not None and exc.line >= 9


def test_tab_indentation_is_a_syntax_error(tmp_path):
    path = write(tmp_path, "shared_memory:\n\t- {name: a}\n")
    exc = load_error(path)
    assert exc.message.startswith("invalid YAML:") and exc.line == 2


def test_duplicate_keys_are_rejected_with_line(tmp_path):
    path = write(
        tmp_path,
        VALID.replace("    output: out\n", "    output: out\n    input: out\n"),
    )
    exc = load_error(path)
    assert exc.message == (
        "invalid YAML: found duplicate key 'input' (while constructing a mapping)"
    )
    assert exc.line == 12


def test_merge_keys_and_anchors(tmp_path):
    # anchors live inside the allowed sections
    text = """\
    shared_memory:
      - &base {name: a, shape: [4], dtype: float32}
      - {<<: *base, name: b}
    kernels:
      - {name: k, kind: cpu.copy, input: a, output: b}
    """
    config = PipelineConfig.from_yaml(write(tmp_path, text))
    assert [s.name for s in config.shared_memory] == ["a", "b"]
    assert config.shared_memory[1].shape == (4,)


def test_recursive_alias_is_a_config_error(tmp_path):
    text = """\
    shared_memory: &loop [*loop]
    kernels: []
    """
    exc = load_error(write(tmp_path, text))
    assert exc.message.startswith("invalid YAML")


def test_exponent_without_dot_is_a_float(tmp_path):
    text = VALID.replace("pause_sleep: 0.01", "pause_sleep: 1e-3").replace(
        "factor: 2.0", "factor: 5E+2"
    )
    (stage,) = PipelineConfig.from_yaml(write(tmp_path, text)).kernels
    assert stage.pause_sleep == 1e-3
    assert stage.parameters["factor"] == 500.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "pipeline: must be a mapping"),
        ("# only a comment\n", "pipeline: must be a mapping"),
        ("- a\n- b\n", "pipeline: must be a mapping"),
        ("just text\n", "pipeline: must be a mapping"),
        (
            "a: 1\n---\nb: 2\n",
            "invalid YAML: but found another document (expected a single",
        ),
    ],
)
def test_degenerate_documents(tmp_path, text, message):
    exc = load_error(write(tmp_path, text))
    assert exc.message.startswith(message)


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    exc = load_error(path)
    assert exc.message == "config file not found" and exc.path == str(path)
    assert str(exc) == f"{path}: config file not found"


def test_directory_and_bad_path_types(tmp_path):
    exc = load_error(tmp_path)
    assert exc.message == "config path is a directory, not a file"
    exc = load_error(12)
    assert exc.message == "config path must be a string or a path, got 12"
    exc = load_error("bad\0name.yaml")
    assert exc.message.startswith("cannot read config file")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"shared_memory:\n  - {name: caf\xe9}\n")
    exc = load_error(path)
    assert exc.message == "config file is not UTF-8 text" and exc.line == 2


def test_unreadable_file(tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = write(tmp_path, VALID)
    path.chmod(0)
    try:
        exc = load_error(path)
    finally:
        path.chmod(0o600)
    assert exc.message.startswith("cannot read config file")


def test_unsafe_tags_are_refused(tmp_path):
    text = "shared_memory: !!python/object/apply:os.system ['true']\nkernels: []\n"
    exc = load_error(write(tmp_path, text))
    assert exc.message.startswith("invalid YAML")
