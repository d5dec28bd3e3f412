"""acme.clipped_gain: found by entry point, computes, rejects bad configs in
shmpipeline's format, and behaves in generated pipelines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shmpipeline.config import KernelConfig, PipelineConfig, SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import validate_pipeline_config
from shmpipeline.kernel import KernelContext
from shmpipeline.registry import get_default_registry
from shmpipeline.testing import strategies as sps

from acme_ao.kernels import ClippedGainKernel

KIND = "acme.clipped_gain"


def streams(dtype="float32"):
    return {
        name: SharedMemoryConfig.from_dict({"name": name, "shape": [3], "dtype": dtype})
        for name in ("x", "y")
    }


def config(**parameters):
    return KernelConfig("gain", KIND, "x", "y", parameters=parameters)


def test_the_entry_point_registers_the_kind():
    registry = get_default_registry()
    assert registry.get(KIND) is ClippedGainKernel
    assert KIND in registry.kinds() and not registry.plugin_errors


def test_compute_scales_and_clips():
    kernel = get_default_registry().create(config(gain=2.0, limit=1.5), streams())
    out = np.empty(3, np.float32)
    kernel.compute_into(np.array([0.25, -1.0, 3.0], np.float32), out, {})
    np.testing.assert_array_equal(out, [0.5, -1.5, 1.5])


@pytest.mark.parametrize(
    ("parameters", "dtype", "message"),
    [
        ({}, "float32", "kernel 'gain': parameters.gain: required real number is missing"),
        ({"gain": "x"}, "float32", "kernel 'gain': parameters.gain: must be a real number"),
        ({"gain": 1, "limit": 0}, "float32", "kernel 'gain': parameters.limit: must be positive"),
        ({"gain": 1, "limit": 1e9}, "float32", "kernel 'gain': parameters.limit: must be <= 1e6"),
        ({"gain": 1, "gian": 2}, "float32", "kernel 'gain': parameters.gian: unknown parameter"),
        ({"gain": 1}, "int32", "kernel 'gain': input: must be a float stream"),
    ],
)
def test_bad_configs_name_the_kernel_and_field(parameters, dtype, message):
    with pytest.raises(ConfigValidationError) as info:
        get_default_registry().validate(config(**parameters), streams(dtype))
    assert message in str(info.value)


# --- property tests with our own kind in the shmpipeline strategies ----------


def gain_builder(slot):
    """Our kind in generated pipelines: a float trigger, same-spec output."""
    return st.tuples(st.floats(-4, 4), st.floats(0.1, 10)).map(
        lambda p: sps.KernelDraft(
            slot.kernel(parameters={"gain": p[0], "limit": p[1]}), slot.output()
        )
    )


BUILDERS = {KIND: sps.KernelBuilder(gain_builder, accepts=lambda s: s.dtype.kind == "f")}


@settings(max_examples=25, deadline=None)
@given(sps.pipeline_configs(kinds=[KIND, "cpu.scale"], kernel_builders=BUILDERS, max_kernels=3))
def test_generated_pipelines_with_our_kind_validate(config):
    assert validate_pipeline_config(config) == []
    assert PipelineConfig.from_dict(config.to_dict()) == config


@settings(max_examples=25, deadline=None)
@given(sps.invalid_pipeline_configs(
    kinds=[KIND], kernel_builders=BUILDERS, max_kernels=2,
    defects=["duplicate_producer", "unknown_kind", "duplicate_kernel_name",
             "trigger_is_output", "missing_field", "bad_shape"],
))
def test_structural_defects_around_our_kind_are_reported(case):
    raw, expected = case
    assert sps.find_error(validate_pipeline_config(raw), expected)


#: our own invalid-parameter cases: (key, bad value, message fragment)
BAD_PARAMETERS = [
    ("gain", "fast", "must be a real number"),
    ("gain", float("nan"), "must be finite"),
    ("limit", -1.0, "must be positive"),
    ("limit", 5e6, "must be <= 1e6"),
]


@st.composite
def invalid_gain_parameters(draw):
    """A generated pipeline with one acme.clipped_gain parameter broken:
    ``(raw, expected fragments)`` in the shape of ``invalid_pipeline_configs``."""
    raw = draw(sps.pipeline_dicts(kinds=[KIND], kernel_builders=BUILDERS, max_kernels=3))
    index = draw(st.sampled_from(
        [i for i, k in enumerate(raw["kernels"]) if k["kind"] == KIND]))
    key, value, message = draw(st.sampled_from(BAD_PARAMETERS))
    kernel = raw["kernels"][index]
    kernel["parameters"] = {**(kernel.get("parameters") or {}), key: value}
    return raw, (f"kernels[{index}] {kernel['name']!r}", f"parameters.{key}:", message)


@settings(max_examples=25, deadline=None)
@given(invalid_gain_parameters())
def test_our_invalid_parameters_are_reported_with_entry_and_field(case):
    raw, expected = case
    assert sps.find_error(validate_pipeline_config(raw), expected)


@settings(max_examples=25, deadline=None)
@given(sps.kernel_configs(KIND, kernel_builders=BUILDERS))
def test_output_is_within_the_limit(setup):
    kernel = get_default_registry().create_from_context(
        KernelContext(setup.config, setup.shared_memory))
    spec = setup.shared_memory[0]
    frame = np.random.default_rng(0).normal(0, 10, spec.shape).astype(spec.dtype)
    out = np.empty(spec.shape, spec.dtype)
    kernel.compute_into(frame, out, {})
    limit = setup.config.parameters["limit"]
    assert np.all(np.abs(out) <= np.float32(limit) * (1 + 1e-6))
