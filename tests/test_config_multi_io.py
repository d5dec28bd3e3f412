"""Multi-input / multi-output kernel fields of the published document model."""

from __future__ import annotations

import pytest

from shmpipeline.config import (
    KernelConfig,
    PipelineConfig,
    SynchronizationConfig,
)
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import PipelineGraph


def streams(*names):
    return [{"name": n, "shape": [4], "dtype": "float32"} for n in names]


def fan_in(**extra):
    kernel = {"name": "join", "kind": "cpu.concatenate", "inputs": ["a", "b"],
              "output": "out", **extra}
    return {"shared_memory": streams("a", "b", "out", "aux"), "kernels": [kernel]}


def problems(raw):
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_dict(raw)
    return info.value.errors


def test_inputs_default_to_all_new_and_fill_the_primary_input():
    kernel = PipelineConfig.from_dict(fan_in()).kernels[0]
    assert kernel.input == "a" and kernel.inputs == ("a", "b")
    assert kernel.trigger_inputs == ("a", "b")
    assert kernel.trigger_policy == "all_new"
    assert kernel.all_outputs == ("out",)
    assert kernel.all_inputs == ("a", "b")
    assert kernel.synchronization is None and not kernel.requires_matching_frame_id
    assert kernel.poll_interval == 1e-5 and kernel.propagate_frame_id is False


def test_single_input_defaults():
    raw = {"shared_memory": streams("a", "b"),
           "kernels": [{"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}]}
    kernel = PipelineConfig.from_dict(raw).kernels[0]
    assert kernel.trigger_inputs == ("a",) and kernel.inputs == ()
    assert kernel.trigger_policy == "any_new" and kernel.all_outputs == ("b",)


def test_synchronization_with_timeout_alias():
    raw = fan_in(synchronization={"mode": "matching_frame_id", "timeout": 0.5},
                 propagate_frame_id=True, auxiliary=["aux"])
    kernel = PipelineConfig.from_dict(raw).kernels[0]
    assert kernel.synchronization == SynchronizationConfig(
        mode="matching_frame_id", on_skew="drop_older", max_skew_generations=16,
        max_wait_s=0.5,
    )
    assert kernel.requires_matching_frame_id and kernel.tracks_frame_id
    assert kernel.all_inputs == ("a", "b", "aux")


def test_outputs_and_round_trip():
    raw = {"shared_memory": streams("a", "x", "y"),
           "kernels": [{"name": "split", "kind": "k", "input": "a",
                        "outputs": ["x", "y"], "trigger_policy": "any_new",
                        "poll_interval": 0.002}]}
    config = PipelineConfig.from_dict(raw)
    kernel = config.kernels[0]
    assert kernel.output == "x" and kernel.all_outputs == ("x", "y")
    again = PipelineConfig.from_dict(config.to_dict())
    assert again == config
    assert PipelineGraph(config).producers("y") == ("split",)


def test_round_trip_of_a_synchronised_fan_in():
    config = PipelineConfig.from_dict(
        fan_in(synchronization={"mode": "matching_frame_id", "max_wait_s": 2,
                                "max_skew_generations": 4})
    )
    assert PipelineConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"input": "a"}, "kernels[0] 'join': inputs: use either 'input' or 'inputs', not both"),
        ({"inputs": []}, "kernels[0] 'join': inputs: must be a non-empty list of stream names, got []"),
        ({"inputs": ["a", "a"]}, "kernels[0] 'join': inputs[1]: stream 'a' is listed twice; a kernel cannot declare the same trigger input stream more than once"),
        ({"inputs": ["a", "nope"]}, "kernels[0] 'join': inputs[1]: undefined shared memory 'nope'"),
        ({"outputs": ["out"]}, "kernels[0] 'join': outputs: use either 'output' or 'outputs', not both"),
        ({"trigger_policy": "any"}, "kernels[0] 'join': trigger_policy: must be one of 'any_new', 'all_new', got 'any' (did you mean 'any_new'?)"),
        ({"trigger_policy": "any_new", "synchronization": {"mode": "matching_frame_id"}},
         "kernels[0] 'join': synchronization: mode 'matching_frame_id' requires trigger_policy 'all_new'"),
        ({"synchronization": {"mode": "count", "max_wait_s": 1, "timeout": 1}},
         "kernels[0] 'join': synchronization.timeout: is an alias of max_wait_s; give one of the two"),
        ({"synchronization": {"max_skew_generations": 0}},
         "kernels[0] 'join': synchronization.max_skew_generations: must be a positive integer, got 0"),
        ({"synchronization": {"on_skew": "keep"}},
         "kernels[0] 'join': synchronization.on_skew: must be one of 'drop_older', got 'keep'"),
        ({"synchronization": {"mdoe": "count"}},
         "kernels[0] 'join': synchronization: unknown key 'mdoe' (did you mean 'mode'?); allowed: mode, on_skew, max_skew_generations, max_wait_s, timeout (other keys are unsupported fields)"),
        ({"propagate_frame_id": "yes"}, "kernels[0] 'join': propagate_frame_id: must be true or false, got 'yes'"),
        ({"poll_interval": 0}, "kernels[0] 'join': poll_interval: must be a positive finite number of seconds, got 0"),
    ],
)
def test_multi_io_problems(extra, message):
    raw = fan_in()
    raw["kernels"][0].update(extra)
    if "outputs" in extra:
        raw["kernels"][0]["outputs"] = ["out"]
    assert problems(raw)[0] == message


