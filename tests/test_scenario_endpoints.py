"""Scenarios over pipelines with source and sink endpoints: not started by
default, replaced by inputs, run on request, closed loops across them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from shmpipeline.errors import ScenarioError
from shmpipeline.registry import get_default_registry
from shmpipeline.testing.inline import run_inline
from shmpipeline.testing.replay import replay
from shmpipeline.testing.runner import check_scenario
from shmpipeline.testing.scenario import load_scenario

PLUGINS = Path(__file__).resolve().parent / "data" / "acme_endpoints"


@pytest.fixture
def acme_registry(monkeypatch):
    """The acme plugins registered (importable by spawned workers too)."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    import acme_endpoints

    return get_default_registry().extended(
        sources=[acme_endpoints.AcmeCamera],
        sinks=[acme_endpoints.AcmeNpyWriter, acme_endpoints.AcmeMirror],
        replace=True,  # where CI installed the package, the kinds exist already
    )


def _camera_pipeline(tmp_path: Path) -> Path:
    out = tmp_path / "archive"
    out.mkdir()
    pipeline = {
        "shared_memory": [
            {"name": "raw", "shape": [8, 8], "dtype": "float32"},
            {"name": "scaled", "shape": [8, 8], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "scale",
                "kind": "cpu.scale",
                "input": "raw",
                "output": "scaled",
                "parameters": {"factor": 2.0},
            },
        ],
        "sources": [
            {
                "name": "camera",
                "kind": "acme.camera",
                "stream": "raw",
                "parameters": {"marker": str(tmp_path / "camera_started")},
            },
        ],
        "sinks": [
            {
                "name": "archive",
                "kind": "acme.npy_writer",
                "stream": "scaled",
                "parameters": {"directory": str(out)},
            },
        ],
    }
    path = tmp_path / "telescope.yaml"
    path.write_text(yaml.safe_dump(pipeline))
    return path


def _camera_scenario(tmp_path: Path, extra: str = "") -> Path:
    _camera_pipeline(tmp_path)
    path = tmp_path / "cam.yaml"
    path.write_text(
        "name: cam\npipeline: telescope.yaml\nframes: 6\nseed: 4\n"
        "inputs:\n  camera: {synthetic: {pattern: random, amplitude: 1.0}}\n"
        "capture: [scaled]\n" + extra
    )
    return path


@pytest.mark.parametrize("installed", [True, False])
def test_camera_replaced_sink_not_started(tmp_path, request, installed):
    registry = request.getfixturevalue("acme_registry") if installed else None
    path = _camera_scenario(tmp_path)
    scenario = load_scenario(path, registry=registry)
    assert dict(scenario.endpoints) == {"camera": "replaced", "archive": "replaced"}
    assert not scenario.pipeline.sources and not scenario.pipeline.sinks
    # fresh worker processes: a registry holding classes imported from a path
    # added during the session cannot be unpickled by an older pool server
    workers = False if installed else None
    runs = [replay(scenario, registry=registry, workers=workers) for _ in range(3)]
    recorded = check_scenario(scenario, result=runs[0], goldens="update")
    assert recorded.status == "recorded", recorded.message
    for run in runs:
        assert run.failure is None
        np.testing.assert_array_equal(
            run.captures["scaled"], runs[0].captures["scaled"]
        )
    for run in runs[1:]:
        assert check_scenario(scenario, result=run).status == "passed"
    assert not (tmp_path / "camera_started").exists()
    assert list((tmp_path / "archive").iterdir()) == []
    assert runs[0].captures["scaled"].shape == (6, 8, 8)


def test_sink_run_for_real(tmp_path, acme_registry):
    path = _camera_scenario(tmp_path, "endpoints: {archive: run}\n")
    scenario = load_scenario(path, registry=acme_registry)
    assert scenario.endpoints["archive"] == "run"
    assert [s.name for s in scenario.pipeline.sinks] == ["archive"]
    result = replay(scenario, registry=acme_registry, workers=False)
    assert result.failure is None, result.failure
    written = sorted((tmp_path / "archive").iterdir())
    assert written, "the archive sink wrote nothing"
    last = np.load(written[-1])
    assert last.shape == (8, 8)
    assert any(np.array_equal(last, row) for row in result.captures["scaled"]), (
        "the archived frame is one the pipeline computed"
    )


