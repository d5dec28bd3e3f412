"""PipelineConfig.from_dict: every rule of the config format, with the entry and field
named in the message, every problem collected, and to_dict round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _pipeline_configs import ao_loop, clone, kernel, scale_pipeline, stream

from shmpipeline.config import (
    AuxiliaryBinding,
    KernelConfig,
    PipelineConfig,
    SharedMemoryConfig,
)
from shmpipeline.errors import ConfigValidationError


def problems(data) -> tuple[str, ...]:
    with pytest.raises(ConfigValidationError) as info:
        PipelineConfig.from_dict(data)
    exc = info.value
    assert exc.path is None and exc.line is None
    assert exc.message == exc.errors[0] == str(exc)
    return exc.errors


def only_problem(data) -> str:
    errors = problems(data)
    assert len(errors) == 1, errors
    return errors[0]


def with_stream(index: int, **fields):
    data = scale_pipeline()
    data["shared_memory"][index].update(fields)
    for key, value in list(fields.items()):
        if value is _DROP:
            del data["shared_memory"][index][key]
    return data


def with_kernel(**fields):
    data = scale_pipeline()
    data["kernels"][0].update(fields)
    for key, value in list(fields.items()):
        if value is _DROP:
            del data["kernels"][0][key]
    return data


_DROP = object()
K = "kernels[0] 'scale_stage': "
S0 = "shared_memory[0] 'frame': "


# --- valid input ----------------------------------------------------------------


def test_valid_pipeline_is_normalised():
    config = PipelineConfig.from_dict(scale_pipeline())
    frame, out = config.shared_memory
    assert frame == SharedMemoryConfig("frame", (64, 64), np.dtype("float32"))
    assert isinstance(frame.dtype, np.dtype) and frame.shape == (64, 64)
    assert frame.storage == "cpu" and frame.gpu_device is None
    (stage,) = config.kernels
    assert stage == KernelConfig(
        name="scale_stage",
        kind="cpu.scale",
        input="frame",
        output="out",
        parameters={"factor": 2.0},
    )
    assert stage.read_timeout == 1.0 and stage.pause_sleep == 0.01
    assert config.shared_memory_by_name == {"frame": frame, "out": out}
    assert config.kernels_by_name == {"scale_stage": stage}
    assert config.source_path is None
    assert frame.size == 64 * 64 and frame.nbytes == 64 * 64 * 4


def test_spec_example_loads():
    data = {
        "shared_memory": [
            {"name": "frame", "shape": [64, 64], "dtype": "float32", "storage": "cpu"},
            {"name": "out", "shape": [64, 64], "dtype": "float32"},
            {"name": "gain_map", "shape": [64, 64], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "scale_stage",
                "kind": "cpu.scale",
                "input": "frame",
                "output": "out",
                "auxiliary": ["gain_map"],
                "parameters": {"factor": 2.0},
                "read_timeout": 1.0,
                "pause_sleep": 0.01,
            }
        ],
    }
    (stage,) = PipelineConfig.from_dict(data).kernels
    assert stage.auxiliary == (AuxiliaryBinding("gain_map", "gain_map"),)


def test_auxiliary_forms():
    data = ao_loop()
    config = PipelineConfig.from_dict(data)
    reconstruct = config.kernels[2]
    assert reconstruct.auxiliary_by_alias == {"matrix": "matrix", "offset": "offset"}
    assert reconstruct.all_inputs == ("slopes_flat", "matrix", "offset")
    data["kernels"][2]["auxiliary"] = {"A": "matrix", "b": "offset"}
    reconstruct = PipelineConfig.from_dict(data).kernels[2]
    assert reconstruct.auxiliary_aliases == ("A", "b")
    assert reconstruct.auxiliary_names == ("matrix", "offset")
    data["kernels"][2]["auxiliary"] = ["matrix", "offset"]
    reconstruct = PipelineConfig.from_dict(data).kernels[2]
    assert reconstruct.auxiliary_aliases == ("matrix", "offset")


def test_list_form_keeps_stream_names_that_are_not_identifiers():
    data = scale_pipeline()
    data["shared_memory"].append(stream("gain-map.v2", (64, 64)))
    data["kernels"][0]["auxiliary"] = ["gain-map.v2"]
    (stage,) = PipelineConfig.from_dict(data).kernels
    assert stage.auxiliary_by_alias == {"gain-map.v2": "gain-map.v2"}
    # and the mapping form may spell the same implicit alias
    data["kernels"][0]["auxiliary"] = {"gain-map.v2": "gain-map.v2"}
    assert PipelineConfig.from_dict(data).kernels[0] == stage


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("float32", "float32"),
        ("f4", "float32"),
        ("<f4", "float32"),
        (" float64 ", "float64"),
        ("uint8", "uint8"),
        ("u2", "uint16"),
        ("int64", "int64"),
        ("bool", "bool"),
        ("?", "bool"),
        ("complex64", "complex64"),
        ("float16", "float16"),
        (np.dtype("int32"), "int32"),
        (np.float32, "float32"),
    ],
)
def test_dtype_spellings_accepted(spelling, expected):
    config = PipelineConfig.from_dict(with_stream(0, dtype=spelling))
    assert config.shared_memory[0].dtype == np.dtype(expected)


def test_scalar_shape_is_a_one_tuple():
    config = PipelineConfig.from_dict(with_stream(0, shape=16))
    assert config.shared_memory[0].shape == (16,)
    config = PipelineConfig.from_dict(with_stream(0, shape=(np.int64(3), 4)))
    assert config.shared_memory[0].shape == (3, 4)
    assert all(type(d) is int for d in config.shared_memory[0].shape)


def test_null_optional_fields_mean_default():
    data = with_kernel(
        auxiliary=None,
        operation=None,
        parameters=None,
        read_timeout=None,
        pause_sleep=None,
    )
    data["shared_memory"][0].update(storage=None, gpu_device=None, cpu_mirror=None)
    config = PipelineConfig.from_dict(data)
    assert config.kernels[0].parameters == {}
    assert config.kernels[0].read_timeout == 1.0
    assert config.shared_memory[0].storage == "cpu"


def test_gpu_stream_fields():
    data = with_stream(0, storage="GPU", gpu_device="cuda:1", cpu_mirror=True)
    spec = PipelineConfig.from_dict(data).shared_memory[0]
    assert (spec.storage, spec.gpu_device, spec.cpu_mirror) == ("gpu", "cuda:1", True)
    spec = PipelineConfig.from_dict(with_stream(0, cpu_mirror=False)).shared_memory[0]
    assert spec.cpu_mirror is False


def test_names_and_numbers_are_normalised():
    data = with_kernel(name=" scale_stage ", input=" frame", read_timeout=2)
    stage = PipelineConfig.from_dict(data).kernels[0]
    assert stage.name == "scale_stage" and stage.input == "frame"
    assert stage.read_timeout == 2.0 and type(stage.read_timeout) is float


def test_parameters_are_copied_into_plain_containers():
    nested = {"a": [1, {"b": 2}]}
    stage = PipelineConfig.from_dict(with_kernel(parameters=nested)).kernels[0]
    assert stage.parameters == nested
    nested["a"].append(3)
    assert stage.parameters == {"a": [1, {"b": 2}]}


# --- top level ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], "text", 3, 2.5, True])
def test_top_level_must_be_a_mapping(raw):
    assert only_problem(raw).startswith("pipeline: must be a mapping")


def test_unknown_top_level_key_with_hint():
    data = scale_pipeline()
    data["kernel"] = []
    message = only_problem(data)
    assert message.startswith(
        "pipeline: unknown key 'kernel' (did you mean 'kernels'?)"
    )


def test_empty_endpoint_sections_are_accepted():
    data = scale_pipeline()
    data["sources"] = []
    data["sinks"] = []
    config = PipelineConfig.from_dict(data)
    assert config.sources == () and config.sinks == ()


@pytest.mark.parametrize("section", ["shared_memory", "kernels"])
@pytest.mark.parametrize("value", [_DROP, None, [], {}, "frame", 3])
def test_sections_are_required_non_empty_lists(section, value):
    data = scale_pipeline()
    if value is _DROP:
        del data[section]
    else:
        data[section] = value
    errors = problems(data)
    assert errors[0].startswith(f"{section}: required: a non-empty list")


# --- shared_memory entries --------------------------------------------------------------


def test_stream_entry_must_be_a_mapping():
    data = scale_pipeline()
    data["shared_memory"][1] = ["out", [4], "float32"]
    errors = problems(data)
    assert errors[0].startswith("shared_memory[1]: must be a mapping")


def test_stream_unknown_key_with_hint():
    message = only_problem(with_stream(0, shap=[4]))
    assert message == (
        S0 + "unknown key 'shap' (did you mean 'shape'?); allowed: name, shape, "
        "dtype, storage, gpu_device, cpu_mirror, notify, mode, initial (other keys "
        "are unsupported fields)"
    )


def test_stream_notify_of_the_published_model_is_accepted():
    config = PipelineConfig.from_dict(with_stream(0, notify=True))
    assert config.shared_memory[0].notify is True


def test_published_width_less_float_spellings_mean_float64():
    for spelling in ("float", "double"):
        config = PipelineConfig.from_dict(with_stream(0, dtype=spelling))
        assert config.shared_memory[0].dtype == np.dtype("float64")


def test_integral_float_dimensions_are_integers():
    config = PipelineConfig.from_dict(with_stream(0, shape=[64.0, 64]))
    assert config.shared_memory[0].shape == (64, 64)
    assert type(config.shared_memory[0].shape[0]) is int


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (_DROP, "name: required"),
        (None, "name: required"),
        (3, "name: must be a string, got 3"),
        ("", "name: must not be empty"),
        ("   ", "name: must not be empty"),
    ],
)
def test_stream_name_required_string(value, problem):
    data = with_stream(1, name=value)
    errors = problems(data)
    assert f"shared_memory[1]: {problem}" in errors


@pytest.mark.parametrize("bad", ["a b", "-x", ".x", "a/b", "x" * 129])
def test_stream_name_must_suit_the_stream_layer(bad):
    data = with_stream(0, name=bad)
    data["kernels"][0]["input"] = bad
    message = only_problem(data)
    assert message.startswith(f"shared_memory[0] {bad!r}: name: invalid stream name")


def test_stream_names_unique():
    data = scale_pipeline()
    data["shared_memory"].append(stream("frame", (2,)))
    message = only_problem(data)
    assert message == (
        "shared_memory[2] 'frame': name: duplicate shared memory name "
        "(also shared_memory[0] 'frame')"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([64, 2.7], "dimension 1 must be a positive integer, got 2.7"),
        ([4.5], "dimension 0 must be a positive integer, got 4.5"),
        (["a"], "dimension 0 must be a positive integer, got 'a'"),
        (["64"], "dimension 0 must be a positive integer, got '64'"),
        ([64, 0], "dimension 1 must be a positive integer, got 0"),
        ([-3], "dimension 0 must be a positive integer, got -3"),
        ([True, 4], "dimension 0 must be a positive integer, got True"),
        ([np.bool_(True)], "dimension 0 must be a positive integer"),
        ([[64, 64]], "dimension 0 must be a positive integer, got [64, 64]"),
        ([None], "dimension 0 must be a positive integer, got None"),
        ([], "must have at least one dimension"),
        (0, "dimension 0 must be a positive integer, got 0"),
        (True, "must be a list of positive integers, got True"),
        (2.7, "must be a list of positive integers, got 2.7"),
        ("64x64", "must be a list of positive integers, got '64x64'"),
        ({"rows": 4}, "must be a list of positive integers"),
        (None, "required"),
        (_DROP, "required"),
        ([1] * 33, "has 33 dimensions; at most 32 are supported"),
        ([2**40, 2**40], "too many elements in (1099511627776, 1099511627776)"),
    ],
)
def test_shape_rules(value, problem):
    message = only_problem(with_stream(0, shape=value))
    assert message.startswith(S0 + "shape: " + problem), message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (_DROP, "required"),
        (None, "required"),
        ("int", "'int' has no explicit width (it means 'int64' here)"),
        ("single", "'single' has no explicit width"),
        ("f", "'f' has no explicit width"),
        ("object", "'object' is not a numeric or bool dtype"),
        ("O", "'O' is not a numeric or bool dtype"),
        ("U8", "'U8' is not a numeric or bool dtype"),
        ("S4", "'S4' is not a numeric or bool dtype"),
        ("datetime64[ns]", "'datetime64[ns]' is not a numeric or bool dtype"),
        ("f4,i4", "'f4,i4' is not a numeric or bool dtype"),
        (">f4", "'>f4' has a non-native byte order; use 'float32'"),
        ("nonsense", "'nonsense' is not a NumPy dtype"),
        ("", "'' is not a NumPy dtype"),
        (3, "must be a NumPy dtype name such as 'float32', got 3"),
        (True, "must be a NumPy dtype name such as 'float32', got True"),
        (["float32"], "must be a NumPy dtype name"),
        (float, "must be a NumPy dtype name"),
        (np.dtype(object), "dtype('O') is not a numeric or bool dtype"),
    ],
)
def test_dtype_rules(value, problem):
    message = only_problem(with_stream(0, dtype=value))
    assert message.startswith(S0 + "dtype: " + problem), message


@pytest.mark.parametrize("value", ["tpu", "", 3, True, ["cpu"]])
def test_storage_is_cpu_or_gpu(value):
    message = only_problem(with_stream(0, storage=value))
    assert message.startswith(S0 + "storage: must be 'cpu' or 'gpu', got ")


def test_gpu_device_required_for_gpu():
    message = only_problem(with_stream(0, storage="gpu"))
    assert message == S0 + "gpu_device: required for storage: gpu (e.g. 'cuda:0')"


@pytest.mark.parametrize("storage", [_DROP, "cpu"])
def test_gpu_device_refused_for_cpu(storage):
    data = with_stream(0, gpu_device="cuda:0", storage=storage)
    message = only_problem(data)
    assert message == S0 + "gpu_device: not allowed on a cpu stream (storage: cpu)"


@pytest.mark.parametrize("value", ["gpu0", "cuda:x", "", 0, "cpu"])
def test_gpu_device_format(value):
    message = only_problem(with_stream(0, storage="gpu", gpu_device=value))
    assert message.startswith(S0 + "gpu_device: must be 'cuda' or 'cuda:<index>'")


def test_cpu_mirror_only_for_gpu():
    message = only_problem(with_stream(0, cpu_mirror=True))
    assert message == S0 + "cpu_mirror: only allowed on gpu streams (storage: gpu)"
    data = with_stream(0, storage="gpu", gpu_device="cuda", cpu_mirror="yes")
    message = only_problem(data)
    assert message == S0 + "cpu_mirror: must be true or false, got 'yes'"


# --- kernels ------------------------------------------------------------------------------


def test_kernel_entry_must_be_a_mapping():
    data = scale_pipeline()
    data["kernels"].append("copy")
    assert only_problem(data).startswith("kernels[1]: must be a mapping")


def test_kernel_unknown_key_with_hint():
    message = only_problem(with_kernel(paramters={}))
    assert message.startswith(
        K + "unknown key 'paramters' (did you mean 'parameters'?)"
    )


def test_kernel_poll_interval_of_the_published_model_is_accepted():
    config = PipelineConfig.from_dict(with_kernel(poll_interval=0.001))
    assert config.kernels[0].poll_interval == 0.001


@pytest.mark.parametrize("field", ["kind", "input", "output"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (_DROP, "required"),
        (None, "required"),
        (7, "must be a string, got 7"),
        ("", "must not be empty"),
        ("a\nb", "must be printable text"),
    ],
)
def test_kernel_required_text_fields(field, value, problem):
    errors = problems(with_kernel(**{field: value}))
    assert errors[0].startswith(f"{K}{field}: {problem}"), errors


def test_kernel_name_required():
    errors = problems(with_kernel(name=_DROP))
    assert errors == ("kernels[0]: name: required",)


def test_kernel_names_unique():
    data = scale_pipeline()
    data["shared_memory"].append(stream("other", (2,)))
    data["kernels"].append(kernel("scale_stage", "cpu.copy", "frame", "other"))
    message = only_problem(data)
    assert message == (
        "kernels[1] 'scale_stage': name: duplicate kernel name "
        "(also kernels[0] 'scale_stage')"
    )


def test_unknown_input_names_entry_and_field():
    message = only_problem(with_kernel(input="fram"))
    assert message.startswith(
        "kernels[0] 'scale_stage': input: undefined shared memory 'fram'"
    )
    assert message.endswith("(did you mean 'frame'?)")


def test_unknown_output_and_auxiliary():
    data = with_kernel(output="nowhere", auxiliary={"gain": "gain_mpa"})
    errors = problems(data)
    assert errors == (
        K + "auxiliary.gain: undefined shared memory 'gain_mpa'",
        K + "output: undefined shared memory 'nowhere'",
    )


def test_index_reported_for_later_kernels():
    data = ao_loop()
    data["kernels"][2]["input"] = "slopes_flta"
    message = only_problem(data)
    assert message.startswith(
        "kernels[2] 'reconstruct': input: undefined shared memory 'slopes_flta'"
    )


def test_trigger_is_not_the_output():
    message = only_problem(with_kernel(output="frame"))
    assert message.startswith(K + "output: is the trigger input 'frame'")


def test_trigger_is_not_an_auxiliary():
    message = only_problem(with_kernel(auxiliary={"again": "frame"}))
    assert message == K + "auxiliary.again: stream 'frame' is already the trigger input"
    message = only_problem(with_kernel(auxiliary=["frame"]))
    assert message == K + "auxiliary.frame: stream 'frame' is already the trigger input"


def test_output_is_not_an_auxiliary():
    message = only_problem(with_kernel(auxiliary={"prev": "out"}))
    assert message == K + "auxiliary.prev: stream 'out' is the kernel's own output"


def test_auxiliary_stream_bound_once():
    data = scale_pipeline()
    data["shared_memory"].append(stream("g", (64, 64)))
    data["kernels"][0]["auxiliary"] = {"a": "g", "b": "g"}
    message = only_problem(data)
    assert message == K + "auxiliary.b: stream 'g' is already bound to alias 'a'"


@pytest.mark.parametrize(
    ("aux", "problem"),
    [
        ({"1x": "g"}, "auxiliary.1x: alias '1x' must be a Python identifier"),
        ({"a-b": "g"}, "auxiliary.a-b: alias 'a-b' must be a Python identifier"),
        (
            {"lambda": "g"},
            "auxiliary.lambda: alias 'lambda' must be a Python identifier",
        ),
        ({"input": "g"}, "auxiliary.input: alias 'input' is reserved"),
        ({3: "g"}, "auxiliary: alias 3 must be a non-empty string"),
        ({"g": 3}, "auxiliary.g: must be a string, got 3"),
        ({"g": None}, "auxiliary.g: required"),
        (["g", 3], "auxiliary[1]: must be a string, got 3"),
        ([["g"]], "auxiliary[0]: must be a string, got ['g']"),
        ([{"name": "g", "alias": "gg"}], "auxiliary[0]: must be a string"),
        (
            "g",
            "auxiliary: must be a list of stream names or an {alias: stream} mapping",
        ),
        (5, "auxiliary: must be a list of stream names"),
    ],
)
def test_auxiliary_alias_rules(aux, problem):
    data = scale_pipeline()
    data["shared_memory"].append(stream("g", (64, 64)))
    data["kernels"][0]["auxiliary"] = aux
    message = only_problem(data)
    assert message.startswith(K + problem), message


def test_stream_named_input_needs_an_explicit_alias():
    data = scale_pipeline()
    data["shared_memory"].append(stream("input", (64, 64)))
    data["kernels"][0]["auxiliary"] = ["input"]
    assert only_problem(data).startswith(
        K + "auxiliary.input: alias 'input' is reserved"
    )
    data["kernels"][0]["auxiliary"] = {"reference": "input"}
    PipelineConfig.from_dict(data)


def test_a_stream_has_at_most_one_producer():
    data = scale_pipeline()
    data["shared_memory"].append(stream("frame2", (64, 64)))
    data["kernels"].append(kernel("second", "cpu.copy", "frame2", "out"))
    # a cross-kernel rule: the graph reports it, building the config does not
    config = PipelineConfig.from_dict(data)
    from shmpipeline.graph import PipelineGraph, validate_pipeline_config

    expected = (
        "kernels[1] 'second': output: shared memory 'out' is already produced by "
        "kernels[0] 'scale_stage' (multiple producer kernels); a stream has at "
        "most one producer"
    )
    assert PipelineGraph(config).validation_errors() == [expected]
    assert validate_pipeline_config(data) == [expected]


@pytest.mark.parametrize(
    ("value", "problem"),
    [(3, "must be a string, got 3"), ("  ", "must not be empty"), (["x"], "must be")],
)
def test_operation_is_a_string(value, problem):
    message = only_problem(with_kernel(operation=value))
    assert message.startswith(K + "operation: " + problem)


def test_operation_kept():
    stage = PipelineConfig.from_dict(with_kernel(operation=" input * 2 ")).kernels[0]
    assert stage.operation == "input * 2"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([1, 2], "parameters: must be a mapping, got [1, 2]"),
        ("factor=2", "parameters: must be a mapping"),
        ({1: 2}, "parameters: keys must be strings, got 1"),
        ({None: 2}, "parameters: keys must be strings, got None"),
    ],
)
def test_parameters_mapping_with_string_keys(value, problem):
    message = only_problem(with_kernel(parameters=value))
    assert message.startswith(K + problem)


@pytest.mark.parametrize("field", ["read_timeout", "pause_sleep"])
@pytest.mark.parametrize(
    "value", [0, 0.0, -1, math.nan, math.inf, -math.inf, "0.5", True, [1], 10**400]
)
def test_timings_are_positive_finite_numbers(field, value):
    message = only_problem(with_kernel(**{field: value}))
    assert message.startswith(f"{K}{field}: must be a positive"), message


# --- collection of every problem ------------------------------------------------------------


def test_every_problem_is_reported_in_order():
    data = ao_loop()
    data["extra"] = 1
    data["shared_memory"][1]["shape"] = [4, 2.5, 2]
    data["shared_memory"][3]["dtype"] = "int"
    data["kernels"][0]["input"] = "fram"
    data["kernels"][3]["read_timeout"] = -1
    data["kernels"][4]["output"] = "integrated"
    errors = problems(data)
    assert errors == (
        "pipeline: unknown key 'extra'; allowed: shared_memory, kernels, sources, "
        "sinks, namespace (other keys are unsupported fields)",
        "shared_memory[1] 'slopes': shape: dimension 1 must be a positive integer, got 2.5",
        "shared_memory[3] 'matrix': dtype: 'int' has no explicit width (it means "
        "'int64' here); write 'int64'",
        "kernels[3] 'integrate': read_timeout: must be a positive finite number of "
        "seconds, got -1",
        "kernels[4] 'clip': output: is the trigger input 'integrated'; a kernel cannot "
        "write the stream that triggers it",
        "kernels[0] 'centroid': input: undefined shared memory 'fram' (did you mean "
        "'frame'?)",
    )


def test_invalid_stream_is_still_defined_for_references():
    """A stream entry with a bad dtype does not cascade into 'unknown shared
    memory' errors on the kernels using it."""
    errors = problems(with_stream(0, dtype="nonsense"))
    assert len(errors) == 1 and errors[0].startswith(S0 + "dtype:")


