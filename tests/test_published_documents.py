"""Documents shaped like every CPU pipeline the published package ships as an
example (affine transform, basic AO loop and its 120x120 benchmark, custom
operation, observatory AO loop, source/sink plugin pipeline, tomographic AO
stress pipeline at a small size) validate and run here for a few hundred
frames, each checked against a NumPy reference where the values are
deterministic; plus a synchronised fan-in at the manager level whose branch
drops frames and then dies."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _controller_cases import SENSORS, TomographicReference

from shmpipeline import PipelineConfig, PipelineManager
from shmpipeline.errors import ConfigValidationError
from shmpipeline.graph import validate_pipeline_config
from shmpipeline.registry import get_default_registry
from shmpipeline.sink import Sink
from shmpipeline.source import Source

FRAMES = 300
WAIT_S = 30.0  # a generous bound on one reply, never a timing assertion


def f32(name: str, shape, **extra: Any) -> dict:
    return {"name": name, "shape": list(shape), "dtype": "float32", "storage": "cpu", **extra}


def stage(name: str, kind: str, source: str, target: str, **extra: Any) -> dict:
    return {"name": name, "kind": kind, "input": source, "output": target,
            "read_timeout": 0.1, **extra}


def checked(document: dict, registry: Any = None, **kwargs: Any) -> PipelineManager:
    """Validate the document (no problems) and return a manager for it."""
    config = PipelineConfig.from_dict(document, **kwargs)
    assert validate_pipeline_config(config, registry=registry) == []
    return PipelineManager(config, registry=registry)


def exchange(manager: PipelineManager, inputs: dict[str, np.ndarray], output: str,
             token: int) -> np.ndarray:
    """Write one frame on every input, wait for the output's next frame."""
    out = manager.get_stream(output)
    before = out.count
    for name, value in inputs.items():
        manager.get_stream(name).write(value, frame_id=token)
    out.wait_for_count(before, timeout=WAIT_S)
    return np.array(out.read(), copy=True)


def tiles(image: np.ndarray, tile: int) -> np.ndarray:
    """Per-tile intensity-weighted centroid about the tile centre, (r, c, 2)."""
    rows, cols = image.shape[0] // tile, image.shape[1] // tile
    patches = np.asarray(image, np.float64)[: rows * tile, : cols * tile]
    patches = patches.reshape(rows, tile, cols, tile).transpose(0, 2, 1, 3)
    total = patches.sum(axis=(2, 3))
    local = np.arange(tile) - (tile - 1) / 2
    safe = np.where(total > 0, total, 1.0)
    out = np.stack(
        [(patches.sum(axis=3) * local).sum(axis=2) / safe,
         (patches.sum(axis=2) * local).sum(axis=2) / safe],
        axis=-1,
    )
    return np.where((total > 0)[..., None], out, 0.0)


# --- affine transformation ---------------------------------------------------------


def test_affine_document_matches_numpy():
    document = {
        "shared_memory": [f32("x", (3,)), f32("A", (2, 3)), f32("b", (2,)), f32("y", (2,))],
        "kernels": [stage("affine", "cpu.affine_transform", "x", "y", auxiliary=["A", "b"])],
    }
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((2, 3)).astype(np.float32)
    offset = rng.standard_normal(2).astype(np.float32)
    with checked(document) as manager:
        manager.build()
        manager.get_stream("A").write(matrix)
        manager.get_stream("b").write(offset)
        manager.start()
        for token in range(1, FRAMES + 1):
            x = rng.standard_normal(3).astype(np.float32)
            got = exchange(manager, {"x": x}, "y", token)
            np.testing.assert_allclose(got, matrix @ x + offset, rtol=1e-5, atol=1e-6)
        assert manager.status()["workers"]["affine"]["frames_processed"] == FRAMES


# --- basic AO loop (and its 120x120 benchmark shape) -------------------------------


