"""Properties of the public Hypothesis strategies (shmpipeline.testing.strategies):
valid pipelines validate and run, invalid ones fail with their expected error,
raw mappings round-trip, and a downstream registry/kind joins in."""

from __future__ import annotations

import ast
import keyword
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from shmpipeline.config import PipelineConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import PipelineGraph, validate_pipeline_config
from shmpipeline.kernel import Kernel
from shmpipeline.registry import get_default_registry
from shmpipeline.testing import strategies as sps

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
SEEDS = st.integers(0, 2**32 - 1)

# defects caught while parsing the mapping (the rest by the kernel's rules)
# found by the graph layer (validate_pipeline_config), not by from_dict
GRAPH_DEFECTS = {"duplicate_producer"}
PARSE_DEFECTS = {
    "undefined_stream",
    "unknown_key",
    "bad_shape",
    "bad_dtype",
    "duplicate_stream_name",
    "duplicate_kernel_name",
    "gpu_device_on_cpu",
    "bad_storage",
    "trigger_is_output",
    "auxiliary_is_trigger",
    "missing_field",
    "bad_timing",
    "empty_section",
}
KERNEL_DEFECTS = set(sps.DEFECTS) - PARSE_DEFECTS - GRAPH_DEFECTS


# --- helpers -----------------------------------------------------------------------


def random_frame(spec: SharedMemoryConfig, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return (rng.standard_normal(spec.shape) * 2).astype(dtype)
    low = 0 if dtype.kind == "u" else -3
    return rng.integers(low, 4, size=spec.shape).astype(dtype)


def run_pipeline(config: PipelineConfig, registry, seed: int) -> dict[str, np.ndarray]:
    """Step every kernel once in config (= topological) order on random
    source frames; return every stream's frame."""
    rng = np.random.default_rng(seed)
    specs = config.shared_memory_by_name
    produced = {k.output for k in config.kernels}
    frames = {
        name: random_frame(spec, rng)
        for name, spec in specs.items()
        if name not in produced
    }
    for kernel_config in config.kernels:
        kernel = registry.create(kernel_config, config.shared_memory)
        spec = specs[kernel_config.output]
        output = np.zeros(spec.shape, spec.dtype)
        auxiliary = {b.alias: frames[b.name] for b in kernel_config.auxiliary}
        triggers = tuple(frames[name] for name in kernel_config.trigger_inputs)
        trigger = triggers if len(triggers) > 1 else triggers[0]
        with np.errstate(all="ignore"):
            kernel.compute_into(trigger, output, auxiliary)
        assert output.shape == tuple(spec.shape) and output.dtype == spec.dtype
        frames[kernel_config.output] = output
    return frames


_BINARY = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
    ast.MatMult: np.matmul,
}
_COMPARE = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}
_UNARY_FUNCS = {"abs": np.absolute, "sqrt": np.sqrt, "exp": np.exp, "log": np.log}


def reference_expression(expression: str, names: dict[str, np.ndarray]):
    """Independent NumPy evaluation of a custom_operation expression (Python
    literals stay weak scalars, as in the kernel's language)."""

    def ev(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return names[node.id]
        if isinstance(node, ast.UnaryOp):
            value = ev(node.operand)
            if isinstance(value, (int, float)):
                return -value if isinstance(node.op, ast.USub) else value
            return np.negative(value) if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.Compare):
            (op,), (right,) = node.ops, node.comparators
            return _COMPARE[type(op)](ev(node.left), ev(right))
        assert isinstance(node, ast.Call), ast.dump(node)
        name, args = node.func.id, [ev(arg) for arg in node.args]
        if name in _UNARY_FUNCS:
            return _UNARY_FUNCS[name](args[0])
        if name in ("min", "minimum", "max", "maximum"):
            func = np.minimum if name.startswith("min") else np.maximum
            result = func(args[0], args[1])
            for arg in args[2:]:
                result = func(result, arg)
            return result
        if name == "clip":
            return np.minimum(np.maximum(args[0], args[1]), args[2])
        assert name == "where"
        return np.where(*args)

    return np.asarray(ev(ast.parse(expression, mode="eval").body))


# --- streams -------------------------------------------------------------------------


