"""One registry everywhere: a prototype kernel kind, never installed,
through check_scenario, the CLI's --registry, the pytest plugin's
--shmpipeline-registry and the run_scenario fixture; user errors come back
as failed outcomes, never as exceptions."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shmpipeline.cli import main
from shmpipeline.testing.runner import check_scenario
from shmpipeline.testing.scenario import Scenario, scenario_hash

pytest_plugins = ["pytester"]

PROTOTYPE_MODULE = """
import numpy as np
from shmpipeline.kernel import Kernel
from shmpipeline.registry import get_default_registry


class Triple(Kernel):
    kind = "proto.triple"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.multiply(trigger_input, 3, out=output)


registry = get_default_registry().extended(Triple)


def make_registry():
    return registry
"""

SCENARIO = {
    "name": "proto",
    "frames": 2,
    "pipeline": {
        "shared_memory": [
            {"name": "a", "shape": [3], "dtype": "float32"},
            {"name": "b", "shape": [3], "dtype": "float32"},
        ],
        "kernels": [{"name": "t", "kind": "proto.triple", "input": "a", "output": "b"}],
    },
    "inputs": {
        "a": {"synthetic": {"pattern": "constant", "offset": 2.0, "amplitude": 0.0}}
    },
}


@pytest.fixture
def prototype(tmp_path, monkeypatch):
    """A module ``protomod`` holding a registry with ``proto.triple``."""
    (tmp_path / "protomod.py").write_text(PROTOTYPE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    scenario = tmp_path / "scenarios" / "proto.yaml"
    scenario.parent.mkdir()
    scenario.write_text(yaml.safe_dump(SCENARIO))
    return scenario


def test_cli_registry_option(prototype, capsys):
    args = ["scenario", "record", str(prototype), "--executor", "inline"]
    assert main(args) != 0  # the default registry has no proto.triple
    out = capsys.readouterr()
    assert "proto.triple" in out.out + out.err
    assert main([*args, "--registry", "protomod:registry"]) == 0
    assert (
        main(
            [
                "scenario",
                "run",
                str(prototype),
                "--executor",
                "inline",
                "--registry",
                "protomod:make_registry",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "scenario",
                "list",
                str(prototype.parent),
                "--registry",
                "protomod:registry",
            ]
        )
        == 0
    )
    assert main(["scenario", "list", str(prototype.parent), "--registry", "nope"]) != 0
    assert "expected MODULE:ATTRIBUTE" in capsys.readouterr().err


def test_a_runtime_kind_error_is_a_failed_outcome(prototype):
    import protomod

    scenario = Scenario.from_dict(SCENARIO, registry=protomod.registry)
    # run against the default registry, which lacks the kind
    outcome = check_scenario(scenario, executor="inline")
    assert outcome.status == "failed"
    assert "proto.triple" in outcome.message and "\n" not in outcome.message
    good = check_scenario(
        scenario, registry=protomod.registry, executor="inline", goldens="update"
    )
    assert good.status == "failed"  # built from a mapping: no golden path
    assert "no golden file" in good.message


def test_plugin_registry_option_and_fixture(pytester, prototype):
    pytester.syspathinsert(prototype.parent.parent)
    target = pytester.path / "proto.yaml"
    target.write_text(prototype.read_text())
    pytester.makepyfile(
        test_proto=textwrap.dedent(
            """
            import numpy as np
            import protomod

            def test_prototype(run_scenario):
                outcome = run_scenario("proto", update_goldens=True)
                assert outcome.status in ("recorded", "unchanged")
                np.testing.assert_array_equal(
                    outcome.result.captures["b"], np.full((2, 3), 6.0, np.float32)
                )

            def test_explicit_registry(run_scenario):
                outcome = run_scenario("proto", registry=protomod.registry)
                assert outcome.status == "passed", outcome.message
            """
        )
    )
    common = (
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        "--scenario-executor",
        "inline",
        "--scenario-dir",
        ".",
    )
    result = pytester.runpytest_inprocess(
        *common, "--shmpipeline-registry", "protomod:registry", "test_proto.py"
    )
    result.assert_outcomes(passed=2)
    result = pytester.runpytest_inprocess(
        *common, "--shmpipeline-registry", "protomod:registry", "proto.yaml"
    )
    result.assert_outcomes(passed=1)
    result = pytester.runpytest_inprocess(
        *common, "--shmpipeline-registry", "nocolon", "proto.yaml", "test_proto.py"
    )
    text = result.stdout.str()
    assert "registry 'nocolon': expected MODULE:ATTRIBUTE" in text
    assert "Traceback" not in text
    assert result.ret != 0
    # without the registry the scenario file does not load: a collection error
    result = pytester.runpytest_inprocess(*common, "proto.yaml")
    assert "proto.triple" in result.stdout.str()
    assert result.ret != 0


@settings(max_examples=15, deadline=None, derandomize=True)
@given(factor=st.floats(-8, 8, allow_nan=False, width=32))
@example(factor=2.0)
def test_parameter_overrides_take_effect_and_are_hashed(factor):
    from shmpipeline.testing.inline import run_inline

    base = {
        "name": "s",
        "frames": 2,
        "pipeline": {
            "shared_memory": [
                {"name": "x", "shape": [2], "dtype": "float32"},
                {"name": "y", "shape": [2], "dtype": "float32"},
            ],
            "kernels": [
                {
                    "name": "k",
                    "kind": "cpu.scale",
                    "input": "x",
                    "output": "y",
                    "parameters": {"factor": 2.0},
                },
            ],
        },
        "inputs": {
            "x": {"synthetic": {"pattern": "constant", "offset": 1.0, "amplitude": 0.0}}
        },
    }
    changed = Scenario.from_dict(
        {**base, "overrides": {"kernels": {"k": {"parameters": {"factor": factor}}}}}
    )
    plain = Scenario.from_dict(base)
    assert (scenario_hash(changed) == scenario_hash(plain)) == (factor == 2.0)
    np.testing.assert_array_equal(
        run_inline(changed).captures["y"], np.full((2, 2), factor, np.float32)
    )


def test_endpoint_parameter_overrides_are_hashed(tmp_path):
    pipeline = {
        "shared_memory": [
            {"name": "x", "shape": [2], "dtype": "float32"},
            {"name": "y", "shape": [2], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "k",
                "kind": "cpu.scale",
                "input": "x",
                "output": "y",
                "parameters": {"factor": 2.0},
            }
        ],
        "sources": [
            {
                "name": "cam",
                "kind": "acme.camera",
                "stream": "x",
                "parameters": {"gain": 1},
            }
        ],
        "sinks": [{"name": "out", "kind": "null.sink", "stream": "y"}],
    }
    raw = {
        "name": "e",
        "frames": 2,
        "pipeline": pipeline,
        "inputs": {"cam": {"synthetic": "random"}},
    }
    plain = Scenario.from_dict(raw)
    source = Scenario.from_dict(
        {**raw, "overrides": {"sources": {"cam": {"parameters": {"gain": 4}}}}}
    )
    sink = Scenario.from_dict(
        {
            **raw,
            "overrides": {"sinks": {"out": {"parameters": {"device_delay_s": 0.0}}}},
        }
    )
    assert source.endpoint_document["sources"][0]["parameters"] == {"gain": 4}
    assert len({scenario_hash(s) for s in (plain, source, sink)}) == 3
    ran = Scenario.from_dict({**raw, "endpoints": {"out": "run"}})
    assert ran.endpoints == {"cam": "replaced", "out": "run"}
    assert scenario_hash(ran) != scenario_hash(plain)
