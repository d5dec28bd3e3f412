"""Top-level namespace, sources and sinks, and stream mode/initial/notify."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shmpipeline.config import PipelineConfig, SinkConfig, SourceConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import PipelineGraph, validate_pipeline_config


def streams(*names, **extra):
    return [{"name": n, "shape": [2, 2], "dtype": "float32", **extra} for n in names]


def endpoints_only():
    return {
        "namespace": "bench.one",
        "shared_memory": streams("cam0", "cam1", "state"),
        "sources": [{"name": "cameras", "kind": "synthetic.frame_set",
                     "streams": ["cam0", "cam1"], "parameters": {"rate_hz": 100}}],
        "sinks": [{"name": "drain", "kind": "null.sink", "stream": "cam0"},
                  {"name": "mirror", "kind": "example.stateful", "stream": "cam1",
                   "outputs": ["state"], "consume_timeout": 0.5}],
    }


def errors_of(raw):
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_dict(raw)
    return list(info.value.errors)


def test_a_pipeline_of_endpoints_needs_no_kernels():
    config = PipelineConfig.from_dict(endpoints_only())
    assert config.kernels == () and config.namespace == "bench.one"
    (source,) = config.sources
    assert source == SourceConfig(
        name="cameras", kind="synthetic.frame_set", stream="cam0",
        parameters={"rate_hz": 100}, poll_interval=0.01, read_timeout=None,
        streams=("cam0", "cam1"),
    )
    assert source.output_streams == ("cam0", "cam1")
    drain, mirror = config.sinks
    assert drain.output_streams == () and drain.read_timeout == 1.0
    assert mirror == SinkConfig(name="mirror", kind="example.stateful", stream="cam1",
                                consume_timeout=0.5, outputs=("state",))
    assert [s.resource_name for s in config.shared_memory] == [
        "bench.one.cam0", "bench.one.cam1", "bench.one.state"]
    assert config.shared_memory[0].name == "cam0"


def test_round_trip_with_endpoints():
    config = PipelineConfig.from_dict(endpoints_only())
    assert PipelineConfig.from_dict(config.to_dict()) == config
    assert config.to_dict()["namespace"] == "bench.one"


def test_kernels_still_required_without_endpoints():
    raw = {"shared_memory": streams("a"), "kernels": []}
    assert errors_of(raw)[0].startswith("kernels: required: a non-empty list")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["sources"][0].update(stream="cam0"),
         "sources[0] 'cameras': streams: use either 'stream' or 'streams', not both"),
        (lambda r: r["sources"][0].update(streams=["cam0", "nope"]),
         "sources[0] 'cameras': streams[1]: undefined shared memory 'nope'"),
        (lambda r: r["sinks"][0].update(strem="x"),
         "sinks[0] 'drain': unknown key 'strem' (did you mean 'stream'?); allowed: "
         "name, kind, stream, outputs, auxiliary, parameters, read_timeout, "
         "pause_sleep, consume_timeout (other keys are unsupported fields)"),
        (lambda r: r["sinks"][1].update(name="cameras"),
         "sinks[1] 'cameras': name: duplicate name (also sources[0] 'cameras'); "
         "pipeline node names must be unique across kernels, sources, and sinks"),
        (lambda r: r.update(namespace="a/b"),
         "pipeline: namespace: must use letters, digits, '_', '-' and '.' (not "
         "first), got 'a/b'"),
        (lambda r: r["sinks"][1].update(outputs=["state", "state"]),
         "sinks[1] 'mirror': outputs[1]: stream 'state' is listed twice; a kernel "
         "cannot declare the same output stream more than once"),
    ],
)
def test_endpoint_problems(change, message):
    raw = endpoints_only()
    change(raw)
    assert errors_of(raw)[0] == message


def test_a_source_and_a_kernel_writing_one_stream_is_a_graph_error():
    raw = endpoints_only()
    raw["kernels"] = [{"name": "k", "kind": "cpu.copy", "input": "cam0", "output": "cam1"}]
    config = PipelineConfig.from_dict(raw)  # per-entry checks pass
    errors = PipelineGraph(config).validation_errors()
    assert errors == [
        "sources[0] 'cameras': streams[1]: shared memory 'cam1' is already produced "
        "by kernels[0] 'k' (multiple producers); a stream has at most one producer"
    ]
    assert validate_pipeline_config(raw)[0] == (
        "sources[0] 'cameras': streams[1]: shared memory 'cam1' is already produced "
        "by kernels[0] 'k' (multiple producers); a stream has at most one producer"
    )


def test_stream_mode_notify_and_initial():
    raw = {
        "shared_memory": [
            {"name": "a", "shape": [3], "dtype": "float32", "mode": "Attach",
             "notify": False, "initial": {"pattern": "constant", "value": 2.5}},
            {"name": "m", "shape": [2, 2], "dtype": "double",
             "initial": {"pattern": "identity", "scale": 3}},
            {"name": "n", "shape": [4.0], "dtype": "float32",
             "initial": {"pattern": "normal", "seed": 7, "std": 0.5}},
            {"name": "v", "shape": [2], "dtype": "int16",
             "initial": {"pattern": "values", "values": [1, 2]}},
        ],
        "sinks": [{"name": "s", "kind": "null.sink", "stream": "a"}],
    }
    a, m, n, v = PipelineConfig.from_dict(raw).shared_memory
    assert (a.mode, a.notify, a.initial) == ("attach", False,
                                            {"pattern": "constant", "value": 2.5})
    assert m.dtype == np.dtype("float64") and m.initial == {"pattern": "identity",
                                                            "scale": 3.0}
    assert n.shape == (4,) and n.initial == {"pattern": "normal", "seed": 7, "std": 0.5}
    assert v.initial == {"pattern": "values", "values": [1, 2]}
    config = PipelineConfig.from_dict(raw)
    assert PipelineConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("initial", "message"),
    [
        ({"pattern": "zeros"}, "initial.pattern: must be one of 'constant', 'normal', "
         "'values', 'identity', got 'zeros'"),
        ({"pattern": "constant"}, "initial.value: a constant initializer needs a "
         "numeric value, got None"),
        ({"pattern": "constant", "value": 1, "seed": 2}, "initial: unknown key 'seed' "
         "for pattern 'constant'; allowed: pattern, value (other keys are "
         "unsupported fields)"),
        ({"pattern": "normal", "std": -1}, "initial.std: must be a finite number "
         ">= 0, got -1"),
        ({"pattern": "normal", "seed": 1.5}, "initial.seed: must be a non-negative "
         "integer, got 1.5"),
        ({"pattern": "values", "values": [1, 2, 3]}, "initial.values: has shape (3,), "
         "the stream's is (2, 2)"),
        ({"pattern": "values"}, "initial.values: required for pattern 'values'"),
        ({"pattern": "values", "values": [["a", "b"], ["c", "d"]]},
         "initial.values: is not an array of float32: "),
    ],
)
def test_initial_problems(initial, message):
    raw = {"shared_memory": [{"name": "a", "shape": [2, 2], "dtype": "float32",
                              "initial": initial}],
           "sinks": [{"name": "s", "kind": "null.sink", "stream": "a"}]}
    assert errors_of(raw)[0].startswith("shared_memory[0] 'a': " + message)


def test_identity_needs_two_dimensions_and_normal_a_float_stream():
    raw = {"shared_memory": [
        {"name": "a", "shape": [3], "dtype": "float32",
         "initial": {"pattern": "identity"}},
        {"name": "b", "shape": [3], "dtype": "int32", "initial": {"pattern": "normal"}},
    ], "sinks": [{"name": "s", "kind": "null.sink", "stream": "a"}]}
    assert errors_of(raw) == [
        "shared_memory[0] 'a': initial.pattern: an identity initializer needs a 2-D "
        "stream, not shape (3,)",
        "shared_memory[1] 'b': initial.pattern: a normal initializer needs a float32 "
        "or float64 stream, not int32",
    ]


def test_mode_choices():
    raw = {"shared_memory": streams("a", mode="reuse"),
           "sinks": [{"name": "s", "kind": "null.sink", "stream": "a"}]}
    assert errors_of(raw)[0] == (
        "shared_memory[0] 'a': mode: must be one of 'create_or_attach', 'create', "
        "'attach', 'replace', got 'reuse'"
    )


def test_base_path_of_a_mapping(tmp_path):
    config = PipelineConfig.from_dict(endpoints_only(), base_path=tmp_path)
    assert config.base_dir == tmp_path.resolve()
    assert PipelineConfig.from_dict(endpoints_only()).base_dir == Path.cwd().resolve()


def test_yaml_base_dir_is_the_file_directory(tmp_path):
    import yaml

    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(endpoints_only()))
    config = PipelineConfig.from_yaml(path)
    assert config.base_dir == tmp_path.resolve() and config.validated