@settings(RELAXED, max_examples=60)
@given(sps.stream_configs(max_dims=2, max_side=5))
def test_stream_configs_are_valid_specs(spec):
    assert spec.name.isidentifier() and not keyword.iskeyword(spec.name)
    assert 1 <= len(spec.shape) <= 2 and all(1 <= n <= 5 for n in spec.shape)
    assert spec.dtype.name in sps.DEFAULT_DTYPES and spec.storage == "cpu"
    assert SharedMemoryConfig.from_dict(spec.to_dict()) == spec


def test_stream_configs_take_fixed_values():
    spec = find(
        sps.stream_configs(name="frame", shape=(4, 4), dtypes=["uint8"]),
        lambda s: True,
        settings=settings(derandomize=True, database=None),
    )
    assert spec == SharedMemoryConfig("frame", (4, 4), np.dtype("uint8"))


# --- one kernel per built-in kind -------------------------------------------------------

BUILTIN_KINDS = sorted(sps.BUILTIN_BUILDERS)


@pytest.mark.parametrize("kind", BUILTIN_KINDS)
@settings(RELAXED, max_examples=20)
@given(data=st.data(), seed=SEEDS)
def test_kernel_configs_validate_build_and_run(kind, data, seed):
    registry = get_default_registry()
    setup = data.draw(sps.kernel_configs(kind))
    config, streams = setup
    assert config.kind == kind
    names = [s.name for s in streams]
    assert len(set(names)) == len(names)
    assert names[0] == config.input and names[-1] == config.output
    # between them: the auxiliaries and a fan-in's other trigger inputs
    assert set(names[1:-1]) == set(config.all_inputs) - {config.input}
    pipeline = PipelineConfig(shared_memory=streams, kernels=(config,))
    assert validate_pipeline_config(pipeline) == []
    if kind == "cpu.raise_error":
        with pytest.raises(RuntimeError, match=config.parameters["message"]):
            run_pipeline(pipeline, registry, seed)
        return
    first = run_pipeline(pipeline, registry, seed)
    again = run_pipeline(pipeline, registry, seed)
    # a fresh kernel on the same frame computes the same bits
    assert first[config.output].tobytes() == again[config.output].tobytes()


@settings(RELAXED, max_examples=80)
@given(sps.kernel_configs("cpu.custom_operation"), SEEDS)
def test_custom_operation_expressions_match_numpy(setup, seed):
    config, streams = setup
    pipeline = PipelineConfig(shared_memory=streams, kernels=(config,))
    frames = run_pipeline(pipeline, get_default_registry(), seed)
    names = {"input": frames[config.input]}
    names.update({b.alias: frames[b.name] for b in config.auxiliary})
    with np.errstate(all="ignore"):
        expected = reference_expression(config.operation, names)
    result = frames[config.output]
    assert expected.shape == result.shape and expected.dtype == result.dtype
    if result.dtype.kind == "f":
        rtol = {2: 1e-3, 4: 1e-5}.get(result.dtype.itemsize, 1e-12)
        np.testing.assert_allclose(result, expected, rtol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(result, expected)


# --- valid pipelines ------------------------------------------------------------------------


@settings(RELAXED, max_examples=80)
@given(sps.pipeline_configs(max_kernels=6), SEEDS)
def test_pipeline_configs_validate_and_run(config, seed):
    registry = get_default_registry()
    assert validate_pipeline_config(config) == []
    assert 1 <= len(config.kernels) <= 6
    assert all(k.kind != "cpu.raise_error" for k in config.kernels)
    # built in topological order: inputs are sources or earlier outputs
    produced = {k.output for k in config.kernels}
    ready = {s.name for s in config.shared_memory} - produced
    for kernel in config.kernels:
        assert set(kernel.all_inputs) <= ready
        assert kernel.output not in ready
        ready.add(kernel.output)
    graph = PipelineGraph(config)
    assert graph.topological_order() == tuple(k.name for k in config.kernels)
    assert graph.cycles() == ()
    assert graph.orphaned_streams() == ()
    frames = run_pipeline(config, registry, seed)
    assert set(frames) == {s.name for s in config.shared_memory}


def test_pipeline_failures_shrink_to_chains_of_copies():
    # min_kernels=3: every draw satisfies the condition, so find cannot give
    # up; the shrinker still has to reach the simplest three-kernel pipeline.
    config = find(
        sps.pipeline_configs(min_kernels=3),
        lambda c: len(c.kernels) >= 3,
        settings=settings(RELAXED, derandomize=True, database=None),
    )
    assert [k.kind for k in config.kernels] == ["cpu.copy"] * 3
    assert [k.input for k in config.kernels] == ["in0", "k0_out", "k1_out"]
    assert len(config.shared_memory) == 4


@settings(RELAXED, max_examples=60)
@given(sps.pipeline_dicts(max_kernels=4, paired=True))
def test_pipeline_dicts_round_trip(pair):
    raw, config = pair
    assert validate_pipeline_config(raw) == []
    assert PipelineConfig.from_dict(raw) == config
    assert PipelineConfig.from_dict(config.to_dict()) == config
    assert PipelineConfig.from_dict(config.to_dict()).to_dict() == config.to_dict()


@settings(RELAXED, max_examples=20)
@given(sps.pipeline_dicts(max_kernels=3, paired=True))
def test_pipeline_dicts_load_from_yaml(pair):
    raw, config = pair
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "pipeline.yaml")
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        assert PipelineConfig.from_yaml(path) == config
        assert validate_pipeline_config(path) == []


