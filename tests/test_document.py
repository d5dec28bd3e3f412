"""Editable documents: load / normalise / save, and the config round trip."""

from __future__ import annotations

import pytest

from shmpipeline.config import PipelineConfig
from shmpipeline.document import (
    SECTIONS,
    clone_document,
    config_to_document,
    default_document,
    document_to_config,
    document_to_yaml,
    load_document,
    normalize_document,
    parse_inline_yaml,
    save_document,
)
from shmpipeline.errors import ConfigValidationError

RAW = {
    "shared_memory": [
        {"name": "a", "shape": [4], "dtype": "float32",
         "initial": {"pattern": "constant", "value": 1.0}},
        {"name": "b", "shape": [4], "dtype": "float32"},
    ],
    "kernels": [{"name": "k", "kind": "cpu.scale", "input": "a", "output": "b",
                 "parameters": {"factor": 2.0}}],
    "sinks": [{"name": "drain", "kind": "null.sink", "stream": "b"}],
    "namespace": "demo",
}


def test_default_and_normalised_documents():
    assert default_document() == {s: [] for s in SECTIONS}
    doc = normalize_document({"shared_memory": [{"name": "x"}]})
    assert doc == {"shared_memory": [{"name": "x"}], "sources": [], "kernels": [],
                   "sinks": []}
    with pytest.raises(ConfigValidationError, match="must be a mapping"):
        normalize_document([1])


def test_clone_is_independent():
    doc = normalize_document(RAW)
    copy = clone_document(doc)
    copy["kernels"][0]["parameters"]["factor"] = 3.0
    assert doc["kernels"][0]["parameters"]["factor"] == 2.0


def test_config_document_config_round_trip(tmp_path):
    config = PipelineConfig.from_dict(RAW)
    document = config_to_document(config)
    assert list(document)[:4] == list(SECTIONS) and document["namespace"] == "demo"
    assert document_to_config(document) == config
    path = tmp_path / "p.yaml"
    save_document(path, document)
    assert load_document(path) == document
    assert PipelineConfig.from_yaml(path) == config
    assert document_to_yaml(document).startswith("shared_memory:")


def test_load_empty_and_bad_documents(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_document(empty) == default_document()
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n")
    with pytest.raises(ConfigValidationError, match="must be a mapping"):
        load_document(bad)


def test_parse_inline_yaml():
    assert parse_inline_yaml("  ", fallback={"a": 1}) == {"a": 1}
    assert parse_inline_yaml("null", fallback=[]) == []
    assert parse_inline_yaml("{factor: 2}", fallback={}) == {"factor": 2}
    assert type(parse_inline_yaml("{factor: 2}", fallback={})) is dict