def test_an_output_that_is_a_trigger_input_is_refused():
    raw = fan_in()
    raw["kernels"][0]["output"] = "b"
    assert problems(raw)[0] == (
        "kernels[0] 'join': output: is the trigger input 'b'; a kernel cannot write "
        "the stream that triggers it"
    )


def test_seed_signature_still_builds_a_kernel():
    kernel = KernelConfig("k", "cpu.copy", "a", "b")
    assert kernel.trigger_inputs == ("a",) and kernel.all_outputs == ("b",)
    built = KernelConfig("j", "cpu.concatenate", "a", "o", inputs=["a", "b"])
    assert built.inputs == ("a", "b") and built.trigger_inputs == ("a", "b")


def test_graph_edges_of_a_fan_in():
    graph = PipelineGraph(PipelineConfig.from_dict(fan_in()))
    roles = [(e.source, e.target, e.role) for e in graph.edges]
    assert roles == [("a", "join", "input"), ("b", "join", "input:1"),
                     ("join", "out", "output")]
    assert graph.consumers("b") == ("join",)


def test_graph_to_dict_names_every_input_and_the_endpoints():
    raw = fan_in()
    raw["sinks"] = [{"name": "drain", "kind": "null.sink", "stream": "out"}]
    out = PipelineGraph(PipelineConfig.from_dict(raw)).to_dict()
    (kernel,) = out["kernels"]
    assert kernel["input"] == "a" and kernel["inputs"] == ["a", "b"]
    assert kernel["trigger_policy"] == "all_new" and "outputs" not in kernel
    assert out["sinks"] == [{"name": "drain", "kind": "null.sink", "stream": "out",
                             "read_timeout": 1.0, "pause_sleep": 0.01}]
    assert "sources" not in out


def test_describe_names_the_fan_in_and_the_endpoints():
    raw = fan_in()
    raw["sources"] = [{"name": "cams", "kind": "synthetic.frame_set",
                       "streams": ["a", "b"]}]
    raw["sinks"] = [{"name": "drain", "kind": "null.sink", "stream": "out"}]
    text = PipelineGraph(PipelineConfig.from_dict(raw)).describe()
    assert "  1. join [cpu.concatenate] a, b -> out" in text
    assert "Source plugin: cams [synthetic.frame_set] -> a, b" in text
    assert "Sink plugin: drain [null.sink] out" in text
