"""PipelineGraph queries on an AO-style loop, diamond and branching graphs,
feedback loops, and graph-level validation of hand-built configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _config_strategies import valid_pipelines
from _pipeline_configs import ao_loop, diamond, kernel, scale_pipeline, stream
from hypothesis import given, settings

from shmpipeline.config import (
    AuxiliaryBinding,
    KernelConfig,
    PipelineConfig,
    SharedMemoryConfig,
)
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import GraphEdge, PipelineGraph, validate_pipeline_config


def graph_of(data) -> PipelineGraph:
    return PipelineGraph.from_config(PipelineConfig.from_dict(data))


AO_ORDER = ("centroid", "flatten", "reconstruct", "integrate", "clip")


# --- the five-stage AO loop ------------------------------------------------------------


def test_ao_edges():
    graph = graph_of(ao_loop())
    assert graph.edges == (
        GraphEdge("frame", "centroid", "input", "frame"),
        GraphEdge("centroid", "slopes", "output", "slopes"),
        GraphEdge("slopes", "flatten", "input", "slopes"),
        GraphEdge("flatten", "slopes_flat", "output", "slopes_flat"),
        GraphEdge("slopes_flat", "reconstruct", "input", "slopes_flat"),
        GraphEdge("matrix", "reconstruct", "auxiliary:matrix", "matrix"),
        GraphEdge("offset", "reconstruct", "auxiliary:offset", "offset"),
        GraphEdge("reconstruct", "residual", "output", "residual"),
        GraphEdge("residual", "integrate", "input", "residual"),
        GraphEdge("integrate", "integrated", "output", "integrated"),
        GraphEdge("integrated", "clip", "input", "integrated"),
        GraphEdge("clip", "command", "output", "command"),
    )


def test_ao_sources_sinks_and_neighbours():
    graph = graph_of(ao_loop())
    assert graph.source_streams() == ("frame", "matrix", "offset")
    assert graph.sink_streams() == ("command",)
    assert graph.orphaned_streams() == ()
    assert graph.upstream_kernels("centroid") == ()
    assert graph.upstream_kernels("reconstruct") == ("flatten",)
    assert graph.downstream_kernels("reconstruct") == ("integrate",)
    assert graph.downstream_kernels("clip") == ()
    assert graph.producers("residual") == ("reconstruct",)
    assert graph.consumers("matrix") == ("reconstruct",)
    assert graph.producers("frame") == () and graph.consumers("command") == ()
    assert graph.topological_order() == AO_ORDER
    assert graph.cycles() == ()
    assert graph.validation_errors() == []
    graph.raise_for_errors()


def test_topological_order_ignores_config_order():
    data = ao_loop()
    data["kernels"].reverse()
    assert graph_of(data).topological_order() == AO_ORDER
    data["kernels"] = [data["kernels"][i] for i in (2, 0, 4, 1, 3)]
    assert graph_of(data).topological_order() == AO_ORDER


def test_ao_feedback_through_an_auxiliary_is_a_loop_not_an_error():
    graph = graph_of(ao_loop(feedback=True))
    assert graph.validation_errors() == []
    assert graph.topological_order() == AO_ORDER
    assert graph.cycles() == (("reconstruct", "integrate", "clip"),)
    assert graph.cycles(include_auxiliary=False) == ()
    assert graph.upstream_kernels("reconstruct") == ("clip", "flatten")
    assert graph.downstream_kernels("clip") == ("reconstruct",)
    assert graph.source_streams() == ("frame", "matrix")
    assert graph.sink_streams() == ()
    assert graph.orphaned_streams() == ("offset",)
    assert (
        "Feedback loop (through auxiliary inputs): reconstruct -> integrate -> clip"
        in (graph.describe())
    )


def test_ao_to_dict_is_json_and_complete():
    graph = graph_of(ao_loop())
    native = graph.to_dict()
    out = json.loads(json.dumps(native))
    # name lists are tuples, as the published package returns them
    assert native["shared_memory"][0]["consumers"] == ("centroid",)
    assert native["kernels"][2]["downstream_kernels"] == ("integrate",)
    assert native["source_streams"] == ("frame", "matrix", "offset")
    assert set(out) == {
        "shared_memory",
        "kernels",
        "edges",
        "source_streams",
        "sink_streams",
        "orphaned_streams",
        "topological_order",
        "cycles",
        "validation_errors",
    }
    frame = out["shared_memory"][0]
    assert frame == {
        "name": "frame",
        "shape": [32, 32],
        "dtype": "float32",
        "storage": "cpu",
        "gpu_device": None,
        "cpu_mirror": None,
        "producers": [],
        "consumers": ["centroid"],
        "role": "source",
    }
    roles = {s["name"]: s["role"] for s in out["shared_memory"]}
    assert roles["slopes"] == "intermediate" and roles["command"] == "sink"
    reconstruct = out["kernels"][2]
    assert reconstruct == {
        "name": "reconstruct",
        "kind": "cpu.affine_transform",
        "input": "slopes_flat",
        "output": "residual",
        "auxiliary": {"matrix": "matrix", "offset": "offset"},
        "operation": None,
        "parameters": {},
        "upstream_kernels": ["flatten"],
        "downstream_kernels": ["integrate"],
    }
    assert out["kernels"][4]["operation"] == "clip(input, -0.5, 0.5)"
    assert out["edges"][5] == {
        "source": "matrix",
        "target": "reconstruct",
        "role": "auxiliary:matrix",
        "stream": "matrix",
    }
    assert out["source_streams"] == ["frame", "matrix", "offset"]
    assert out["sink_streams"] == ["command"]
    assert out["topological_order"] == list(AO_ORDER)
    assert out["cycles"] == [] and out["validation_errors"] == []


def test_to_dict_parameters_are_json_safe():
    data = scale_pipeline()
    data["kernels"][0]["parameters"] = {"a": (1, 2), "b": {3: None}}
    config = PipelineConfig.from_dict(data)
    object.__setattr__(
        config.kernels[0],
        "parameters",
        {"m": np.eye(2), "x": np.float32(1.5), "s": {1}},
    )
    params = PipelineGraph(config).to_dict()["kernels"][0]["parameters"]
    assert params == {"m": [[1.0, 0.0], [0.0, 1.0]], "x": 1.5, "s": "{1}"}
    json.dumps(params)


def test_describe_lists_streams_kernels_and_roles():
    text = graph_of(ao_loop()).describe()
    lines = text.splitlines()
    assert lines[0] == "Pipeline Graph: 8 streams, 5 kernels"
    assert any(
        line.split()[:5] == ["frame", "float32", "32x32", "cpu", "source"]
        for line in lines
    )
    assert (
        "  3. reconstruct [cpu.affine_transform] slopes_flat -> residual  "
        "aux: matrix, offset" in lines
    )
    assert (
        "  1. centroid [cpu.shack_hartmann_centroid] frame -> slopes  params: tile_size=8"
        in lines
    )
    assert "Sources: frame, matrix, offset" in lines
    assert "Sinks: command" in lines
    assert "Validation errors:" not in text


def test_describe_shows_source_path_aliases_gpu_and_errors(tmp_path):
    import yaml

    data = ao_loop()
    data["kernels"][2]["auxiliary"] = {"A": "matrix", "b": "offset"}
    data["shared_memory"][0].update(storage="gpu", gpu_device="cuda:0", cpu_mirror=True)
    path = tmp_path / "ao.yaml"
    path.write_text(yaml.safe_dump(data))
    config = PipelineConfig.from_yaml(path)
    text = PipelineGraph(config).describe()
    assert text.splitlines()[0] == f"Pipeline Graph: 8 streams, 5 kernels ({path.resolve()})"
    assert "aux: A=matrix, b=offset" in text
    assert "gpu@cuda:0+mirror" in text
    broken = PipelineConfig(
        config.shared_memory,
        config.kernels + (KernelConfig("again", "cpu.copy", "frame", "command"),),
    )
    text = PipelineGraph(broken).describe()
    assert "Validation errors:" in text
    assert "already produced by kernels[4] 'clip'" in text


# --- diamond and branching ------------------------------------------------------------------


def test_diamond_queries():
    graph = graph_of(diamond())
    assert graph.source_streams() == ("a",)
    assert graph.sink_streams() == ("d", "tap")
    assert graph.orphaned_streams() == ("unused",)
    assert graph.consumers("a") == ("left", "right", "tapper")
    assert graph.upstream_kernels("join") == ("left", "right")
    assert graph.downstream_kernels("left") == ("join",)
    assert graph.downstream_kernels("right") == ("join",)
    assert graph.downstream_kernels("tapper") == ()
    assert graph.upstream_kernels("tapper") == ()
    # join's trigger (b) and auxiliary (c) producers both come first; ties
    # keep config order
    assert graph.topological_order() == ("left", "right", "join", "tapper")
    assert graph.cycles() == ()
    roles = {s["name"]: s["role"] for s in graph.to_dict()["shared_memory"]}
    assert roles == {
        "a": "source",
        "b": "intermediate",
        "c": "intermediate",
        "d": "sink",
        "tap": "sink",
        "unused": "orphan",
    }
    assert "Orphaned streams: unused" in graph.describe()


def test_auxiliary_producer_ordered_first_when_possible():
    """``join`` is ready by trigger edges before ``right`` has run; the order
    still puts ``right`` (its auxiliary producer) first."""
    data = diamond()
    data["kernels"] = [
        data["kernels"][i] for i in (1, 0, 2, 3)
    ]  # left, join, right, tapper
    assert graph_of(data).topological_order() == ("left", "right", "join", "tapper")


def test_chain_with_fan_out_and_fan_in():
    data = {
        "shared_memory": [stream(n, (3,)) for n in "abcdefg"],
        "kernels": [
            kernel("k_ab", "cpu.copy", "a", "b"),
            kernel("k_bc", "cpu.copy", "b", "c"),
            kernel("k_bd", "cpu.copy", "b", "d"),
            kernel("k_be", "cpu.copy", "b", "e"),
            kernel("k_cf", "cpu.elementwise_add", "c", "f", auxiliary=["d", "e"]),
            kernel("k_fg", "cpu.copy", "f", "g"),
        ],
    }
    data["kernels"].reverse()
    graph = graph_of(data)
    order = graph.topological_order()
    # ties keep (reversed) config order
    assert order == ("k_ab", "k_be", "k_bd", "k_bc", "k_cf", "k_fg")
    assert graph.downstream_kernels("k_ab") == ("k_bc", "k_bd", "k_be")
    assert graph.upstream_kernels("k_cf") == ("k_bc", "k_bd", "k_be")
    assert graph.source_streams() == ("a",) and graph.sink_streams() == ("g",)


def test_trigger_only_loop_is_reported_and_ordered():
    data = {
        "shared_memory": [stream(n, (3,)) for n in ("ping", "pong", "side", "x")],
        "kernels": [
            kernel("p1", "cpu.copy", "ping", "pong"),
            kernel("p2", "cpu.copy", "pong", "ping"),
            kernel("tail", "cpu.copy", "pong", "side"),
            kernel("lone", "cpu.copy", "side", "x"),
        ],
    }
    graph = graph_of(data)
    assert graph.validation_errors() == []
    assert graph.cycles() == (("p1", "p2"),)
    assert graph.cycles(include_auxiliary=False) == (("p1", "p2"),)
    assert graph.topological_order() == ("p1", "p2", "tail", "lone")
    assert graph.source_streams() == ()
    assert "Feedback loop (through trigger edges): p1 -> p2" in graph.describe()


def test_unknown_kernel_is_a_key_error():
    graph = graph_of(ao_loop())
    with pytest.raises(KeyError, match=r"unknown kernel 'nope' \(known: 'centroid'"):
        graph.upstream_kernels("nope")
    with pytest.raises(KeyError, match="unknown kernel 'frame'"):
        graph.downstream_kernels("frame")


def test_empty_graph():
    config = PipelineConfig((SharedMemoryConfig("a", (1,), np.dtype("f4")),), ())
    graph = PipelineGraph(config)
    assert graph.edges == () and graph.topological_order() == ()
    assert graph.orphaned_streams() == ("a",)
    assert "Kernels (in trigger order):" in graph.describe()


# --- graph validation of hand-built configs ----------------------------------------------------


def _spec(name: str) -> SharedMemoryConfig:
    return SharedMemoryConfig(name, (4,), np.dtype("float32"))


def test_validation_errors_lists_every_wiring_problem():
    config = PipelineConfig(
        shared_memory=(_spec("a"), _spec("b"), _spec("c"), _spec("a")),
        kernels=(
            KernelConfig("k1", "cpu.copy", "a", "b"),
            KernelConfig("k2", "cpu.copy", "c", "b"),
            KernelConfig("k3", "cpu.copy", "c", "c"),
            KernelConfig(
                "k4",
                "cpu.copy",
                "a",
                "zz",
                auxiliary=(
                    AuxiliaryBinding("x", "a"),
                    AuxiliaryBinding("y", "zz"),
                    AuxiliaryBinding("m", "missing"),
                    AuxiliaryBinding("n", "missing"),
                ),
            ),
            KernelConfig("k1", "cpu.copy", "b", "q"),
        ),
    )
    graph = PipelineGraph(config)
    errors = graph.validation_errors()
    assert errors == [
        "kernels[2] 'k3': output: is the trigger input 'c'; a kernel cannot write the "
        "stream that triggers it",
        "kernels[3] 'k4': auxiliary.x: stream 'a' is already the trigger input",
        "kernels[3] 'k4': auxiliary.y: stream 'zz' is the kernel's own output",
        "kernels[3] 'k4': auxiliary.n: stream 'missing' is already bound to alias 'm'",
        "shared_memory[3] 'a': name: duplicate shared memory name (also "
        "shared_memory[0] 'a')",
        "kernels[4] 'k1': name: duplicate kernel name (also kernels[0] 'k1')",
        "kernels[1] 'k2': output: shared memory 'b' is already produced by "
        "kernels[0] 'k1' (multiple producer kernels); a stream has at most one producer",
        "kernels[3] 'k4': auxiliary.y: undefined shared memory 'zz'",
        "kernels[3] 'k4': auxiliary.m: undefined shared memory 'missing'",
        "kernels[3] 'k4': auxiliary.n: undefined shared memory 'missing'",
        "kernels[3] 'k4': output: undefined shared memory 'zz'",
        "kernels[4] 'k1': output: undefined shared memory 'q'",
    ]
    with pytest.raises(ConfigValidationError) as info:
        graph.raise_for_errors()
    assert info.value.message == errors[0]
    assert list(info.value.errors) == errors
    # the graph still answers queries about a broken config
    assert graph.producers("b") == ("k1", "k2")
    assert "zz" not in graph.sink_streams()  # undefined streams are not listed
    assert len(graph.topological_order()) == 5


def test_graph_messages_match_config_loading():
    data = scale_pipeline()
    data["shared_memory"].append(stream("frame2", (64, 64)))
    data["kernels"].append(kernel("second", "cpu.copy", "frame2", "out"))
    errors = validate_pipeline_config(data)
    config = PipelineConfig(
        tuple(SharedMemoryConfig.from_dict(s) for s in data["shared_memory"]),
        tuple(KernelConfig.from_dict(k) for k in data["kernels"]),
    )
    assert PipelineGraph(config).validation_errors() == errors
    assert len(errors) == 1 and "multiple producer kernels" in errors[0]


# --- properties over random valid pipelines ----------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(valid_pipelines())
def test_random_pipeline_invariants(raw):
    config = PipelineConfig.from_dict(raw)
    graph = PipelineGraph(config)
    names = [k.name for k in config.kernels]
    order = graph.topological_order()
    assert sorted(order) == sorted(names)
    position = {name: i for i, name in enumerate(order)}
    loop_of = {
        name: i
        for i, group in enumerate(graph.cycles(include_auxiliary=False))
        for name in group
    }
    producer = {k.output: k.name for k in config.kernels}
    for k in config.kernels:
        up = producer.get(k.input)
        same_loop = up in loop_of and loop_of[up] == loop_of.get(k.name)
        if up is not None and not same_loop:
            assert position[up] < position[k.name]
        assert set(graph.upstream_kernels(k.name)) == {
            producer[s] for s in k.all_inputs if s in producer
        } - {k.name}
        for down in graph.downstream_kernels(k.name):
            assert k.output in config.kernels_by_name[down].all_inputs
    streams = {s.name for s in config.shared_memory}
    sources, sinks, orphans = (
        set(graph.source_streams()),
        set(graph.sink_streams()),
        set(graph.orphaned_streams()),
    )
    consumed = {s for k in config.kernels for s in k.all_inputs}
    assert sources == consumed - set(producer)
    assert sinks == set(producer) - consumed
    assert orphans == streams - consumed - set(producer)
    assert len(graph.edges) == sum(2 + len(k.auxiliary) for k in config.kernels)
    assert graph.validation_errors() == []
    assert json.loads(json.dumps(graph.to_dict()))["topological_order"] == list(order)
    for group in graph.cycles():
        assert len(group) > 1
    graph.describe()


def test_sources_and_sinks_are_nodes_of_the_graph_as_in_the_published_package():
    """Endpoints appear in ``edges`` (roles source/sink, their auxiliaries)
    and in the per-stream producers/consumers of ``to_dict``."""
    stream = {"shape": [4], "dtype": "float32"}
    config = PipelineConfig.from_dict(
        {
            "shared_memory": [
                {"name": n, **stream} for n in ("aux_in", "frame", "out", "aux_out")
            ],
            "sources": [
                {"name": "camera", "kind": "synthetic.array", "stream": "frame",
                 "auxiliary": {"enabled": "aux_in"}}
            ],
            "kernels": [
                {"name": "copy", "kind": "cpu.copy", "input": "frame", "output": "out"}
            ],
            "sinks": [
                {"name": "drain", "kind": "null.sink", "stream": "out",
                 "auxiliary": {"mask": "aux_out"}}
            ],
        }
    )
    graph = PipelineGraph.from_config(config)
    assert [(e.source, e.target, e.role) for e in graph.edges] == [
        ("aux_in", "camera", "auxiliary:enabled"),
        ("camera", "frame", "source"),
        ("frame", "copy", "input"),
        ("copy", "out", "output"),
        ("aux_out", "drain", "auxiliary:mask"),
        ("out", "drain", "sink"),
    ]
    records = {r["name"]: r for r in graph.to_dict()["shared_memory"]}
    assert records["frame"]["producers"] == ("camera",)
    assert records["frame"]["consumers"] == ("copy",)
    assert records["out"]["consumers"] == ("drain",)
    assert records["aux_in"]["consumers"] == ("camera",)
    assert graph.describe().startswith("Pipeline Graph: 4 streams, 1 kernels")
