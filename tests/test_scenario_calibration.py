"""The ``calibrate`` input: the reconstructor measured on the fakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.testing import fakes
from shmpipeline.testing.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _raw(calibrate):
    return {
        "name": "cal",
        "frames": 2,
        "pipeline": {
            "shared_memory": [
                {"name": "wfs", "shape": [32, 32], "dtype": "float32"},
                {"name": "centroids", "shape": [4, 4, 2], "dtype": "float32"},
                {"name": "slopes", "shape": [32], "dtype": "float32"},
                {"name": "rec", "shape": [16, 32], "dtype": "float32"},
                {"name": "cmd", "shape": [16], "dtype": "float32"},
                {"name": "off", "shape": [16], "dtype": "float32"},
            ],
            "kernels": [
                {
                    "name": "c",
                    "kind": "cpu.shack_hartmann_centroid",
                    "input": "wfs",
                    "output": "centroids",
                    "parameters": {"tile_size": 8},
                },
                {
                    "name": "f",
                    "kind": "cpu.flatten",
                    "input": "centroids",
                    "output": "slopes",
                },
                {
                    "name": "r",
                    "kind": "cpu.affine_transform",
                    "input": "slopes",
                    "output": "cmd",
                    "auxiliary": {"matrix": "rec", "offset": "off"},
                },
            ],
        },
        "inputs": {
            "wfs": {
                "fake": "shack_hartmann",
                "command": "cmd",
                "lenslets": 4,
                "pixels": 8,
                "seed": 3,
            },
            "rec": {"calibrate": calibrate},
        },
    }


@pytest.mark.parametrize("method", ["pinv", "tikhonov"])
def test_calibration_equals_the_python_helpers(method):
    scenario = Scenario.from_dict(
        _raw(
            {
                "camera": "wfs",
                "mirror": "cmd",
                "amplitude": 0.2,
                "method": method,
                "rcond": 0.05,
            }
        )
    )
    camera = fakes.build_fake("shack_hartmann", {"lenslets": 4, "pixels": 8}, seed=3)
    expected = fakes.reconstructor(
        fakes.interaction_matrix(camera, amplitude=0.2), method=method, rcond=0.05
    )
    value = scenario.inputs_by_stream["rec"].value
    assert value.dtype == np.float32 and value.shape == (16, 32)
    np.testing.assert_array_equal(value, expected.astype(np.float32))


@pytest.mark.parametrize(
    ("calibrate", "expected"),
    [
        (
            {"camera": "slopes"},
            "inputs.rec.calibrate.camera: stream 'slopes' is not fed",
        ),
        ({"camera": "wfs", "mirror": "rec"}, "inputs.rec.calibrate.mirror: the camera"),
        ({"camera": "wfs", "method": "lu"}, "inputs.rec.calibrate.method: must be one"),
        ({"camera": "wfs", "amplitude": -1}, "calibrate.amplitude: must be a positive"),
        ({"camera": "wfs", "gain": 1}, "inputs.rec.calibrate.gain: unknown key"),
        ("wfs", "inputs.rec.calibrate: must be a mapping"),
    ],
)
def test_bad_calibration_is_one_located_line(calibrate, expected):
    with pytest.raises(ScenarioError) as info:
        Scenario.from_dict(_raw(calibrate))
    assert expected in str(info.value)


def test_shipped_closed_loop_uses_the_calibration_and_closes():
    from dataclasses import replace

    from shmpipeline.testing.inline import run_inline

    path = ROOT / "scenarios" / "ao_closed_loop.yaml"
    if not path.exists():
        from shmpipeline.testing.examples import examples_dir

        path = examples_dir() / "scenarios" / "ao_closed_loop.yaml"
    scenario = load_scenario(path)
    static = scenario.inputs_by_stream["reconstructor"]
    assert static.origin == "calibrate"
    closed = run_inline(scenario).captures["slopes"]
    inputs = tuple(
        replace(i, value=np.zeros_like(i.value)) if i.stream == "reconstructor" else i
        for i in scenario.inputs
    )
    opened = run_inline(replace(scenario, inputs=inputs)).captures["slopes"]
    rms = lambda a: float(np.sqrt(np.mean(a[20:].astype(np.float64) ** 2)))  # noqa: E731
    assert rms(closed) < 0.7 * rms(opened)
