"""Building fakes from scenario mappings: the registry, errors naming the
kind and field, and fakes wired into a scenario."""

from __future__ import annotations

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.testing import fakes
from shmpipeline.testing.fakes import build_fake


@pytest.mark.parametrize(
    ("kind", "params", "text"),
    [
        (
            "shack_hartman",
            {},
            "unknown fake kind 'shack_hartman' (did you mean 'shack_hartmann'?)",
        ),
        (
            "shack_hartmann",
            {"lenslet": 4},
            "unknown parameter 'lenslet' (did you mean 'lenslets'?)",
        ),
        ("phase_screen", {"r0": -1}, "parameter 'r0': must be > 0"),
        ("phase_screen", {"wind": "east"}, "parameter 'wind': must be [y, x]"),
        ("deformable_mirror", {"coupling": 1.5}, "'coupling': must be < 1"),
        (
            "shack_hartmann",
            {"atmosphere": {"size": 3}},
            "'atmosphere.size': set by lenslets",
        ),
        (
            "shack_hartmann",
            {"mirror": {"nact": 3}},
            "mirror: fake 'deformable_mirror': unknown parameter 'nact'",
        ),
        (
            "phase_screen",
            {"faults": {"dorp": [1]}},
            "unknown parameter 'dorp' (did you mean 'drop'?)",
        ),
        ("phase_screen", {"faults": {"drop": 2.0}}, "probability must be in [0, 1]"),
        (
            "phase_screen",
            {"faults": {"stop_after": -1}},
            "stop_after: must be an integer >= 0",
        ),
        ("phase_screen", {"faults": [1]}, "'faults': must be a mapping"),
        ("phase_screen", {"dtype": "float99"}, "unknown dtype"),
        ("phase_screen", {"dtype": "complex64"}, "must be a numeric dtype"),
        (
            "deformable_mirror",
            {"stroke_limit": -1},
            "parameter 'stroke_limit': must be > 0",
        ),
        ("shack_hartmann", {"flux": "lots"}, "'flux': must be a finite number"),
        ("shack_hartmann", {"photon_noise": "yes"}, "must be true or false"),
        ("shack_hartmann", {"atmosphere": 3}, "'atmosphere': must be a mapping"),
        (
            "phase_screen",
            {"faults": {"nan": 1.5}},
            "'nan': a fraction must be in [0, 1], got 1.5 (a count is an integer)",
        ),
        ("phase_screen", {"faults": {"nan": -2}}, "'nan': a count must be >= 0"),
        (
            "phase_screen",
            {"faults": {"nan": {"count": 1, "fraction": 0.5}}},
            "give count or fraction, not both",
        ),
        (
            "phase_screen",
            {"faults": {"saturate": {"count": 1, "levle": 3}}},
            "unknown parameter 'levle' (did you mean 'level'?)",
        ),
        (
            "phase_screen",
            {"faults": {"on_stop": "explode"}},
            "faults.on_stop: must be one of drop, raise, got 'explode'",
        ),
        (
            "phase_screen",
            {"faults": {"stuck": "often"}},
            "faults.stuck: must be a list of frame indices or a probability",
        ),
        ("phase_screen", [1, 2], "parameters must be a mapping"),
        (3, {}, "fake kind must be a string"),
    ],
)
def test_bad_kinds_and_parameters_are_named(kind, params, text):
    with pytest.raises(ScenarioError) as info:
        build_fake(kind, params, seed=0)
    assert text in str(info.value)


def test_seed_must_be_an_integer():
    with pytest.raises(ScenarioError, match="seed must be an integer"):
        build_fake("phase_screen", {}, seed="7")
    a = build_fake("phase_screen", {}, seed=np.int64(7)).frame(0)
    np.testing.assert_array_equal(a, build_fake("phase_screen", {}, seed=7).frame(0))


def test_build_fake_does_not_change_the_caller_mapping():
    params = {"lenslets": 2, "pixels": 8, "faults": {"drop": [1]}}
    before = repr(params)
    build_fake("shack_hartmann", params, seed=1)
    assert repr(params) == before


def test_registry_lists_the_kinds():
    assert set(fakes.FAKES) == {"phase_screen", "shack_hartmann", "deformable_mirror"}
    for kind in fakes.FAKES:
        fake = build_fake(kind, {}, seed=0)
        assert fake.frame(0).shape == fake.shape


# --- scenario wiring ---------------------------------------------------------------------


def _closed_loop(camera: dict) -> dict:
    return {
        "name": "loop",
        "frames": 6,
        "seed": 4,
        "pipeline": {
            "shared_memory": [
                {"name": "camera", "shape": [16, 16], "dtype": "float32"},
                {"name": "centroids", "shape": [2, 2, 2], "dtype": "float32"},
                {"name": "slopes", "shape": [8], "dtype": "float32"},
                {"name": "recon", "shape": [4, 8], "dtype": "float32"},
                {"name": "offset", "shape": [4], "dtype": "float32"},
                {"name": "dm_command", "shape": [4], "dtype": "float32"},
            ],
            "kernels": [
                {
                    "name": "centroid",
                    "kind": "cpu.shack_hartmann_centroid",
                    "input": "camera",
                    "output": "centroids",
                    "parameters": {"tile_size": 8},
                },
                {
                    "name": "flatten",
                    "kind": "cpu.flatten",
                    "input": "centroids",
                    "output": "slopes",
                },
                {
                    "name": "reconstruct",
                    "kind": "cpu.affine_transform",
                    "input": "slopes",
                    "output": "dm_command",
                    "auxiliary": {"matrix": "recon", "offset": "offset"},
                },
            ],
        },
        "inputs": {"camera": camera, "recon": {"constant": 0.01}},
        "capture": ["camera", "dm_command"],
    }


def test_closed_loop_scenario_runs_inline_deterministically():
    from shmpipeline.testing.inline import run_inline
    from shmpipeline.testing.scenario import Scenario

    camera = {
        "fake": "shack_hartmann",
        "command": "dm_command",
        "lenslets": 2,
        "pixels": 8,
        "mirror": {"n_act": 2},
        "faults": {"drop": [3]},
    }
    scenario = Scenario.from_dict(_closed_loop(camera))
    first, second = run_inline(scenario), run_inline(scenario)
    assert first.ok, first.problem()
    assert first.frames_completed == 6
    for name in ("camera", "dm_command"):
        np.testing.assert_array_equal(first.captures[name], second.captures[name])
    assert np.abs(first.captures["dm_command"][1:]).sum() > 0  # the loop acts


def test_scenario_reports_bad_fake_parameters_and_shapes():
    from shmpipeline.testing.scenario import Scenario

    bad = {"fake": "shack_hartmann", "lenslets": 2, "pixels": 8, "flux": "lots"}
    with pytest.raises(
        ScenarioError, match=r"inputs\.camera.*'flux': must be a finite number"
    ):
        Scenario.from_dict(_closed_loop(bad))
    wrong = {"fake": "shack_hartmann", "lenslets": 3, "pixels": 8}
    with pytest.raises(ScenarioError, match=r"makes frames of shape \(24, 24\)"):
        Scenario.from_dict(_closed_loop(wrong))
    mismatch = {
        "fake": "shack_hartmann",
        "command": "dm_command",
        "lenslets": 2,
        "pixels": 8,
        "mirror": {"n_act": 3},
    }
    with pytest.raises(ScenarioError, match=r"command has 4 values.*3x3 = 9"):
        Scenario.from_dict(_closed_loop(mismatch))
