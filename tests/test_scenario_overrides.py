"""Scenario overrides (kernel parameters, stream initial values, endpoint
parameters) and the registry a scenario resolves kinds through."""

from __future__ import annotations

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.kernel import Kernel
from shmpipeline.registry import get_default_registry
from shmpipeline.testing.inline import run_inline
from shmpipeline.testing.runner import check_scenario
from shmpipeline.testing.scenario import Scenario, load_scenario, scenario_hash

PIPELINE = """\
shared_memory:
  - {name: frame, shape: [4], dtype: float32}
  - {name: offset, shape: [4], dtype: float32, initial: {pattern: constant, value: 1.0}}
  - {name: scaled, shape: [4], dtype: float32}
kernels:
  - {name: scale_stage, kind: cpu.scale, input: frame, output: scaled,
     parameters: {factor: 2.0}}
"""


def _write(tmp_path, overrides: str = "", name: str = "s") -> Scenario:
    (tmp_path / "pipe.yaml").write_text(PIPELINE)
    text = (
        f"name: {name}\npipeline: pipe.yaml\nframes: 3\n"
        "inputs:\n  frame: {synthetic: {pattern: constant, offset: 1.0, amplitude: 0.0}}\n"
        + overrides
    )
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return load_scenario(path)


def test_kernel_parameter_override_changes_values_and_hash(tmp_path):
    plain = _write(tmp_path, name="plain")
    changed = _write(
        tmp_path,
        "overrides:\n  kernels: {scale_stage: {parameters: {factor: 3.0}}}\n",
        name="changed",
    )
    assert changed.pipeline.kernels_by_name["scale_stage"].parameters["factor"] == 3.0
    assert scenario_hash(plain) != scenario_hash(changed)
    # the pipeline file itself is untouched
    assert "factor: 2.0" in (tmp_path / "pipe.yaml").read_text()
    before = run_inline(plain).captures["scaled"]
    after = run_inline(changed).captures["scaled"]
    np.testing.assert_array_equal(before, np.full((3, 4), 2.0, np.float32))
    np.testing.assert_array_equal(after, np.full((3, 4), 3.0, np.float32))


def test_stream_initial_override(tmp_path):
    scenario = _write(
        tmp_path,
        "overrides:\n  streams: {offset: {initial: {pattern: constant, value: 5.0}}}\n",
    )
    spec = scenario.pipeline.shared_memory_by_name["offset"]
    assert spec.initial == {"pattern": "constant", "value": 5.0}
    assert scenario_hash(scenario) != scenario_hash(_write(tmp_path, name="other"))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            "overrides:\n  kernels: {scale_stag: {parameters: {factor: 3.0}}}\n",
            "overrides.kernels.scale_stag: the pipeline has no kernel 'scale_stag' "
            "(did you mean 'scale_stage'?)",
        ),
        (
            "overrides:\n  kernels: {scale_stage: {kind: cpu.copy}}\n",
            "overrides.kernels.scale_stage.kind: only 'parameters' can be overridden",
        ),
        ("overrides:\n  knobs: {}\n", "overrides.knobs: unknown section"),
        (
            "overrides:\n  kernels: {scale_stage: {parameters: {factor: fast}}}\n",
            "pipeline (overridden): kernels[0] 'scale_stage': parameters.factor",
        ),
    ],
)
def test_bad_overrides_are_located(tmp_path, overrides, expected):
    with pytest.raises(ScenarioError) as info:
        _write(tmp_path, overrides)
    assert expected in str(info.value)
    assert "\n" not in str(info.value).split(": ", 1)[0]


class _Triple(Kernel):
    """A prototype kernel registered only in this test."""

    kind = "test.triple"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.multiply(trigger_input, 3, out=output)


def _prototype_registry():
    registry = get_default_registry().extended(_Triple)
    return registry


PROTOTYPE = {
    "name": "proto",
    "frames": 2,
    "pipeline": {
        "shared_memory": [
            {"name": "a", "shape": [3], "dtype": "float32"},
            {"name": "b", "shape": [3], "dtype": "float32"},
        ],
        "kernels": [{"name": "t", "kind": "test.triple", "input": "a", "output": "b"}],
    },
    "inputs": {
        "a": {"synthetic": {"pattern": "constant", "offset": 2.0, "amplitude": 0.0}}
    },
}


def test_unknown_kind_is_a_failed_outcome_not_an_exception(tmp_path):
    import yaml

    path = tmp_path / "proto.yaml"
    path.write_text(yaml.safe_dump(PROTOTYPE))
    outcome = check_scenario(path, executor="inline")
    assert outcome.status == "failed"
    assert "test.triple" in outcome.message
    assert "\n" not in outcome.message


def test_prototype_kernel_through_a_registry(tmp_path):
    import yaml

    registry = _prototype_registry()
    path = tmp_path / "proto.yaml"
    path.write_text(yaml.safe_dump(PROTOTYPE))
    outcome = check_scenario(
        path, registry=registry, executor="inline", goldens="update"
    )
    assert outcome.status == "recorded", outcome.message
    np.testing.assert_array_equal(
        outcome.result.captures["b"], np.full((2, 3), 6.0, np.float32)
    )
    again = check_scenario(path, registry=registry, executor="inline")
    assert again.status == "passed", again.message


def test_registry_spec_names_a_registry():
    from shmpipeline.errors import ConfigValidationError
    from shmpipeline.testing.registry_spec import resolve_registry

    assert resolve_registry(None) is None
    assert resolve_registry("shmpipeline.registry:get_default_registry") is (
        get_default_registry()
    )
    with pytest.raises(ConfigValidationError, match="expected MODULE:ATTRIBUTE"):
        resolve_registry("nocolon")
    with pytest.raises(ConfigValidationError, match="cannot import"):
        resolve_registry("no_such_module_xyz:r")
    with pytest.raises(ConfigValidationError, match="not a kernel registry"):
        resolve_registry("shmpipeline.errors:ShmPipelineError")


@pytest.mark.parametrize("value", [5.0, 7.0])
def test_initial_values_reach_both_executors(value):
    """An auxiliary stream starts from its (overridden) ``initial`` value in
    the replay and in the inline executor alike."""
    from shmpipeline.testing.replay import replay

    raw = {
        "name": "i",
        "frames": 2,
        "pipeline": {
            "shared_memory": [
                {"name": "x", "shape": [2], "dtype": "float32"},
                {
                    "name": "off",
                    "shape": [2],
                    "dtype": "float32",
                    "initial": {"pattern": "constant", "value": 5.0},
                },
                {"name": "y", "shape": [2], "dtype": "float32"},
            ],
            "kernels": [
                {
                    "name": "k",
                    "kind": "cpu.custom_operation",
                    "input": "x",
                    "output": "y",
                    "auxiliary": {"o": "off"},
                    "operation": "input + o",
                },
            ],
        },
        "inputs": {
            "x": {"synthetic": {"pattern": "constant", "offset": 1.0, "amplitude": 0.0}}
        },
    }
    if value != 5.0:
        raw["overrides"] = {
            "streams": {"off": {"initial": {"pattern": "constant", "value": value}}}
        }
    scenario = Scenario.from_dict(raw)
    expected = np.full((2, 2), 1.0 + value, np.float32)
    np.testing.assert_array_equal(run_inline(scenario).captures["y"], expected)
    np.testing.assert_array_equal(replay(scenario).captures["y"], expected)
