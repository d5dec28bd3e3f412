"""Fuzzing config loading: whatever the input, only ConfigValidationError (or
a valid config) comes out of from_dict / from_yaml / validate_pipeline_config;
valid configs round-trip through to_dict and YAML."""

from __future__ import annotations

import copy
import os
import tempfile
from typing import Any

import pytest
import yaml
from _config_strategies import (
    plausible_pipeline,
    valid_pipelines,
    yaml_like,
)
from _pipeline_configs import ao_loop
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shmpipeline.config import KernelConfig, PipelineConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError

FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def load(raw: Any) -> PipelineConfig | None:
    """from_dict, asserting the only failure is a well-formed config error."""
    try:
        config = PipelineConfig.from_dict(raw)
    except ConfigValidationError as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
        assert exc.message == exc.errors[0]
        return None
    assert isinstance(config, PipelineConfig)
    assert PipelineConfig.from_dict(config.to_dict()) == config
    return config


@FUZZ
@given(yaml_like)
def test_arbitrary_data(raw):
    load(raw)
    for parse in (SharedMemoryConfig.from_dict, KernelConfig.from_dict):
        try:
            parse(raw)
        except ConfigValidationError:
            pass


@FUZZ
@given(plausible_pipeline)
def test_plausible_pipelines(raw):
    load(raw)


@FUZZ
@given(
    section=st.sampled_from(["shared_memory", "kernels"]),
    value=yaml_like,
    data=st.data(),
)
def test_arbitrary_data_at_every_entry(section, value, data):
    raw = ao_loop()
    entries = raw[section]
    index = data.draw(st.integers(0, len(entries) - 1))
    entries[index] = value
    load(raw)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    paths = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            paths += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            paths += _paths(value, (*prefix, index))
    return paths


BASE = ao_loop()
BASE_PATHS = _paths(BASE)


@FUZZ
@given(
    path=st.sampled_from(BASE_PATHS),
    action=st.sampled_from(["replace", "delete", "add_key"]),
    value=yaml_like,
    key=st.one_of(st.text(max_size=6), st.integers(), st.sampled_from(["name", "x"])),
)
def test_mutations_of_a_valid_config(path, action, value, key):
    raw = copy.deepcopy(BASE)
    if not path:
        raw = value if action == "replace" else raw
    else:
        parent = raw
        for step in path[:-1]:
            parent = parent[step]
        if action == "replace":
            parent[path[-1]] = value
        elif action == "delete":
            del parent[path[-1]]
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[key] = value
            elif isinstance(target, list):
                target.append(value)
    load(raw)


def _from_yaml_text(text: str | bytes) -> None:
    fd, name = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
            )
        try:
            PipelineConfig.from_yaml(name)
        except ConfigValidationError as exc:
            assert exc.path == name
    finally:
        os.unlink(name)


@settings(max_examples=150, deadline=None)
@given(yaml_like)
def test_from_yaml_of_dumped_data(raw):
    _from_yaml_text(yaml.safe_dump(raw, allow_unicode=True))


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200)))
def test_from_yaml_of_arbitrary_text(text):
    _from_yaml_text(text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="{}[]-:,&*!|>'\"#%@` \n\tab01.", max_size=80))
def test_from_yaml_of_yaml_punctuation(text):
    _from_yaml_text(text)


@settings(max_examples=150, deadline=None)
@given(valid_pipelines())
def test_valid_pipelines_round_trip(raw):
    config = PipelineConfig.from_dict(raw)
    assert PipelineConfig.from_dict(config.to_dict()) == config
    fd, name = tempfile.mkstemp(suffix=".yaml")
    try:
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config.to_dict(), handle, sort_keys=False)
        assert PipelineConfig.from_yaml(name) == config
    finally:
        os.unlink(name)


@settings(max_examples=150, deadline=None)
@given(st.one_of(plausible_pipeline, yaml_like, valid_pipelines()))
def test_validate_pipeline_config_never_raises(raw):
    pytest.importorskip("shmpipeline.registry")
    from shmpipeline.graph import validate_pipeline_config

    errors = validate_pipeline_config(raw)
    assert isinstance(errors, list) and all(isinstance(e, str) for e in errors)
    if isinstance(raw, str):  # a str is a path to validate_pipeline_config
        return
    try:
        config = PipelineConfig.from_dict(raw)
    except ConfigValidationError as exc:
        # every config problem is among the collected errors
        assert set(exc.errors) <= set(errors)
    else:
        assert validate_pipeline_config(config) == errors