def test_unreplaced_uninstalled_endpoint_is_a_clear_error(tmp_path):
    pipeline = _camera_pipeline(tmp_path)
    text = pipeline.read_text().replace("acme.", "nowhere.")
    pipeline.write_text(text)
    path = tmp_path / "cam.yaml"
    path.write_text(
        "name: cam\npipeline: telescope.yaml\nframes: 2\ncapture: [scaled]\n"
        "endpoints: {archive: run}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    errors = "\n".join(info.value.errors)
    assert "sources[0] 'camera': kind 'nowhere.camera' is not installed" in errors
    assert "unknown sink kind 'nowhere.npy_writer'" in errors
    outcome = check_scenario(path)
    assert outcome.status == "failed" and "\n" not in outcome.message


def test_multi_stream_source_needs_one_input_per_stream(tmp_path):
    raw = {
        "name": "pair",
        "frames": 3,
        "pipeline": {
            "shared_memory": [
                {"name": "a", "shape": [4], "dtype": "float32"},
                {"name": "b", "shape": [4], "dtype": "float32"},
                {"name": "out", "shape": [4], "dtype": "float32"},
            ],
            "kernels": [
                {
                    "name": "add",
                    "kind": "cpu.custom_operation",
                    "input": "a",
                    "output": "out",
                    "auxiliary": {"other": "b"},
                    "operation": "input + other",
                },
            ],
            "sources": [
                {"name": "pair", "kind": "acme.pair", "streams": ["a", "b"]},
            ],
        },
    }
    from shmpipeline.testing.scenario import Scenario

    with pytest.raises(ScenarioError, match="give one input per stream"):
        Scenario.from_dict({**raw, "inputs": {"pair": {"synthetic": "random"}}})
    scenario = Scenario.from_dict(
        {
            **raw,
            "inputs": {
                "pair": {
                    "streams": {
                        "a": {
                            "synthetic": {
                                "pattern": "constant",
                                "offset": 1.0,
                                "amplitude": 0.0,
                            }
                        },
                        "b": {
                            "synthetic": {
                                "pattern": "constant",
                                "offset": 2.0,
                                "amplitude": 0.0,
                            }
                        },
                    }
                }
            },
        }
    )
    assert scenario.endpoints == {"pair": "replaced"}
    np.testing.assert_array_equal(
        run_inline(scenario).captures["out"], np.full((3, 4), 3.0, np.float32)
    )


def _closed_loop(tmp_path: Path) -> Path:
    pipeline = {
        "shared_memory": [
            {"name": "wfs_image", "shape": [32, 32], "dtype": "float32"},
            {"name": "centroids", "shape": [4, 4, 2], "dtype": "float32"},
            {"name": "slopes", "shape": [32], "dtype": "float32"},
            {"name": "reconstructor", "shape": [16, 32], "dtype": "float32"},
            {"name": "offset", "shape": [16], "dtype": "float32"},
            {"name": "increments", "shape": [16], "dtype": "float32"},
            {"name": "dm_command", "shape": [16], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "centroid",
                "kind": "cpu.shack_hartmann_centroid",
                "input": "wfs_image",
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
                "output": "increments",
                "auxiliary": {"matrix": "reconstructor", "offset": "offset"},
            },
            {
                "name": "integrator",
                "kind": "cpu.leaky_integrator",
                "input": "increments",
                "output": "dm_command",
                "parameters": {"leak": 0.99, "gain": 0.4},
            },
        ],
        "sources": [{"name": "camera", "kind": "acme.camera", "stream": "wfs_image"}],
        "sinks": [{"name": "mirror", "kind": "acme.mirror", "stream": "dm_command"}],
    }
    (tmp_path / "ao.yaml").write_text(yaml.safe_dump(pipeline))
    path = tmp_path / "loop.yaml"
    path.write_text(
        "name: loop\npipeline: ao.yaml\nframes: 30\nseed: 2\n"
        "inputs:\n"
        "  camera: {fake: shack_hartmann, command: dm_command, lenslets: 4, pixels: 8,"
        " read_noise: 1.0, atmosphere: {r0: 0.5, wind: [0.0, 0.5]}}\n"
        "  reconstructor: {calibrate: {camera: wfs_image, mirror: dm_command}}\n"
        "  offset: {constant: 0.0}\n"
        "capture: [slopes, dm_command]\n"
    )
    return path


def test_closed_loop_across_endpoints_closes_and_matches_inline(tmp_path):
    scenario = load_scenario(_closed_loop(tmp_path))
    assert dict(scenario.endpoints) == {"camera": "replaced", "mirror": "replaced"}
    runs = [replay(scenario) for _ in range(3)]
    inline = run_inline(scenario)
    for run in runs:
        assert run.failure is None, run.failure
        for name in ("slopes", "dm_command"):
            np.testing.assert_array_equal(run.captures[name], inline.captures[name])
    slopes = inline.captures["slopes"].astype(np.float64)
    rms = np.sqrt(np.mean(slopes**2, axis=1))
    assert rms[-10:].mean() < 0.8 * rms[:2].mean()
    assert np.abs(inline.captures["dm_command"][-1]).max() > 0


def _acme_installed() -> bool:
    try:
        return "acme.camera" in get_default_registry().source_kinds()
    except Exception:  # noqa: BLE001 - a broken plugin counts as absent
        return False


@pytest.mark.skipif(
    not _acme_installed(),
    reason="the acme-endpoints package (tests/data/acme_endpoints) is not "
    "installed; CI installs it",
)
def test_installed_plugins_are_found_by_entry_point(tmp_path):
    path = _camera_scenario(tmp_path, "endpoints: {archive: run}\n")
    scenario = load_scenario(path)  # the default registry discovers the kinds
    assert scenario.endpoints == {"camera": "replaced", "archive": "run"}
    outcome = check_scenario(path, goldens="update")
    assert outcome.status == "recorded", outcome.message
    assert check_scenario(path).status == "passed"
    assert not (tmp_path / "camera_started").exists()
    assert list((tmp_path / "archive").iterdir())
    from importlib.metadata import entry_points

    names = {ep.name for ep in entry_points(group="shmpipeline.sources")}
    assert "acme.camera" in names


def test_an_input_cannot_feed_a_stream_a_run_endpoint_writes():
    from shmpipeline.testing.scenario import Scenario

    raw = {
        "name": "r",
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
            "sources": [
                {
                    "name": "gen",
                    "kind": "synthetic.array",
                    "stream": "x",
                    "parameters": {"rate_hz": 100.0},
                },
            ],
        },
        "inputs": {"x": {"synthetic": "random"}},
        "endpoints": {"gen": "run"},
    }
    with pytest.raises(
        ScenarioError, match="written by 'gen', which the scenario runs"
    ):
        Scenario.from_dict(raw)
    with pytest.raises(ScenarioError, match="endpoints.gen: must be 'run'"):
        Scenario.from_dict({**raw, "endpoints": {"gen": "start"}})
    with pytest.raises(ScenarioError, match="no source or sink 'gne'"):
        Scenario.from_dict({**raw, "endpoints": {"gne": "run"}})


def test_scenario_from_config_leaves_endpoints_out(tmp_path):
    from shmpipeline.config import PipelineConfig
    from shmpipeline.testing.scenario import scenario_from_config

    config = PipelineConfig.from_yaml(_camera_pipeline(tmp_path))
    scenario = scenario_from_config(config, frames=3, seed=1)
    assert not scenario.pipeline.sources and not scenario.pipeline.sinks
    assert scenario.endpoints == {"camera": "replaced", "archive": "replaced"}
    inline = run_inline(scenario)
    np.testing.assert_array_equal(
        replay(scenario).captures["scaled"], inline.captures["scaled"]
    )
    assert not (tmp_path / "camera_started").exists()