# --- invalid pipelines -------------------------------------------------------------------------

INVALID = {
    defect: sps.invalid_pipeline_configs(defects=[defect]) for defect in sps.DEFECTS
}


@pytest.mark.parametrize("defect", sps.DEFECTS)
@settings(RELAXED, max_examples=15)
@given(data=st.data())
def test_invalid_pipelines_fail_with_their_expected_error(defect, data):
    raw, expected = data.draw(INVALID[defect])
    assert expected and all(isinstance(f, str) and f for f in expected)
    errors = validate_pipeline_config(raw)
    assert sps.find_error(errors, expected), (expected, errors)
    if defect in PARSE_DEFECTS:
        with pytest.raises(ConfigValidationError) as info:
            PipelineConfig.from_dict(raw)
        assert sps.find_error(info.value.errors, expected), info.value.errors
        return
    if defect in GRAPH_DEFECTS:
        config = PipelineConfig.from_dict(raw)
        assert sps.find_error(PipelineGraph(config).validation_errors(), expected)
        return
    # the mapping is well-formed; a kernel's own rules reject it
    config = PipelineConfig.from_dict(raw)
    assert sps.find_error(validate_pipeline_config(config), expected)
    registry = get_default_registry()
    with pytest.raises(ConfigValidationError):
        for kernel in config.kernels:
            registry.create(kernel, config.shared_memory)


@settings(RELAXED, max_examples=30)
@given(sps.invalid_pipeline_configs(max_kernels=3))
def test_invalid_pipelines_from_yaml_name_file_line_entry_and_field(case):
    raw, expected = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "broken.yaml")
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        errors = validate_pipeline_config(path)
        message = sps.find_error(errors, expected)
        assert message is not None, (expected, errors)
        assert message.startswith(f"{path}:")
        try:
            PipelineConfig.from_yaml(path)
        except ConfigValidationError as exc:
            assert exc.path == str(path) and isinstance(exc.line, int)
            assert all(line.startswith(f"{path}:") for line in exc.errors)


def test_invalid_pipelines_cover_the_required_defects():
    required = {
        "undefined_stream",
        "duplicate_producer",
        "shape_mismatch",
        "dtype_mismatch",
        "bad_parameter",
        "unknown_key",
        "bad_shape",
        "unknown_kind",
        "duplicate_stream_name",
        "duplicate_kernel_name",
        "bad_dtype",
        "gpu_device_on_cpu",
        "trigger_is_output",
    }
    assert required <= set(sps.DEFECTS)
    with pytest.raises(InvalidArgument, match="unknown defects"):
        sps.invalid_pipeline_configs(defects=["no_such_defect"])


def test_bad_shape_literals_of_the_spec_are_injected():
    for literal in (2.7, "a", 0, True, -1):
        assert any(
            type(value) is type(literal) and value == literal
            for value in sps.BAD_SHAPES
        ), literal


def test_find_error():
    messages = ["kernels[0] 'a': input: unknown", "kernels[1] 'b': output: shape"]
    assert sps.find_error(messages, ("kernels[1]", "shape")) == messages[1]
    assert sps.find_error(messages, "kernels[0] 'a'") == messages[0]
    assert sps.find_error(messages, ("kernels[0]", "shape")) is None


# --- a downstream kind in a custom registry ---------------------------------------------------