def ao_document(image: int, tile: int, actuators: int, gain: float, leak: float,
                integrator_gain: float) -> dict:
    grid = (image // tile, image // tile, 2)
    slopes = int(np.prod(grid))
    return {
        "shared_memory": [
            f32("wfs", (image, image)), f32("cents", grid), f32("cent_ref", grid),
            f32("cents_cal", grid), f32("slopes", (slopes,)),
            f32("recon", (actuators, slopes)), f32("recon_bias", (actuators,)),
            f32("open_loop", (actuators,)), f32("dm", (actuators,)),
        ],
        "kernels": [
            stage("centroid", "cpu.shack_hartmann_centroid", "wfs", "cents",
                  parameters={"tile_size": tile}),
            stage("calibrate", "cpu.scale_offset", "cents", "cents_cal",
                  auxiliary=["cent_ref"], parameters={"gain": gain}),
            stage("flatten", "cpu.flatten", "cents_cal", "slopes", parameters={}),
            stage("reconstruct", "cpu.affine_transform", "slopes", "open_loop",
                  auxiliary=["recon", "recon_bias"]),
            stage("integrate", "cpu.leaky_integrator", "open_loop", "dm",
                  parameters={"leak": leak, "gain": integrator_gain}),
        ],
    }


@pytest.mark.parametrize(
    "image, tile, actuators, gain, leak, integrator_gain",
    [(8, 2, 6, 1.75, 0.92, 0.35), (120, 8, 128, 1.0, 0.98, 0.3)],
    ids=["basic", "benchmark_120x120"],
)
def test_ao_loop_document_matches_numpy(image, tile, actuators, gain, leak,
                                        integrator_gain):
    document = ao_document(image, tile, actuators, gain, leak, integrator_gain)
    grid = (image // tile, image // tile, 2)
    rng = np.random.default_rng(image)
    reference_offset = rng.normal(0, 0.05, grid).astype(np.float32)
    recon = rng.normal(0, 0.1, (actuators, int(np.prod(grid)))).astype(np.float32)
    bias = rng.normal(0, 0.01, actuators).astype(np.float32)
    state = np.zeros(actuators)
    frames = 200
    with checked(document) as manager:
        manager.build()
        for name, value in (("cent_ref", reference_offset), ("recon", recon),
                            ("recon_bias", bias)):
            manager.get_stream(name).write(value)
        manager.start()
        for token in range(1, frames + 1):
            frame = (rng.random((image, image)) * 100).astype(np.float32)
            got = exchange(manager, {"wfs": frame}, "dm", token)
            slopes = (gain * tiles(frame, tile) - reference_offset).reshape(-1)
            state = leak * state + integrator_gain * (recon.astype(np.float64) @ slopes + bias)
            np.testing.assert_allclose(got, state, rtol=1e-4, atol=1e-5)


# --- custom operation ----------------------------------------------------------------


def test_custom_operation_document_matches_numpy():
    document = {
        "shared_memory": [f32("raw", (4, 4)), f32("dark", (4, 4)), f32("flat", (4, 4)),
                          f32("clean", (4, 4))],
        "kernels": [stage("calibrate", "cpu.custom_operation", "raw", "clean",
                          operation="(input - dark) / flat",
                          auxiliary={"dark": "dark", "flat": "flat"})],
    }
    rng = np.random.default_rng(5)
    dark = rng.random((4, 4)).astype(np.float32)
    flat = (0.5 + rng.random((4, 4))).astype(np.float32)
    with checked(document) as manager:
        manager.build()
        manager.get_stream("dark").write(dark)
        manager.get_stream("flat").write(flat)
        manager.start()
        for token in range(1, FRAMES + 1):
            raw = (rng.random((4, 4)) * 10).astype(np.float32)
            got = exchange(manager, {"raw": raw}, "clean", token)
            np.testing.assert_allclose(got, (raw - dark) / flat, rtol=1e-6)


# --- observatory AO loop (256x256 WFS, 1024 actuators, clipped) -----------------------


def test_observatory_document_matches_numpy():
    image, tile, actuators = 256, 8, 1024
    grid = (image // tile, image // tile, 2)
    slopes = int(np.prod(grid))
    document = {
        "shared_memory": [
            f32("wfs", (image, image)), f32("cents", grid), f32("slopes", (slopes,)),
            f32("control_matrix", (actuators, slopes)), f32("modal_bias", (actuators,)),
            f32("open_loop", (actuators,)), f32("integrated", (actuators,)),
            f32("low", (actuators,), initial={"pattern": "constant", "value": -0.2}),
            f32("high", (actuators,), initial={"pattern": "constant", "value": 0.2}),
            f32("dm", (actuators,)),
        ],
        "kernels": [
            stage("centroid", "cpu.shack_hartmann_centroid", "wfs", "cents",
                  parameters={"tile_size": tile}),
            stage("flatten", "cpu.flatten", "cents", "slopes"),
            stage("reconstruct", "cpu.affine_transform", "slopes", "open_loop",
                  auxiliary=["control_matrix", "modal_bias"]),
            stage("integrate", "cpu.leaky_integrator", "open_loop", "integrated",
                  parameters={"leak": 0.985, "gain": 0.28}),
            stage("saturate", "cpu.custom_operation", "integrated", "dm",
                  operation="clip(input, low, high)",
                  auxiliary={"low": "low", "high": "high"}),
        ],
    }
    rng = np.random.default_rng(11)
    matrix = rng.normal(0, 0.01, (actuators, slopes)).astype(np.float32)
    bias = rng.normal(0, 0.01, actuators).astype(np.float32)
    state = np.zeros(actuators)
    with checked(document) as manager:
        manager.build()
        manager.get_stream("control_matrix").write(matrix)
        manager.get_stream("modal_bias").write(bias)
        manager.start()
        for token in range(1, 201):
            frame = (rng.random((image, image)) * 50).astype(np.float32)
            got = exchange(manager, {"wfs": frame}, "dm", token)
            state = 0.985 * state + 0.28 * (
                matrix.astype(np.float64) @ tiles(frame, tile).reshape(-1) + bias)
            np.testing.assert_allclose(got, np.clip(state, -0.2, 0.2), rtol=1e-4, atol=1e-5)
        assert manager.status()["workers"]["saturate"]["frames_processed"] == 200


# --- source/sink plugin pipeline ------------------------------------------------------


class RampCamera(Source):
    """A camera stand-in: frame k is ``k + row/10`` (k counts from 1)."""

    kind = "test.ramp_camera"
    storage = "cpu"

    @classmethod
    def validate_config(cls, config, shared_memory) -> None:
        super().validate_config(config, shared_memory)
        if len(shared_memory[config.stream].shape) != 2:
            raise ConfigValidationError(f"source {config.name!r} needs a 2D frame stream")

    def open(self) -> None:
        shape = self.context.stream_spec.shape
        self._rows = np.indices(shape)[0].astype(np.float32) / 10
        self._index = 0

    def read(self) -> np.ndarray | None:
        if self.wait(float(self.context.config.parameters.get("period_s", 0.0))):
            return None  # stopping
        self._index += 1
        return self._rows + np.float32(self._index)


class NpyArchive(Sink):
    """Save the first ``max_saved_frames`` frames to ``output_dir`` (which
    resolves beside the document)."""

    kind = "test.npy_archive"
    storage = "cpu"

    @classmethod
    def validate_config(cls, config, shared_memory) -> None:
        super().validate_config(config, shared_memory)
        if not str(config.parameters.get("output_dir", "")).strip():
            raise ConfigValidationError(f"sink {config.name!r} needs an output_dir")

    def open(self) -> None:
        params = self.context.config.parameters
        self._dir = Path(self.context.config_base_dir) / str(params["output_dir"])
        self._dir.mkdir(parents=True, exist_ok=True)
        self._limit = int(params.get("max_saved_frames", 8))
        self._saved = 0

    def consume(self, value: Any) -> None:
        if self._saved < self._limit:
            np.save(self._dir / f"frame_{self._saved:04d}.npy", np.array(value, copy=True))
            self._saved += 1


def test_source_sink_plugin_document_runs_through_registered_plugins(tmp_path):
    document = {
        "shared_memory": [f32("camera_frame", (16, 16)), f32("processed_frame", (16, 16))],
        "sources": [{"name": "camera", "kind": "test.ramp_camera", "stream": "camera_frame",
                     "parameters": {"period_s": 0.0005}, "poll_interval": 0.02}],
        "kernels": [stage("normalize", "cpu.scale", "camera_frame", "processed_frame",
                          parameters={"factor": 0.5}, pause_sleep=0.01)],
        "sinks": [{"name": "archive", "kind": "test.npy_archive", "stream": "processed_frame",
                   "parameters": {"output_dir": "output", "max_saved_frames": 8},
                   "read_timeout": 0.1, "pause_sleep": 0.01}],
    }
    registry = get_default_registry().extended(sources=(RampCamera,), sinks=(NpyArchive,))
    manager = checked(document, registry=registry, base_path=tmp_path)
    with manager:
        manager.build()
        manager.start()
        deadline = time.monotonic() + 60
        while manager.status()["sinks"]["archive"]["frames_consumed"] < FRAMES:
            manager.raise_if_failed()
            assert time.monotonic() < deadline, manager.status()["sinks"]
            time.sleep(0.02)
        status = manager.status()
    assert status["sources"]["camera"]["frames_written"] >= FRAMES
    saved = sorted((tmp_path / "output").glob("frame_*.npy"))
    assert len(saved) == 8
    rows = np.indices((16, 16))[0].astype(np.float32) / 10
    indices = []
    for path in saved:
        frame = np.load(path)
        index = round(float(frame[0, 0]) * 2)  # 0.5 * (k + 0)
        np.testing.assert_allclose(frame, 0.5 * (rows + np.float32(index)), rtol=1e-6)
        indices.append(index)
    assert indices == sorted(indices) and len(set(indices)) == 8  # in order, no repeats


# --- tomographic AO stress pipeline, small ----------------------------------------------

IMAGE, TILE, ACTUATORS = (8, 8), 4, 16


def tomographic_document(with_sources: bool) -> dict:
    """Eight WFS under matching_frame_id into one tomographic controller, and
    two tip/tilt loops; with its synthetic sources and null sinks or driven
    frame by frame."""
    centroids = (IMAGE[0] // TILE, IMAGE[1] // TILE, 2)
    slopes = SENSORS * int(np.prod(centroids))
    streams, auxiliary = [], {}
    for i in range(SENSORS):
        streams += [f32(f"wfs{i}", IMAGE), f32(f"wfs{i}_dark", IMAGE),
                    f32(f"wfs{i}_flat", IMAGE, initial={"pattern": "constant", "value": 1.0}),
                    f32(f"wfs{i}_ref", centroids)]
        auxiliary |= {f"wfs{i}_dark": f"wfs{i}_dark", f"wfs{i}_inverse_flat": f"wfs{i}_flat",
                      f"wfs{i}_slope_offset": f"wfs{i}_ref"}
    streams += [
        f32("recon", (ACTUATORS, slopes),
            initial={"pattern": "normal", "seed": 7, "mean": 0.0, "std": 0.05}),
        f32("recon_bias", (ACTUATORS,), initial={"pattern": "normal", "seed": 8, "std": 0.02}),
        f32("cmd_offset", (ACTUATORS,), initial={"pattern": "normal", "seed": 9, "std": 0.01}),
        f32("cmd_low", (ACTUATORS,), initial={"pattern": "constant", "value": -2.5}),
        f32("cmd_high", (ACTUATORS,), initial={"pattern": "constant", "value": 2.5}),
        f32("dm", (ACTUATORS,)),
    ]
    auxiliary |= {"reconstructor": "recon", "reconstructor_bias": "recon_bias",
                  "command_offset": "cmd_offset", "command_low": "cmd_low",
                  "command_high": "cmd_high"}
    kernels = [{
        "name": "tomo", "kind": "cpu.tomographic_controller",
        "inputs": [f"wfs{i}" for i in range(SENSORS)], "trigger_policy": "all_new",
        # driven frame by frame there is no max_wait_s: a loaded machine may
        # pause between the eight writes, and an abandoned set would never reply
        "synchronization": {"mode": "matching_frame_id", "max_skew_generations": 32,
                            **({"max_wait_s": 0.05} if with_sources else {})},
        "output": "dm", "auxiliary": auxiliary, "read_timeout": 1.0,
        "parameters": {"tile_size": TILE, "slope_gain": 1.0, "leak": 0.985,
                       "control_gain": 0.28, "command_gain": 1.0},
    }]
    sources, sinks = [], [{"name": "dm_sink", "kind": "null.sink", "stream": "dm",
                           "read_timeout": 0.5}]
    for loop, angle, leak in (("a", 12.0, 0.97), ("b", -7.0, 0.94)):
        c, s = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
        streams += [
            f32(f"tt_{loop}_image", (16, 16)),
            f32(f"tt_{loop}_rotation", (2, 2),
                initial={"pattern": "values", "values": [[c, -s], [s, c]]}),
            f32(f"tt_{loop}_bias", (2,), initial={"pattern": "normal", "seed": 50, "std": 0.01}),
            f32(f"tt_{loop}_command", (2,)),
        ]
        kernels.append(stage(f"tt_{loop}", "cpu.tip_tilt_controller", f"tt_{loop}_image",
                             f"tt_{loop}_command",
                             auxiliary=[f"tt_{loop}_rotation", f"tt_{loop}_bias"],
                             parameters={"background": 0.0, "threshold": 0.0, "leak": leak,
                                         "control_gain": 0.3}))
        sinks.append({"name": f"tt_{loop}_sink", "kind": "null.sink",
                      "stream": f"tt_{loop}_command", "read_timeout": 0.5})
        sources.append({"name": f"tt_{loop}_source", "kind": "synthetic.array",
                        "stream": f"tt_{loop}_image",
                        "parameters": {"pattern": "random", "seed": 11, "amplitude": 1.0,
                                       "offset": 10.0, "rate_hz": 1000.0}})
    sources.insert(0, {"name": "cameras", "kind": "synthetic.frame_set",
                       "streams": [f"wfs{i}" for i in range(SENSORS)],
                       "parameters": {"pattern": "random", "seed": 2401, "amplitude": 1.0,
                                      "offset": 10.0, "rate_hz": 1000.0, "jitter_us": 0.0,
                                      "assign_frame_id": True}})
    document = {"shared_memory": streams, "kernels": kernels, "sinks": sinks}
    if with_sources:
        document["sources"] = sources
    return document


def test_tomographic_stress_document_runs_on_its_own_sources():
    with checked(tomographic_document(with_sources=True)) as manager:
        manager.build()
        manager.start()
        dm = manager.get_stream("dm")
        deadline = time.monotonic() + 120
        while dm.count < FRAMES:
            manager.raise_if_failed()
            assert time.monotonic() < deadline, manager.status()["workers"]["tomo"]
            time.sleep(0.02)
        status = manager.status()
        command = np.array(dm.read(), copy=True)
    tomo = status["workers"]["tomo"]
    assert tomo["frames_processed"] >= FRAMES
    assert {"frame_sync_skew_events", "frame_sync_skipped_generations",
            "frame_sync_timeouts"} <= set(tomo)
    assert np.all(np.isfinite(command)) and np.any(command != 0)
    assert np.all(np.abs(command) <= 2.5)
    assert status["sinks"]["dm_sink"]["frames_consumed"] > 0
    assert status["sources"]["cameras"]["frames_written"] >= FRAMES


def tip_tilt_step(image, state, leak, gain, rotation, bias):
    weights = np.asarray(image, np.float64)
    total = weights.sum()
    rows, cols = np.indices(weights.shape)
    centre = ((weights.shape[0] - 1) / 2, (weights.shape[1] - 1) / 2)
    centroid = np.array([(weights * rows).sum() / total - centre[0],
                         (weights * cols).sum() / total - centre[1]])
    state = leak * state + gain * centroid
    return state, rotation @ state + bias


def test_tomographic_stress_document_matches_numpy_frame_by_frame():
    document = tomographic_document(with_sources=False)
    config = PipelineConfig.from_dict(document)
    tomo_config = config.kernels[0]
    rng = np.random.default_rng(21)
    with checked(document) as manager:
        manager.build()
        aux = {}
        for binding in tomo_config.auxiliary:
            stream = manager.get_stream(binding.name)
            if binding.alias.endswith(("dark", "slope_offset")):
                stream.write(rng.normal(0, 0.1, stream.shape).astype(np.float32))
            aux[binding.alias] = np.array(stream.read(), np.float64)
        rotation = np.array(manager.get_stream("tt_a_rotation").read(), np.float64)
        tt_bias = np.array(manager.get_stream("tt_a_bias").read(), np.float64)
        manager.start()
        reference = TomographicReference(tomo_config, ACTUATORS)
        tt_state = np.zeros(2)
        for token in range(1, FRAMES + 1):
            images = [(10 + 5 * rng.random(IMAGE)).astype(np.float32) for _ in range(SENSORS)]
            got = exchange(manager, {f"wfs{i}": im for i, im in enumerate(images)}, "dm", token)
            np.testing.assert_allclose(got, reference.step(images, aux), rtol=1e-4, atol=1e-5)
            tt_image = (10 + rng.random((16, 16))).astype(np.float32)
            tt = exchange(manager, {"tt_a_image": tt_image}, "tt_a_command", token)
            tt_state, expected = tip_tilt_step(tt_image, tt_state, 0.97, 0.3, rotation, tt_bias)
            np.testing.assert_allclose(tt, expected, rtol=1e-4, atol=1e-6)
        tomo = manager.status()["workers"]["tomo"]
    assert tomo["frames_processed"] == FRAMES and tomo["frame_sync_timeouts"] == 0


# --- fan-in under matching_frame_id at the manager level --------------------------------


def test_fan_in_combines_only_equal_tokens_and_outlives_a_dead_branch():
    document = {
        "shared_memory": [f32("a", (2,)), f32("b", (2,)), f32("joined", (4,))],
        "kernels": [{"name": "join", "kind": "cpu.concatenate", "inputs": ["a", "b"],
                     "output": "joined", "trigger_policy": "all_new",
                     "synchronization": {"mode": "matching_frame_id",
                                         "max_skew_generations": 8, "max_wait_s": 0.05},
                     "propagate_frame_id": True}],
    }
    # b drops the rest; the last one is kept, so no set is pending at the end
    kept = [t for t in range(1, 60) if t % 3 != 0 and t % 7 != 0]
    with checked(document) as manager:
        manager.build()
        manager.start()
        a, b = manager.get_stream("a"), manager.get_stream("b")
        out = manager.get_stream("joined")
        for token in range(1, 60):
            if token in kept:  # b's frame first, so a's completes the set at once
                b.write(np.full(2, -token, np.float32), frame_id=token)
            before = out.count
            a.write(np.full(2, token, np.float32), frame_id=token)
            if token in kept:
                out.wait_for_count(before, timeout=WAIT_S)
                assert out.frame_id == token
                assert out.read().tolist() == [token, token, -token, -token]
                assert out.count == kept.index(token) + 1  # nothing else combined
        # b dies: a's next frame waits for it at most max_wait_s, then is given up
        timeouts = manager.status()["workers"]["join"]["frame_sync_timeouts"]
        a.write(np.full(2, 100, np.float32), frame_id=100)
        deadline = time.monotonic() + WAIT_S
        while manager.status()["workers"]["join"]["frame_sync_timeouts"] == timeouts:
            assert time.monotonic() < deadline, "the dead branch was never abandoned"
            time.sleep(0.01)
        assert out.count == len(kept)  # the abandoned set published nothing
        # b comes back: the fan-in is not stuck on the abandoned set
        b.write(np.full(2, -101, np.float32), frame_id=101)
        a.write(np.full(2, 101, np.float32), frame_id=101)
        out.wait_for_count(len(kept), timeout=WAIT_S)
        assert out.frame_id == 101 and out.read().tolist() == [101, 101, -101, -101]
        status = manager.status()
    join = status["workers"]["join"]
    assert join["frames_processed"] == len(kept) + 1
    assert join["frame_sync_timeouts"] >= 1 and status["failures"] == []
