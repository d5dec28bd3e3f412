"""The strategies with the fan-in kind: pipelines mixing cpu.concatenate
validate and run, round-trip through their raw form, and every defect
injected into them is reported."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shmpipeline.config import PipelineConfig
from shmpipeline.graph import validate_pipeline_config
from shmpipeline.registry import get_default_registry
from shmpipeline.testing import strategies as sps

RELAXED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ["cpu.copy", "cpu.concatenate", "cpu.scale"]


def run(config: PipelineConfig, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    registry = get_default_registry()
    specs = config.shared_memory_by_name
    produced = {k.output for k in config.kernels}
    frames = {
        name: (rng.random(s.shape) * 5).astype(s.dtype)
        for name, s in specs.items()
        if name not in produced
    }
    for kernel_config in config.kernels:
        kernel = registry.create(kernel_config, config.shared_memory)
        out_spec = specs[kernel_config.output]
        out = np.zeros(out_spec.shape, out_spec.dtype)
        triggers = tuple(frames[n] for n in kernel_config.trigger_inputs)
        trigger = triggers if len(triggers) > 1 else triggers[0]
        aux = {b.alias: frames[b.name] for b in kernel_config.auxiliary}
        kernel.compute_into(trigger, out, aux)
        frames[kernel_config.output] = out
    return frames


@settings(RELAXED, max_examples=40)
@given(sps.pipeline_configs(kinds=KINDS, max_kernels=4), st.integers(0, 2**32 - 1))
def test_fan_in_pipelines_validate_and_run(config, seed):
    assert validate_pipeline_config(config) == []
    frames = run(config, seed)
    for kernel in config.kernels:
        if kernel.kind == "cpu.concatenate":
            assert len(kernel.trigger_inputs) >= 2
            axis = kernel.parameters.get("axis", 0)
            expected = np.concatenate([frames[n] for n in kernel.trigger_inputs], axis)
            np.testing.assert_array_equal(frames[kernel.output], expected)


@settings(RELAXED, max_examples=40)
@given(sps.pipeline_dicts(kinds=KINDS, max_kernels=3, paired=True))
def test_fan_in_dicts_round_trip(pair):
    raw, config = pair
    assert validate_pipeline_config(raw) == []
    assert PipelineConfig.from_dict(raw) == config
    assert PipelineConfig.from_dict(config.to_dict()) == config


INVALID = {
    defect: sps.invalid_pipeline_configs(defects=[defect], kinds=KINDS, max_kernels=3)
    for defect in sps.DEFECTS
    if defect != "bad_operation"  # no custom_operation among KINDS
}


@pytest.mark.parametrize("defect", sorted(INVALID))
@settings(RELAXED, max_examples=10)
@given(data=st.data())
def test_defects_in_fan_in_pipelines_are_reported(defect, data):
    raw, expected = data.draw(INVALID[defect])
    errors = validate_pipeline_config(raw)
    assert sps.find_error(errors, expected), (expected, errors)