class GainKernel(Kernel):
    """A downstream kernel: out = gain * in on floating streams."""

    kind = "test.gain"
    storage = "cpu"
    auxiliary_arity = 0
    parameter_names = frozenset({"gain"})
    accepts_operation = False

    @classmethod
    def validate_config(cls, config, shared_memory) -> None:
        super().validate_config(config, shared_memory)
        source, target = shared_memory[config.input], shared_memory[config.output]
        if source.dtype.kind != "f" or (source.shape, source.dtype) != (
            target.shape,
            target.dtype,
        ):
            raise ConfigValidationError(
                f"kernel {config.name!r}: output: must match the floating input"
            )
        gain = config.parameters.get("gain")
        if not isinstance(gain, float) or not math.isfinite(gain):
            raise ConfigValidationError(
                f"kernel {config.name!r}: parameters.gain: must be a finite float"
            )

    def __init__(self, context) -> None:
        super().__init__(context)
        self.gain = context.config.parameters["gain"]

    def compute_into(self, trigger_input, output, auxiliary_inputs) -> None:
        np.multiply(trigger_input, self.gain, out=output)


REGISTRY = get_default_registry().extended(GainKernel)


def gain_builder(slot: sps.KernelSlot):
    return st.floats(-2.0, 2.0).map(
        lambda gain: sps.KernelDraft(
            slot.kernel(parameters={"gain": gain}), slot.output()
        )
    )


GAIN = sps.KernelBuilder(gain_builder, accepts=lambda s: s.dtype.kind == "f")
BUILDERS = {"test.gain": GAIN}


@settings(RELAXED, max_examples=40)
@given(
    sps.pipeline_configs(
        kinds=["cpu.copy", "test.gain", "cpu.scale", "cpu.custom_operation"],
        registry=REGISTRY,
        kernel_builders=BUILDERS,
    ),
    SEEDS,
)
def test_custom_kind_joins_pipelines(config, seed):
    assert validate_pipeline_config(config, registry=REGISTRY) == []
    frames = run_pipeline(config, REGISTRY, seed)
    for kernel in config.kernels:
        if kernel.kind == "test.gain":
            expected = frames[kernel.input] * kernel.parameters["gain"]
            np.testing.assert_allclose(frames[kernel.output], expected, rtol=1e-6)
    if any(k.kind == "test.gain" for k in config.kernels):
        # the default registry does not know the downstream kind
        assert sps.find_error(
            validate_pipeline_config(config), "unknown kernel kind 'test.gain'"
        )


# Excluding every built-in kind leaves only the builders' kinds in the default
# set, so every drawn kernel must be one of them: no search that could miss.
@settings(RELAXED, max_examples=10, derandomize=True, database=None)
@given(
    sps.pipeline_configs(
        registry=REGISTRY,
        kernel_builders=BUILDERS,
        exclude=tuple(sps.BUILTIN_BUILDERS),
        dtypes=["float32", "float64"],
    )
)
def test_default_kinds_include_the_kernel_builders_kinds(config):
    assert {k.kind for k in config.kernels} == {"test.gain"}
    assert validate_pipeline_config(config, registry=REGISTRY) == []


@settings(RELAXED, max_examples=20)
@given(
    sps.kernel_configs(
        "test.gain",
        registry=REGISTRY,
        kernel_builders={"test.gain": gain_builder},  # a plain callable
        dtypes=["float32", "float64"],
    )
)
def test_kernel_configs_of_a_custom_kind(setup):
    REGISTRY.validate(setup.config, setup.shared_memory)
    assert setup.config.kind == "test.gain"


@settings(RELAXED, max_examples=40)
@given(
    sps.invalid_pipeline_configs(
        kinds=["test.gain"], registry=REGISTRY, kernel_builders=BUILDERS
    )
)
def test_invalid_pipelines_with_a_custom_kind(case):
    raw, expected = case
    assert sps.find_error(validate_pipeline_config(raw, registry=REGISTRY), expected)


def test_kinds_must_be_known_and_have_a_builder():
    with pytest.raises(InvalidArgument, match="not in the registry"):
        sps.pipeline_configs(kinds=["test.gain"], kernel_builders=BUILDERS)
    with pytest.raises(InvalidArgument, match="kernel_builders"):
        sps.pipeline_configs(kinds=["test.gain"], registry=REGISTRY)
    with pytest.raises(InvalidArgument, match="kernel_builders"):
        sps.kernel_configs("gpu.scale")


def test_importing_the_harness_does_not_import_hypothesis():
    code = (
        "import sys, shmpipeline, shmpipeline.testing; "
        "assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
