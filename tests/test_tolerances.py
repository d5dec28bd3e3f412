"""The one tolerance model and parser, through both entry points: scenario
files (:func:`load_scenario`) and the Python API
(``compare_captures(tolerances=...)``) accept and reject the same values."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shmpipeline.errors import ConfigValidationError, ScenarioError
from shmpipeline.testing import golden, scenario, tolerances
from shmpipeline.testing.golden import compare_captures
from shmpipeline.testing.scenario import load_scenario
from shmpipeline.testing.tolerances import (
    Tolerance,
    Tolerances,
    parse_tolerances,
    tolerance_for_stream,
)

PIPELINE = {
    "shared_memory": [
        {"name": "frame", "shape": [2], "dtype": "float64"},
        {"name": "out", "shape": [2], "dtype": "float64"},
    ],
    "kernels": [
        {
            "name": "scale",
            "kind": "cpu.scale",
            "input": "frame",
            "output": "out",
            "parameters": {"factor": 2.0},
        }
    ],
}


def scenario_tolerances(tmp_path, tolerances):
    data = {
        "pipeline": PIPELINE,
        "inputs": {"frame": {"synthetic": {"pattern": "ramp"}}},
        "tolerances": tolerances,
    }
    path = tmp_path / "case.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_scenario(path).tolerances


def api_tolerance(tolerances, stream="out"):
    return tolerance_for_stream(tolerances, stream)


def test_the_modules_share_one_model():
    assert scenario.Tolerance is Tolerance and scenario.Tolerances is Tolerances
    assert golden.DEFAULT_TOLERANCES is tolerances.DEFAULT_TOLERANCES
    assert golden.default_tolerance(np.float32) == (1e-5, 1e-6)


def test_default_and_inline_together_are_rejected_by_both(tmp_path):
    both = {"default": {"rtol": 1e-3}, "atol": 1e-9}
    with pytest.raises(ScenarioError) as info:
        scenario_tolerances(tmp_path, both)
    assert "tolerances: give the default either as 'default' or inline, not both" in (
        str(info.value)
    )
    e = np.zeros((1, 2))
    with pytest.raises(ConfigValidationError) as info:
        compare_captures({"out": e}, {"out": e}, tolerances=both)
    assert "give the default either as 'default' or inline, not both" in str(info.value)


ACCEPTED = [
    ({"rtol": 1e-3}, Tolerance(rtol=1e-3), Tolerance(rtol=1e-3)),
    ({"ulp": 4}, Tolerance(ulp=4), Tolerance(ulp=4)),
    (
        {"default": {"atol": 0.5}, "streams": {"out": {"ulp": 1}}},
        Tolerance(atol=0.5),
        Tolerance(ulp=1),
    ),
    (
        {"rtol": 0.25, "streams": {"out": {"atol": 0}}},
        Tolerance(rtol=0.25),
        Tolerance(atol=0.0),
    ),
]


@pytest.mark.parametrize(("value", "frame", "out"), ACCEPTED)
def test_both_entry_points_read_the_same_tolerances(tmp_path, value, frame, out):
    parsed = scenario_tolerances(tmp_path, value)
    assert parsed.for_stream("frame") == frame and parsed.for_stream("out") == out
    assert api_tolerance(value, "frame") == frame
    assert api_tolerance(value, "out") == out


REJECTED = [
    {"rtol": -1},
    {"ulp": 1.5},
    {"ulp": 1, "atol": 0},
    {"rtoll": 1},
    {"default": {"rtol": "x"}},
    {"default": 3},
    {"default": {}, "stream": {}},
    {"streams": [1]},
    {"streams": {"out": 3}},
    {"streams": {"out": {"ulp": -2}}},
]


@pytest.mark.parametrize("value", REJECTED)
def test_both_entry_points_reject_the_same_tolerances(tmp_path, value):
    with pytest.raises(ScenarioError):
        scenario_tolerances(tmp_path, value)
    with pytest.raises(ConfigValidationError):
        api_tolerance(value)


numbers = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
)
single = st.dictionaries(st.sampled_from(["rtol", "atol", "ulp", "tol"]), numbers)
spec = st.one_of(
    single,
    st.fixed_dictionaries(
        {},
        optional={
            "default": single,
            "streams": st.dictionaries(st.sampled_from(["out", "frame"]), single),
            "rtol": numbers,
        },
    ),
)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(spec)
@example({"default": {"rtol": 1.0}, "rtol": 1.0})
@example({"streams": {"out": {"ulp": 2, "rtol": None}}})
def test_the_parser_decides_alike_for_any_input(value):
    """Accepted by the document parser exactly when the Python API accepts
    it, with the same values (stream names are all known here)."""
    problems: list = []
    parsed = parse_tolerances(value, ("tolerances",), problems, stream_names=["out", "frame"])
    try:
        api = {name: api_tolerance(value, name) for name in ("out", "frame")}
    except ConfigValidationError as exc:
        assert problems, value
        assert "\n" not in str(exc)
        return
    assert not problems, (value, problems)
    assert api == {name: parsed.for_stream(name) for name in ("out", "frame")}
