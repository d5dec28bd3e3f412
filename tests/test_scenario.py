"""Scenario files: loading, defaults, validation messages with file:line,
lookup by name, and the scenario hash."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ScenarioError
from shmpipeline.testing.scenario import (
    ExpectedFailure,
    Scenario,
    StaticInput,
    SyntheticInput,
    Tolerance,
    find_scenarios,
    load_scenario,
    resolve_scenario,
    scenario_from_config,
    scenario_hash,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "scenarios"

PIPELINE = {
    "shared_memory": [
        {"name": "frame", "shape": [4, 4], "dtype": "float32"},
        {"name": "gain", "shape": [4, 4], "dtype": "float32"},
        {"name": "mid", "shape": [4, 4], "dtype": "float32"},
        {"name": "out", "shape": [4, 4], "dtype": "float32"},
    ],
    "kernels": [
        {
            "name": "mul",
            "kind": "cpu.elementwise_multiply",
            "input": "frame",
            "output": "mid",
            "auxiliary": ["gain"],
        },
        {
            "name": "scale",
            "kind": "cpu.scale",
            "input": "mid",
            "output": "out",
            "parameters": {"factor": 2.0},
        },
    ],
}


def write(tmp_path: Path, text: str, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def base(**extra) -> dict:
    data = {
        "pipeline": PIPELINE,
        "inputs": {"frame": {"synthetic": {"pattern": "ramp"}}},
    }
    data.update(extra)
    return data


def dump(tmp_path: Path, data: dict, name: str = "case.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- loading and defaults ----------------------------------------------------------------


def test_minimal_scenario_defaults(tmp_path):
    scenario = load_scenario(dump(tmp_path, base()))
    assert scenario.name == "case"  # the file stem
    assert scenario.seed == 0 and scenario.frames == 20
    assert scenario.mode == "lockstep" and scenario.timeout == 10.0
    assert scenario.capture == ("out",)  # the sink
    assert scenario.golden == (tmp_path / "case.golden.npz").resolve()
    assert scenario.expect_failure is None and scenario.requirements == ()
    assert scenario.tolerances.for_stream("out") == Tolerance()
    (spec,) = scenario.inputs
    assert isinstance(spec, SyntheticInput) and spec.stream == "frame"
    assert spec.config.pattern == "ramp"
    assert scenario.path == (tmp_path / "case.yaml").resolve()
    assert isinstance(scenario.pipeline, PipelineConfig)


def test_every_field(tmp_path):
    np.save(tmp_path / "gain.npy", np.full((4, 4), 3, np.float32))
    data = base(
        name="full",
        description="all the fields",
        seed=5,
        frames=7,
        capture=["mid", "out"],
        golden="goldens/full.npz",
        tolerances={
            "default": {"rtol": 1e-6, "atol": 0},
            "streams": {"mid": {"ulp": 2}},
        },
        expect_failure={"kernel": "scale", "error": "boom"},
        requirements=["gpu"],
        timeout=3,
    )
    data["inputs"]["gain"] = {"file": "gain.npy"}
    scenario = load_scenario(dump(tmp_path, data))
    assert scenario.name == "full" and scenario.description == "all the fields"
    assert (scenario.seed, scenario.frames, scenario.timeout) == (5, 7, 3.0)
    assert scenario.capture == ("mid", "out")
    assert scenario.golden == (tmp_path / "goldens" / "full.npz").resolve()
    assert scenario.tolerances.for_stream("out") == Tolerance(rtol=1e-6, atol=0.0)
    assert scenario.tolerances.for_stream("mid") == Tolerance(ulp=2)
    assert scenario.expect_failure == ExpectedFailure("scale", "boom")
    assert scenario.requirements == ("gpu",)
    gain = scenario.inputs_by_stream["gain"]
    assert isinstance(gain, StaticInput) and not gain.per_frame
    np.testing.assert_array_equal(gain.value, np.full((4, 4), 3, np.float32))
    with pytest.raises(ValueError):
        gain.value[0, 0] = 1  # frozen: read-only


def test_pipeline_from_a_relative_path(tmp_path):
    (tmp_path / "pipes").mkdir()
    (tmp_path / "pipes" / "p.yaml").write_text(yaml.safe_dump(PIPELINE))
    (tmp_path / "sc").mkdir()
    path = dump(tmp_path / "sc", base(pipeline="../pipes/p.yaml"))
    with pytest.raises(ScenarioError, match="resolves outside"):
        load_scenario(path)
    scenario = load_scenario(path, allow_outside_paths=True)
    assert scenario.pipeline_path == (tmp_path / "pipes" / "p.yaml").resolve()
    assert [k.name for k in scenario.pipeline.kernels] == ["mul", "scale"]


def test_constant_broadcasts_and_casts(tmp_path):
    data = base()
    data["inputs"]["gain"] = {"constant": [1, 2, 3, 4]}
    scenario = load_scenario(dump(tmp_path, data))
    value = scenario.inputs_by_stream["gain"].value
    assert value.dtype == np.float32 and value.shape == (4, 4)
    np.testing.assert_array_equal(
        value, np.tile(np.arange(1, 5, dtype=np.float32), (4, 1))
    )


def test_synthetic_seed_is_derived_per_stream_and_overridable(tmp_path):
    data = base(seed=9)
    data["inputs"]["gain"] = {"synthetic": {"pattern": "random"}}
    first = load_scenario(dump(tmp_path, data))
    again = load_scenario(dump(tmp_path, data, "again.yaml"))
    seeds = {s.stream: s.config.seed for s in first.inputs}
    assert seeds == {s.stream: s.config.seed for s in again.inputs}
    assert seeds["frame"] != seeds["gain"]
    data["inputs"]["gain"] = {"synthetic": {"pattern": "random", "seed": 42}}
    explicit = load_scenario(dump(tmp_path, data, "explicit.yaml"))
    assert explicit.inputs_by_stream["gain"].config.seed == 42


def test_free_running_frame_count(tmp_path):
    scenario = load_scenario(
        dump(tmp_path, base(mode="free_running", rate_hz=200, duration=0.25))
    )
    assert scenario.mode == "free_running" and scenario.frame_count == 50


def test_shipped_scenarios_load():
    """Every shipped scenario loads, or (gpu_affine without torch) says which
    requirement is unmet here instead of being invalid."""
    from shmpipeline.testing.requirements import torch_installed, unmet_for_file

    names = set()
    for path in find_scenarios([SHIPPED]):
        unmet = unmet_for_file(path, probe_gpu=False)
        if unmet:
            assert path.stem == "gpu_affine" and not torch_installed()
            assert [u.need for u in unmet] == ["torch"]
            assert "needs PyTorch" in unmet[0].format()
            names.add(path.stem)
            continue
        names.add(load_scenario(path).name)
    assert {
        "ao_loop_synthetic",
        "ao_closed_loop",
        "fault_raise_error",
        "dropped_stuck_frames",
        "gpu_affine",
    } <= names


# --- validation -----------------------------------------------------------------------------

ERRORS = [
    # (yaml text, expected line, expected fragments)
    ("frames: 0\n", 1, ["frames: must be an integer >= 1"]),
    ("frames: 2.5\n", 1, ["frames: must be an integer"]),
    ("seed: -1\n", 1, ["seed: must be an integer >= 0"]),
    ("mode: fast\n", 1, ["mode: must be one of lockstep, free_running"]),
    ("mode: free_running\n", 1, ["needs rate_hz"]),
    # an explicit null is as absent as a missing key (it once crashed frame_count)
    ("mode: free_running\nrate_hz: null\n", 1, ["needs rate_hz"]),
    ("rate_hz: 10\n", 1, ["rate_hz: only meaningful with mode: free_running"]),
    ("requirements: [tpu]\n", 1, ["requirements[0]: unknown requirement 'tpu'"]),
    ("captur: [out]\n", 1, ["unknown key", "did you mean 'capture'"]),
    ("capture: [ot]\n", 1, ["capture[0]: unknown stream 'ot'", "did you mean 'out'"]),
    ("capture: [out, out]\n", 1, ["capture[1]: 'out' listed twice"]),
    ("timeout: 0\n", 1, ["timeout: must be a positive number"]),
    ("name: 'two words'\n", 1, ["name: must be a name"]),
    ("golden: 3\n", 1, ["golden: must be a file path"]),
    (
        "expect_failure: {kernel: nope}\n",
        1,
        ["expect_failure.kernel: unknown kernel 'nope'", "kernels: mul, scale"],
    ),
    (
        "tolerances: {default: {rtol: -1}}\n",
        1,
        ["tolerances.default.rtol: must be a non-negative number"],
    ),
    (
        "tolerances: {streams: {out: {ulp: 1, atol: 1}}}\n",
        1,
        ["tolerances.streams.out: use either rtol/atol or ulp"],
    ),
    (
        "tolerances: {streams: {nope: {ulp: 1}}}\n",
        1,
        ["tolerances.streams.nope: unknown stream 'nope'"],
    ),
    ("tolerances: {rtl: 1}\n", 1, ["tolerances.rtl: unknown key"]),
]


@pytest.mark.parametrize(("extra", "line", "fragments"), ERRORS)
def test_top_level_errors_name_field_and_line(tmp_path, extra, line, fragments):
    body = yaml.safe_dump(base(), sort_keys=False)
    path = write(tmp_path, extra + body)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: ")
    for fragment in fragments:
        assert fragment in text


INPUT_ERRORS = [
    (
        "frame: {synthetic: {pattern: rnd}}",
        "inputs.frame.synthetic.pattern: unknown pattern 'rnd'",
    ),
    (
        "frame: {synthetic: {amplitude: x}}",
        "inputs.frame.synthetic.amplitude: must be a finite number",
    ),
    (
        "frame: {synthetic: {pattern: ramp}, constant: 1}",
        "needs exactly one of synthetic, fake, constant, file",
    ),
    ("frame: {}", "needs exactly one of"),
    ("frame: 3", "inputs.frame: must be a mapping"),
    ("frame: {constant: 1}", "triggers a kernel, so it needs a per-frame input"),
    ("mid: {constant: 1}", "inputs.mid: not a source stream (written by kernel 'mul')"),
    ("nope: {constant: 1}", "inputs.nope: unknown stream 'nope'"),
    (
        "gain: {constant: [1, 2, 3]}",
        "inputs.gain.constant: shape (3,) does not fit the stream's (4, 4)",
    ),
    ("gain: {constant: abc}", "inputs.gain.constant: must be a number"),
    ("gain: {file: missing.npy}", "inputs.gain.file: file not found"),
    (
        "gain: {constant: 1, extra: 2}",
        "inputs.gain.extra: unknown key next to 'constant'",
    ),
    (
        "frame: {fake: shack_hartmann, command: nowhere}",
        "inputs.frame.command: unknown stream 'nowhere'",
    ),
]


@pytest.mark.parametrize(("entry", "fragment"), INPUT_ERRORS)
def test_input_errors_name_the_stream_and_line(tmp_path, entry, fragment):
    text = "pipeline: " + yaml.safe_dump(PIPELINE, default_flow_style=True)
    text += (
        "inputs:\n  frame: {synthetic: {pattern: ramp}}\n"
        if not entry.startswith("frame")
        else "inputs:\n"
    )
    text += f"  {entry}\n"
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert fragment in "\n".join(info.value.errors)
    last_line = text.count("\n")
    assert f"{path}:{last_line}: " in "\n".join(info.value.errors)


def test_trigger_source_without_input_is_an_error(tmp_path):
    path = dump(tmp_path, {"pipeline": PIPELINE})
    with pytest.raises(ScenarioError, match="source stream 'frame' triggers a kernel"):
        load_scenario(path)


def test_integer_stream_constant_must_be_whole(tmp_path):
    pipeline = {
        "shared_memory": [
            {"name": "a", "shape": [2], "dtype": "int16"},
            {"name": "b", "shape": [2], "dtype": "int16"},
            {"name": "o", "shape": [2], "dtype": "int16"},
        ],
        "kernels": [
            {
                "name": "add",
                "kind": "cpu.elementwise_add",
                "input": "a",
                "output": "o",
                "auxiliary": ["b"],
            },
        ],
    }
    data = {
        "pipeline": pipeline,
        "inputs": {"a": {"synthetic": "ramp"}, "b": {"constant": 1.5}},
    }
    with pytest.raises(ScenarioError, match="values must be whole numbers"):
        load_scenario(dump(tmp_path, data))
    data["inputs"]["b"] = {"constant": 70000}
    with pytest.raises(ScenarioError, match="out of the range of int16"):
        load_scenario(dump(tmp_path, data))


def test_pipeline_errors_are_reported_with_their_lines(tmp_path):
    text = """\
        pipeline:
          shared_memory:
            - {name: a, shape: [4], dtype: float32}
            - {name: b, shape: [4, 2], dtype: float32}
          kernels:
            - {name: s, kind: cpu.scale, input: a, output: b, parameters: {factor: 2}}
            - {name: t, kind: cpu.scal, input: a, output: b}
        inputs:
          a: {synthetic: {pattern: ramp}}
        """
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    errors = "\n".join(info.value.errors)
    assert f"{path}:6: pipeline: kernels[0] 's': output: shape (4, 2)" in errors
    assert (
        f"{path}:7: pipeline: kernels[1] 't': kind: unknown kernel kind 'cpu.scal'"
        in errors
    )
    assert "already produced by kernels[0] 's'" in errors


def test_pipeline_file_errors_carry_that_file(tmp_path):
    (tmp_path / "p.yaml").write_text("shared_memory: []\nkernels: [{name: k}]\n")
    path = dump(tmp_path, {"pipeline": "p.yaml"})
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert f"pipeline: {tmp_path / 'p.yaml'}:1: shared_memory" in str(info.value)
    assert any(f"{tmp_path / 'p.yaml'}:2: kernels[0]" in e for e in info.value.errors)
    missing = dump(tmp_path, {"pipeline": "nope.yaml"}, "missing.yaml")
    with pytest.raises(ScenarioError, match="pipeline file not found"):
        load_scenario(missing)


def test_file_level_errors(tmp_path):
    with pytest.raises(ScenarioError, match="scenario file .* does not exist"):
        load_scenario(tmp_path / "absent.yaml")
    bad = write(tmp_path, "pipeline: [\n")
    with pytest.raises(ScenarioError, match="invalid YAML"):
        load_scenario(bad)
    scalar = write(tmp_path, "3\n", "scalar.yaml")
    with pytest.raises(ScenarioError, match="a scenario must be a mapping"):
        load_scenario(scalar)


def test_every_problem_is_collected(tmp_path):
    path = write(
        tmp_path, "frames: 0\nseed: -2\n" + yaml.safe_dump(base()) + "bogus: 1\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert len(info.value.errors) == 3
    assert info.value.errors[0].startswith(f"{path}:1: frames")  # in file order


_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=True)
    | st.text(max_size=4),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["pipeline", "inputs", "frames", "frame", "synthetic", "constant", "x"]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "seed",
                "frames",
                "inputs",
                "capture",
                "tolerances",
                "mode",
                "expect_failure",
                "requirements",
                "golden",
                "timeout",
                "rate_hz",
            ]
        ),
        _values,
        max_size=5,
    )
)
def test_only_scenario_errors_escape(tmp_path_factory, fields):
    data = base()
    data.update(fields)
    try:
        Scenario.from_dict(data, base_dir=tmp_path_factory.getbasetemp())
    except ScenarioError as exc:
        assert exc.errors
        assert "Traceback" not in str(exc)


# --- lookup -----------------------------------------------------------------------------------


def test_find_and_resolve(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / ".hidden").mkdir()
    dump(tmp_path / "a", base(name="alpha"), "first.yaml")
    dump(tmp_path, base(), "beta.yml")
    dump(tmp_path / ".hidden", base(), "ghost.yaml")
    (tmp_path / "pipe.yaml").write_text(yaml.safe_dump(PIPELINE))  # not a scenario
    (tmp_path / "broken.yaml").write_text("a: [\n")
    found = find_scenarios([tmp_path])
    assert sorted(p.name for p in found) == ["beta.yml", "first.yaml"]
    assert resolve_scenario("alpha", [tmp_path]).name == "first.yaml"  # by name
    assert resolve_scenario("first", [tmp_path]).name == "first.yaml"  # by stem
    assert resolve_scenario("beta", [tmp_path]).name == "beta.yml"
    assert (
        resolve_scenario(str(tmp_path / "beta.yml"))
        == (tmp_path / "beta.yml").resolve()
    )
    assert resolve_scenario("a/first.yaml", [tmp_path]).name == "first.yaml"
    with pytest.raises(ScenarioError) as info:
        resolve_scenario("alpah", [tmp_path])
    assert "did you mean 'alpha'" in str(info.value)
    assert "available: alpha, beta" in str(info.value)
    with pytest.raises(ScenarioError, match="scenario file not found"):
        resolve_scenario("nope.yaml", [tmp_path])


# --- hash --------------------------------------------------------------------------------------


def test_hash_follows_what_determines_the_values(tmp_path):
    reference = scenario_hash(load_scenario(dump(tmp_path, base(seed=1))))
    assert (
        scenario_hash(load_scenario(dump(tmp_path, base(seed=1), "copy.yaml")))
        == reference
    )
    cosmetic = base(
        seed=1,
        description="words",
        tolerances={"rtol": 0.1},
        golden="elsewhere.npz",
        requirements=["gpu"],
    )
    assert (
        scenario_hash(load_scenario(dump(tmp_path, cosmetic, "cosmetic.yaml")))
        == reference
    )
    for change in (
        base(seed=2),
        base(seed=1, frames=21),
        base(seed=1, capture=["mid"]),
        base(seed=1, inputs={"frame": {"synthetic": {"pattern": "sine"}}}),
    ):
        assert (
            scenario_hash(load_scenario(dump(tmp_path, change, "changed.yaml")))
            != reference
        )
    data = base(seed=1)
    data["pipeline"] = {
        **PIPELINE,
        "kernels": [
            PIPELINE["kernels"][0],
            {**PIPELINE["kernels"][1], "parameters": {"factor": 3.0}},
        ],
    }
    assert scenario_hash(load_scenario(dump(tmp_path, data, "param.yaml"))) != reference


def test_hash_covers_static_file_content(tmp_path):
    data = base()
    data["inputs"]["gain"] = {"file": "g.npy"}
    np.save(tmp_path / "g.npy", np.ones((4, 4), np.float32))
    first = scenario_hash(load_scenario(dump(tmp_path, data)))
    np.save(tmp_path / "g.npy", np.full((4, 4), 2, np.float32))
    assert scenario_hash(load_scenario(dump(tmp_path, data))) != first


def test_scenario_from_config_drives_every_source():
    config = PipelineConfig.from_dict(PIPELINE)
    scenario = scenario_from_config(config, frames=3, seed=4)
    assert [s.stream for s in scenario.inputs] == ["frame", "gain"]
    assert scenario.capture == ("mid", "out")
    assert scenario.frames == 3 and scenario.golden is None


def test_sources_feeding_each_others_kernels_are_rejected(tmp_path):
    """No write order lets both kernels read frame k of the other source."""
    pipeline = {
        "shared_memory": [
            {"name": n, "shape": [2], "dtype": "float32"}
            for n in ("a", "b", "oa", "ob")
        ],
        "kernels": [
            {
                "name": "ka",
                "kind": "cpu.elementwise_add",
                "input": "a",
                "output": "oa",
                "auxiliary": ["b"],
            },
            {
                "name": "kb",
                "kind": "cpu.elementwise_add",
                "input": "b",
                "output": "ob",
                "auxiliary": ["a"],
            },
        ],
    }
    data = {
        "pipeline": pipeline,
        "inputs": {"a": {"synthetic": "ramp"}, "b": {"synthetic": "sine"}},
    }
    with pytest.raises(ScenarioError) as info:
        load_scenario(dump(tmp_path, data))
    assert "sources 'a' and 'b' cannot both be replayed deterministically" in str(
        info.value
    )
    assert "kernel 'ka' (triggered by 'a') reads 'b'" in str(info.value)
    with pytest.raises(ScenarioError, match="cannot both be replayed"):
        scenario_from_config(PipelineConfig.from_dict(pipeline))
    data["inputs"]["b"] = {"synthetic": "sine"}
    pipeline["kernels"][1]["auxiliary"] = []  # one direction only: a write order exists
    pipeline["kernels"][1]["kind"] = "cpu.copy"
    assert load_scenario(dump(tmp_path, data, "ok.yaml")).inputs


def test_a_cycle_of_three_sources_is_named_with_each_link(tmp_path):
    """No two sources wait for each other, but a reads b, b reads c and c
    reads a as auxiliaries of the kernels they trigger: the whole cycle is
    named, link by link."""
    names = ("a", "b", "c")
    pipeline = {
        "shared_memory": [
            {"name": n, "shape": [2], "dtype": "float32"}
            for n in (*names, "oa", "ob", "oc")
        ],
        "kernels": [
            {
                "name": f"k{n}",
                "kind": "cpu.elementwise_add",
                "input": n,
                "output": f"o{n}",
                "auxiliary": [names[(i + 1) % 3]],
            }
            for i, n in enumerate(names)
        ],
    }
    data = {"pipeline": pipeline, "inputs": {n: {"synthetic": "ramp"} for n in names}}
    with pytest.raises(ScenarioError) as info:
        load_scenario(dump(tmp_path, data))
    message = str(info.value)
    assert "sources 'a', 'b' and 'c' cannot all be replayed deterministically" in message
    for source, aux in (("a", "b"), ("b", "c"), ("c", "a")):
        assert f"kernel 'k{source}' (triggered by {source!r}) reads {aux!r}" in message


def test_a_cuda_stream_implies_the_gpu_requirement(tmp_path):
    """A scenario with a ``storage: gpu`` stream on a CUDA device needs a GPU
    even when it does not say so (a torch CPU build is not enough)."""
    import copy

    from shmpipeline.testing.requirements import cuda_streams

    def with_stream(**fields):
        raw = copy.deepcopy(base())
        raw["pipeline"]["shared_memory"].append(
            {"name": "spare", "shape": [4], "dtype": "float32", **fields}
        )
        return raw

    cuda = with_stream(storage="gpu", gpu_device="cuda:0")
    assert cuda_streams(cuda) == ("spare",)
    assert cuda_streams(with_stream(storage="gpu", gpu_device="cpu")) == ()
    assert cuda_streams(with_stream()) == ()
    assert cuda_streams(base()) == ()
    scenario = load_scenario(dump(tmp_path, cuda))
    assert scenario.requirements == ("gpu",)
    declared = load_scenario(dump(tmp_path, {**cuda, "requirements": ["gpu"]}, "d.yaml"))
    assert declared.requirements == ("gpu",)
    assert load_scenario(dump(tmp_path, base(), "plain.yaml")).requirements == ()