def test_nesting_too_deep_is_a_config_error():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    data = scale_pipeline()
    data["kernels"][0]["parameters"] = {"x": deep}
    with pytest.raises(ConfigValidationError, match="nested too deeply"):
        PipelineConfig.from_dict(data)


def test_self_referencing_parameters_do_not_hang():
    loop: list = []
    loop.append(loop)
    stage = PipelineConfig.from_dict(with_kernel(parameters={"x": loop})).kernels[0]
    assert stage.parameters["x"][0] is stage.parameters["x"]


# --- per-entry from_dict -----------------------------------------------------------------


def test_shared_memory_config_from_dict():
    spec = SharedMemoryConfig.from_dict({"name": "x", "shape": [3], "dtype": "u1"})
    assert spec == SharedMemoryConfig("x", (3,), np.dtype("uint8"))
    with pytest.raises(ConfigValidationError) as info:
        SharedMemoryConfig.from_dict({"name": "x", "shape": [0], "dtype": "u1"})
    assert info.value.message == (
        "shared_memory 'x': shape: dimension 0 must be a positive integer, got 0"
    )
    with pytest.raises(
        ConfigValidationError, match="^shared_memory: must be a mapping"
    ):
        SharedMemoryConfig.from_dict(["x"])


def test_kernel_config_from_dict():
    raw = {"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}
    assert KernelConfig.from_dict(raw) == KernelConfig("k", "cpu.copy", "a", "b")
    with pytest.raises(ConfigValidationError) as info:
        KernelConfig.from_dict({**raw, "output": "a"})
    assert info.value.message.startswith("kernel 'k': output: is the trigger input 'a'")
    with pytest.raises(ConfigValidationError, match="^kernel: must be a mapping"):
        KernelConfig.from_dict(None)


def test_direct_construction_normalises_shape_and_dtype_names():
    spec = SharedMemoryConfig("x", [4, 2], "float32")
    assert spec.shape == (4, 2) and spec.dtype == np.dtype("float32")
    assert SharedMemoryConfig("x", (4,), None).dtype is None  # left alone


# --- to_dict ------------------------------------------------------------------------------


def test_to_dict_round_trip_and_forms():
    data = ao_loop()
    data["shared_memory"].append(
        stream("gpu_frame", (2, 2), storage="gpu", gpu_device="cuda:0", cpu_mirror=True)
    )
    data["kernels"][1]["auxiliary"] = []
    data["kernels"][3]["read_timeout"] = 0.25
    config = PipelineConfig.from_dict(data)
    out = config.to_dict()
    assert PipelineConfig.from_dict(out) == config
    assert out["shared_memory"][0] == {
        "name": "frame",
        "shape": [32, 32],
        "dtype": "float32",
        "storage": "cpu",
    }
    assert out["shared_memory"][-1]["gpu_device"] == "cuda:0"
    assert out["shared_memory"][-1]["cpu_mirror"] is True
    # every alias equals its stream name: written in the list form
    assert out["kernels"][2]["auxiliary"] == ["matrix", "offset"]
    assert "auxiliary" not in out["kernels"][1]
    assert out["kernels"][3]["read_timeout"] == 0.25
    assert out["kernels"][4]["operation"] == "clip(input, -0.5, 0.5)"
    renamed = clone(data)
    renamed["kernels"][2]["auxiliary"] = {"A": "matrix", "b": "offset"}
    config = PipelineConfig.from_dict(renamed)
    assert config.to_dict()["kernels"][2]["auxiliary"] == {"A": "matrix", "b": "offset"}
    listed = clone(data)
    listed["kernels"][2]["auxiliary"] = ["matrix", "offset"]
    config = PipelineConfig.from_dict(listed)
    assert config.to_dict()["kernels"][2]["auxiliary"] == ["matrix", "offset"]
    assert PipelineConfig.from_dict(config.to_dict()) == config


def test_to_dict_is_independent_of_the_config():
    config = PipelineConfig.from_dict(with_kernel(parameters={"factor": [1, 2]}))
    out = config.to_dict()
    out["kernels"][0]["parameters"]["factor"].append(3)
    assert config.kernels[0].parameters == {"factor": [1, 2]}


def test_source_path_is_not_compared():
    from dataclasses import replace
    from pathlib import Path

    config = PipelineConfig.from_dict(scale_pipeline())
    moved = replace(config, source_path=Path("/somewhere/p.yaml"))
    assert moved == config
    assert moved.base_dir == Path("/somewhere")
    assert "source_path" not in moved.to_dict()
