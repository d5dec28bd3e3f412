"""The hardware fakes as source/sink kinds: same frames as the fakes, clear
errors, and a closed loop across endpoints run by the manager."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from shmpipeline.config import (
    PipelineConfig,
    SharedMemoryConfig,
    SinkConfig,
    SourceConfig,
)
from shmpipeline.endpoint import Publication
from shmpipeline.errors import ConfigValidationError
from shmpipeline.manager import PipelineManager
from shmpipeline.registry import get_default_registry
from shmpipeline.sink import Sink
from shmpipeline.testing.fakes import (
    DeformableMirror,
    PhaseScreen,
    ShackHartmann,
    reconstructor,
)
from shmpipeline.testing.fakes.calibration import tile_centroids

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "fake_closed_loop.yaml"
CAMERA = {"lenslets": 4, "pixels": 8, "atmosphere": {"r0": 0.3, "wind": [0.0, 0.1]},
          "mirror": {"n_act": 5}}


def specs(*streams):
    return {
        name: SharedMemoryConfig.from_dict({"name": name, "shape": list(shape),
                                            "dtype": "float32"})
        for name, shape in streams
    }


class FakeStream:
    """What an endpoint sees of an auxiliary stream: the latest frame."""

    def __init__(self, value=None):
        self.value, self.count = value, 0 if value is None else 1

    def write(self, value, frame_id=None):
        self.value, self.count = np.array(value), self.count + 1

    def read(self):
        return np.array(self.value)

    def wait_new(self, last, timeout=None):
        return self.count


def test_the_fake_kinds_are_built_in_and_lazy():
    registry = get_default_registry()
    assert {"fake.shack_hartmann", "fake.phase_screen"} <= set(registry.source_kinds())
    assert "fake.deformable_mirror" in registry.sink_kinds()
    code = ("import sys, shmpipeline, shmpipeline.registry as r; "
            "r.get_default_registry().source_kinds(); "
            "print('shmpipeline.testing.fake_endpoints' in sys.modules, "
            "'shmpipeline.testing.fakes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"]


def test_camera_source_frames_are_the_fakes_frames():
    params = {**CAMERA, "read_noise": 1.5}
    config = SourceConfig.from_dict({"name": "camera", "kind": "fake.shack_hartmann",
                                     "stream": "img", "parameters": {**params, "seed": 7}})
    source = get_default_registry().create_source(config, specs(("img", (32, 32))))
    fake = ShackHartmann(params, seed=7)
    for n in range(3):
        np.testing.assert_array_equal(source.read(), fake.frame(n))
    assert source.plugin_metrics()["frames_written"] == 3


def test_phase_screen_source_takes_its_size_from_the_stream():
    config = SourceConfig.from_dict({"name": "sky", "kind": "fake.phase_screen",
                                     "stream": "phase",
                                     "parameters": {"r0": 0.2, "seed": 4}})
    source = get_default_registry().create_source(config, specs(("phase", (16, 16))))
    fake = PhaseScreen(size=16, r0=0.2, seed=4)
    np.testing.assert_array_equal(source.read(), fake.frame(0))
    np.testing.assert_array_equal(source.read(), fake.frame(1))


def test_mirror_surface_feedback_equals_the_cameras_own_mirror():
    """camera <- surface written by the mirror sink is the scenario fake's
    closed loop (camera.frame(n, command)) bit for bit."""
    shared = specs(("img", (32, 32)), ("cmd", (25,)), ("surface", (32, 32)))
    registry = get_default_registry()
    surface = FakeStream()
    camera = registry.create_source(
        SourceConfig.from_dict({"name": "camera", "kind": "fake.shack_hartmann",
                                "stream": "img", "auxiliary": {"surface": "surface"},
                                "parameters": {**CAMERA, "seed": 2}}),
        shared, {"surface": surface})
    mirror = registry.create_sink(
        SinkConfig.from_dict({"name": "dm", "kind": "fake.deformable_mirror",
                              "stream": "cmd", "outputs": ["surface"]}), shared)
    fake = ShackHartmann(CAMERA, seed=2)
    np.testing.assert_array_equal(camera.read(), fake.frame(0))
    command = np.linspace(-0.3, 0.3, 25, dtype=np.float32)
    mirror.consume_publication(Publication(command, 1, 9, 0.0), {"surface": surface})
    np.testing.assert_array_equal(
        surface.value, DeformableMirror(n_act=5, size=32).frame(0, command))
    np.testing.assert_allclose(camera.read(), fake.frame(1, command), rtol=1e-5, atol=1e-3)
    assert mirror.plugin_metrics()["commands"] == 1


def test_faults_apply_to_the_closed_loop_camera():
    """``faults`` wraps the optics: frame 1 dropped (no write, no feedback
    awaited), the others the fault-free frames."""
    shared = specs(("img", (32, 32)), ("surface", (32, 32)))
    camera = get_default_registry().create_source(
        SourceConfig.from_dict({"name": "camera", "kind": "fake.shack_hartmann",
                                "stream": "img", "auxiliary": {"surface": "surface"},
                                "parameters": {**CAMERA, "seed": 2,
                                               "faults": {"drop": [1]}}}),
        shared, {"surface": FakeStream()})
    fake = ShackHartmann(CAMERA, seed=2)
    frames = [camera.read() for _ in range(3)]
    assert frames[1] is None
    np.testing.assert_array_equal(frames[0], fake.frame(0))
    np.testing.assert_array_equal(frames[2], fake.frame(2))
    assert camera.plugin_metrics() == {"frames": 3, "frames_written": 2,
                                       "feedback_timeouts": 0}


def test_a_silent_mirror_costs_one_feedback_timeout_per_frame():
    class Silent(FakeStream):
        def wait_new(self, last, timeout=None):
            return last  # never answers

    camera = get_default_registry().create_source(
        SourceConfig.from_dict({"name": "camera", "kind": "fake.shack_hartmann",
                                "stream": "img", "auxiliary": {"command": "cmd"},
                                "parameters": {**CAMERA, "wait_for_feedback": True,
                                               "feedback_timeout_s": 0.01}}),
        specs(("img", (32, 32)), ("cmd", (25,))), {"cmd": Silent()})
    fake = ShackHartmann(CAMERA)
    for n in range(3):
        np.testing.assert_array_equal(camera.read(), fake.frame(n))
    assert camera.plugin_metrics()["feedback_timeouts"] == 2


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"parameters": {"lenslets": 4, "pixels": 8, "flx": 3}},
         "source 'camera': parameters: unknown parameter 'flx'"),
        ({"parameters": {"lenslets": 4, "pixels": 8, "fwhm": -1}},
         "source 'camera': parameters.fwhm:"),
        ({"parameters": {"lenslets": 2, "pixels": 8}},
         "stream 'img' has shape (32, 32), the fake makes (16, 16)"),
        ({"parameters": {"lenslets": 4, "pixels": 8, "dtype": "uint16"}},
         "parameters.dtype: uint16 frames do not fit"),
        ({"parameters": {"lenslets": 4, "pixels": 8, "wait_for_feedback": True}},
         "parameters.wait_for_feedback: needs a feedback auxiliary"),
        ({"parameters": {"lenslets": 4, "pixels": 8, "seed": 1.5}},
         "parameters.seed: must be an integer"),
        ({"parameters": {"lenslets": 4, "pixels": 8}, "auxiliary": {"surface": "cmd"}},
         "auxiliary.surface: stream 'cmd' has shape (25,)"),
        ({"parameters": {"lenslets": 4, "pixels": 8}, "auxiliary": {"command": "cmd"}},
         "the camera's mirror has 16 actuators"),
        ({"parameters": {"lenslets": 4, "pixels": 8}, "auxiliary": {"tilt": "cmd"}},
         "auxiliary.tilt: unknown alias (known: surface, command)"),
    ],
)
def test_bad_camera_parameters_name_the_source_and_field(source, message):
    config = SourceConfig.from_dict({"name": "camera", "kind": "fake.shack_hartmann",
                                     "stream": "img", **source})
    with pytest.raises(ConfigValidationError, match="^source 'camera': ") as info:
        get_default_registry().validate_source(
            config, specs(("img", (32, 32)), ("cmd", (25,))))
    assert message in str(info.value)


def test_bad_mirror_parameters_name_the_sink_and_field():
    shared = specs(("cmd", (24,)), ("surface", (32, 32)))
    config = SinkConfig.from_dict({"name": "dm", "kind": "fake.deformable_mirror",
                                   "stream": "cmd", "outputs": ["surface"],
                                   "parameters": {"n_act": 5}})
    with pytest.raises(ConfigValidationError, match="holds 24 commands, the mirror has 5x5"):
        get_default_registry().validate_sink(config, shared)
    config = SinkConfig.from_dict({"name": "dm", "kind": "fake.deformable_mirror",
                                   "stream": "cmd", "parameters": {"coupling": 2.0}})
    with pytest.raises(ConfigValidationError,
                       match=r"^sink 'dm': parameters.coupling: must be < 1"):
        get_default_registry().validate_sink(config, shared)


class SlopeRecorder(Sink):
    """Keeps (count, slope RMS) of every slopes frame it is handed."""

    kind = "test.slope_recorder"
    lock = threading.Lock()
    seen: list[tuple[int, float]] = []

    def consume_publication(self, publication, writers):
        rms = float(np.sqrt(np.mean(np.square(publication.payload, dtype=np.float64))))
        with SlopeRecorder.lock:
            SlopeRecorder.seen.append((publication.count, rms))


def test_closed_loop_across_endpoints_reduces_the_slopes():
    raw = yaml.safe_load(DEMO.read_text())
    raw["sinks"].append({"name": "recorder", "kind": "test.slope_recorder",
                         "stream": "slopes"})
    config = PipelineConfig.from_dict(raw, base_path=DEMO.parent)
    registry = get_default_registry().extended(sinks=[SlopeRecorder])
    SlopeRecorder.seen = []
    frames = 80
    with PipelineManager(config, registry=registry) as manager:
        manager.build()
        manager.start()
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline:
            manager.raise_if_failed()
            if manager.source_status()["camera"]["frames_written"] >= frames:
                break
            time.sleep(0.05)
        manager.raise_if_failed()
        mirror = manager.sink_status()["mirror"]["plugin_metrics"]
        camera = manager.source_status()["camera"]["plugin_metrics"]
        manager.stop()
    with SlopeRecorder.lock:
        seen = list(SlopeRecorder.seen)
    assert camera["frames_written"] >= frames
    assert mirror["commands"] >= frames // 2
    params = raw["sources"][0]["parameters"]
    fake = ShackHartmann({k: v for k, v in params.items()
                          if k not in ("seed", "rate_hz", "wait_for_feedback")},
                         seed=params["seed"])
    open_loop = float(np.sqrt(np.mean(tile_centroids(fake.frame(0), 8) ** 2)))
    assert open_loop > 0.4
    counts = [count for count, _ in seen]
    assert counts == sorted(counts) and len(seen) >= frames // 2
    if counts[0] == 1:  # frame 0 is the open loop, as the fake computes it
        assert seen[0][1] == pytest.approx(open_loop, rel=1e-4)
    late = [rms for count, rms in seen if count > frames // 2]
    assert late and max(late) < 0.5 * open_loop
    assert float(np.mean(late)) < 0.35 * open_loop
    # and it is the loop computed frame by frame (one frame of delay)
    expected = lockstep_slope_rms(raw, len(seen) and counts[-1])
    for count, rms in seen:
        assert rms == pytest.approx(expected[count - 1], rel=1e-3, abs=1e-4), count


def lockstep_slope_rms(raw, frames):
    """Slope RMS of frames 0..frames-1 of the demo loop computed in-process:
    camera(atmosphere - surface(command after frame n-1)), centroids,
    reconstructor, leaky integrator, clip."""
    params = dict(raw["sources"][0]["parameters"])
    seed = params.pop("seed")
    for key in ("rate_hz", "wait_for_feedback"):
        params.pop(key)
    camera = ShackHartmann(params, seed=seed)
    mirror = DeformableMirror(n_act=5, size=32)
    matrix = np.array(raw["shared_memory"][3]["initial"]["values"], np.float32)
    state = np.zeros(25, np.float32)
    command = None
    out = []
    for n in range(frames):
        phase = camera.atmosphere.phase(n)
        if command is not None:
            phase = phase - mirror.frame(0, command)
        slopes = tile_centroids(camera.expose(phase, n), 8).astype(np.float32)
        out.append(float(np.sqrt(np.mean(np.square(slopes, dtype=np.float64)))))
        state = np.float32(0.99) * state + np.float32(0.5) * (matrix @ slopes)
        command = np.clip(state, -10.0, 10.0)
    return out


def test_the_demo_reconstructor_is_the_fakes_calibration():
    """examples/fake_closed_loop.yaml's matrix is -pinv(IM) of its camera."""
    raw = yaml.safe_load(DEMO.read_text())
    params = {k: v for k, v in raw["sources"][0]["parameters"].items()
              if k not in ("seed", "rate_hz", "wait_for_feedback")}
    matrix = np.array(raw["shared_memory"][3]["initial"]["values"])
    np.testing.assert_allclose(matrix, reconstructor(ShackHartmann(params)), atol=1e-4)
