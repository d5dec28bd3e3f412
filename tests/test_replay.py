"""Lockstep replay over the real multi-process pipeline: values against
NumPy, lockstep semantics (same-frame auxiliaries, feedback loops lagging
one frame), failures, timeouts, free-running statistics, and equality with
the inline reference executor."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, reject, settings

from shmpipeline.config import PipelineConfig
from shmpipeline.errors import ScenarioError
from shmpipeline.registry import get_default_registry
from shmpipeline.testing import strategies as sps
from shmpipeline.testing.inline import InlineExecutor, captures_equal, run_inline
from shmpipeline.testing.replay import replay, triggered_kernels
from shmpipeline.testing.scenario import (
    Scenario,
    declared_requirements,
    find_scenarios,
    load_scenario,
    scenario_from_config,
)

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
#: replays per shipped scenario in the determinism test (10 for the full bar)
REPLAYS = int(os.environ.get("SHMPIPELINE_REPLAYS", "2"))
#: random pipelines in the opt-in long equality test
LONG_EXAMPLES = int(os.environ.get("SHMPIPELINE_LONG_EXAMPLES", "200"))


def scenario(pipeline: dict, inputs: dict, registry=None, **fields) -> Scenario:
    return Scenario.from_dict(
        {"name": "t", "pipeline": pipeline, "inputs": inputs, **fields},
        registry=registry,
    )


def ramp(n: int, size: int, period: float, amplitude: float = 1.0) -> np.ndarray:
    """The synthetic ramp pattern: A * ((i + n) mod P) / max(P - 1, 1), float64."""
    i = np.arange(size, dtype=np.float64)
    return amplitude * np.mod(i + n, period) / max(period - 1, 1)


def test_values_match_numpy_through_two_stages():
    pipe = {
        "shared_memory": [
            {"name": "x", "shape": [3, 4], "dtype": "float32"},
            {"name": "y", "shape": [3, 4], "dtype": "float32"},
            {"name": "z", "shape": [3, 4], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "a",
                "kind": "cpu.scale",
                "input": "x",
                "output": "y",
                "parameters": {"factor": 2.0},
            },
            {
                "name": "b",
                "kind": "cpu.add_constant",
                "input": "y",
                "output": "z",
                "parameters": {"constant": -1.0},
            },
        ],
    }
    frames = 12
    result = replay(
        scenario(
            pipe,
            {"x": {"synthetic": {"pattern": "ramp", "period": 7}}},
            frames=frames,
            capture=["x", "y", "z"],
        )
    )
    assert result.ok and result.frames_completed == frames
    x = np.stack([ramp(n, 12, 7).reshape(3, 4) for n in range(frames)]).astype(
        np.float32
    )
    np.testing.assert_array_equal(result.captures["x"], x)
    np.testing.assert_array_equal(result.captures["y"], x * np.float32(2))
    np.testing.assert_array_equal(
        result.captures["z"], x * np.float32(2) - np.float32(1)
    )
    assert result.latency is not None and result.latency.count == frames


def test_auxiliary_from_upstream_is_the_same_frame():
    """c = a + b with b = 2a produced by another process: lockstep makes the
    adder wait for b's frame k, so c is exactly 3a every frame."""
    pipe = {
        "shared_memory": [
            {"name": "a", "shape": [64], "dtype": "float64"},
            {"name": "b", "shape": [64], "dtype": "float64"},
            {"name": "c", "shape": [64], "dtype": "float64"},
        ],
        "kernels": [
            {
                "name": "add",
                "kind": "cpu.elementwise_add",
                "input": "a",
                "output": "c",
                "auxiliary": ["b"],
            },
            {
                "name": "double",
                "kind": "cpu.scale",
                "input": "a",
                "output": "b",
                "parameters": {"factor": 2.0},
            },
        ],
    }
    result = replay(
        scenario(
            pipe,
            {"a": {"synthetic": {"pattern": "random"}}},
            frames=30,
            capture=["a", "c"],
        )
    )
    assert result.ok
    a = result.captures["a"]
    np.testing.assert_array_equal(result.captures["c"], a + 2.0 * a)


def test_feedback_loop_sees_the_previous_frame():
    """y_k = x_k + fb_{k-1}, fb_k = y_k / 2: the auxiliary closing the loop
    is read one frame late, deterministically."""
    pipe = {
        "shared_memory": [
            {"name": "x", "shape": [5], "dtype": "float32"},
            {"name": "fb", "shape": [5], "dtype": "float32"},
            {"name": "y", "shape": [5], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "sum",
                "kind": "cpu.custom_operation",
                "input": "x",
                "output": "y",
                "auxiliary": ["fb"],
                "operation": "input + fb",
            },
            {
                "name": "back",
                "kind": "cpu.scale",
                "input": "y",
                "output": "fb",
                "parameters": {"factor": 0.5},
            },
        ],
    }
    frames = 25
    loop = scenario(
        pipe,
        {"x": {"synthetic": {"pattern": "ramp", "period": 3}}},
        frames=frames,
        capture=["y", "fb"],
    )
    result = replay(loop)
    assert result.ok
    fb = np.zeros(5, np.float32)
    ys, fbs = [], []
    for n in range(frames):
        y = ramp(n, 5, 3).astype(np.float32) + fb
        fb = y * np.float32(0.5)
        ys.append(y)
        fbs.append(fb)
    np.testing.assert_array_equal(result.captures["y"], np.stack(ys))
    np.testing.assert_array_equal(result.captures["fb"], np.stack(fbs))
    assert captures_equal(result.captures, run_inline(loop).captures)


def test_static_inputs_are_written_before_the_first_frame():
    pipe = {
        "shared_memory": [
            {"name": "x", "shape": [4], "dtype": "float32"},
            {"name": "A", "shape": [2, 4], "dtype": "float32"},
            {"name": "b", "shape": [2], "dtype": "float32"},
            {"name": "y", "shape": [2], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "affine",
                "kind": "cpu.affine_transform",
                "input": "x",
                "output": "y",
                "auxiliary": {"matrix": "A", "offset": "b"},
            },
        ],
    }
    A = [[1, 2, 3, 4], [0, 1, 0, -1]]
    result = replay(
        scenario(
            pipe,
            {
                "x": {"synthetic": {"pattern": "ramp", "period": 5}},
                "A": {"constant": A},
                "b": {"constant": [0.5, -0.5]},
            },
            frames=6,
        )
    )
    assert result.ok
    for n in range(6):
        x = ramp(n, 4, 5).astype(np.float32)
        expected = np.asarray(A, np.float32) @ x + np.asarray([0.5, -0.5], np.float32)
        np.testing.assert_allclose(result.captures["y"][n], expected, rtol=1e-6)


FAULTY = {
    "shared_memory": [
        {"name": "x", "shape": [4], "dtype": "float32"},
        {"name": "y", "shape": [4], "dtype": "float32"},
        {"name": "z", "shape": [4], "dtype": "float32"},
    ],
    "kernels": [
        {"name": "ok", "kind": "cpu.copy", "input": "x", "output": "y"},
        {
            "name": "boom",
            "kind": "cpu.raise_error",
            "input": "y",
            "output": "z",
            "parameters": {"message": "calibration lost"},
        },
    ],
}


def test_expected_failure_is_met():
    result = replay(
        scenario(
            FAULTY,
            {"x": {"synthetic": "ramp"}},
            frames=3,
            expect_failure={"kernel": "boom", "error": "calibration lost"},
        )
    )
    assert result.failure is not None
    assert (result.failure.kernel, result.failure.frame) == ("boom", 0)
    assert "calibration lost" in result.failure.error
    # the account and the worker's traceback travel apart, never re-split
    assert "worker traceback" not in result.failure.error
    assert "Traceback (most recent call last)" in result.failure.traceback
    assert result.expected_failure_met and result.ok and result.problem() is None


def test_unexpected_or_wrong_failure_is_reported():
    result = replay(scenario(FAULTY, {"x": {"synthetic": "ramp"}}, frames=3))
    assert not result.ok
    assert result.problem().startswith("kernel 'boom' failed at frame 0: ")
    assert "calibration lost" in result.problem()
    wrong = replay(
        scenario(
            FAULTY,
            {"x": {"synthetic": "ramp"}},
            frames=3,
            expect_failure={"kernel": "boom", "error": "other text"},
        )
    )
    assert not wrong.ok
    assert "expected kernel 'boom' to fail with 'other text'" in wrong.problem()


def test_failure_while_starting_is_reported():
    from _runtime_kernels import FailingInitKernel

    registry = get_default_registry().extended(FailingInitKernel)
    pipe = {
        "shared_memory": [
            {"name": "x", "shape": [4], "dtype": "float32"},
            {"name": "y", "shape": [4], "dtype": "float32"},
        ],
        "kernels": [
            {"name": "cal", "kind": "test.failing_init", "input": "x", "output": "y"}
        ],
    }
    config = PipelineConfig.from_dict(pipe)
    result = replay(scenario_from_config(config, frames=2), registry=registry)
    assert result.failure is not None and result.failure.kernel == "cal"
    assert (
        result.failure.frame is None and "bad calibration file" in result.failure.error
    )
    assert result.frames_completed == 0 and result.captures["y"].shape == (0, 4)


def test_a_frame_slower_than_the_timeout_fails_the_run():
    from _replay_kernels import SleepyCopyKernel

    registry = get_default_registry().extended(SleepyCopyKernel)
    pipe = {
        "shared_memory": [
            {"name": "x", "shape": [4], "dtype": "float32"},
            {"name": "y", "shape": [4], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "slow",
                "kind": "test.sleepy_copy",
                "input": "x",
                "output": "y",
                "parameters": {"sleep": 1.0},
            }
        ],
    }
    slow = scenario(pipe, {"x": {"synthetic": "ramp"}}, registry, frames=3, timeout=0.2)
    result = replay(slow, registry=registry)
    assert result.failure is not None and result.failure.kernel is None
    assert "timeout: stream 'y' did not publish frame 1 (id 2)" in result.failure.error
    assert (
        not result.ok and result.frames_completed == 1
    )  # frame 0 had the start-up grace


def test_free_running_reports_statistics_not_values():
    pipe = {
        "shared_memory": [
            {"name": "x", "shape": [8, 8], "dtype": "float32"},
            {"name": "y", "shape": [8, 8], "dtype": "float32"},
        ],
        "kernels": [
            {
                "name": "s",
                "kind": "cpu.scale",
                "input": "x",
                "output": "y",
                "parameters": {"factor": 3.0},
            }
        ],
    }
    result = replay(
        scenario(
            pipe,
            {"x": {"synthetic": "random"}},
            mode="free_running",
            rate_hz=400,
            duration=0.1,
        )
    )
    assert result.ok and result.mode == "free_running"
    assert dict(result.captures) == {}
    stats = result.latency
    assert stats.frames_written == 40 and stats.source_dropped == 0
    assert 0 <= stats.dropped <= 40
    assert stats.per_sink_delivered["y"] == 40 - stats.dropped
    assert stats.count >= 1 and stats.p50_us <= stats.p99_us <= stats.max_us
    assert "latency p50" in stats.format()


def test_triggered_kernels_follow_trigger_edges_only():
    config = PipelineConfig.from_dict(
        {
            "shared_memory": [
                {"name": n, "shape": [2], "dtype": "float32"} for n in "abcdef"
            ],
            "kernels": [
                {"name": "k1", "kind": "cpu.copy", "input": "a", "output": "b"},
                {
                    "name": "k2",
                    "kind": "cpu.elementwise_add",
                    "input": "d",
                    "output": "c",
                    "auxiliary": ["b"],
                },
                {"name": "k3", "kind": "cpu.copy", "input": "b", "output": "e"},
                {"name": "k4", "kind": "cpu.copy", "input": "e", "output": "f"},
            ],
        }
    )
    assert triggered_kernels(config, ["a"]) == ("k1", "k3", "k4")
    assert triggered_kernels(config, ["d"]) == ("k2",)
    assert triggered_kernels(config, []) == ()


def test_inline_executor_steps_in_topological_order():
    config = PipelineConfig.from_dict(
        {
            "shared_memory": [
                {"name": n, "shape": [3], "dtype": "float64"} for n in ("x", "m", "o")
            ],
            # listed consumer-first: the executor must still run 'double' first
            "kernels": [
                {
                    "name": "add",
                    "kind": "cpu.elementwise_add",
                    "input": "x",
                    "output": "o",
                    "auxiliary": ["m"],
                },
                {
                    "name": "double",
                    "kind": "cpu.scale",
                    "input": "x",
                    "output": "m",
                    "parameters": {"factor": 2.0},
                },
            ],
        }
    )
    executor = InlineExecutor(config)
    executor.write("x", np.array([1.0, 2.0, 3.0]))
    assert executor.step(["x"]) == ("double", "add")
    np.testing.assert_array_equal(executor.read("o"), [3.0, 6.0, 9.0])
    assert executor.step([]) == ()


# --- shipped scenarios ------------------------------------------------------------------


def _lockstep_cpu_scenarios() -> list:
    params = []
    for path in find_scenarios([SCENARIOS]):
        if "gpu" in declared_requirements(path):
            continue  # (and validating gpu kinds would import torch here)
        loaded = load_scenario(path)
        if loaded.mode == "lockstep" and "gpu" not in loaded.requirements:
            params.append(pytest.param(path, id=loaded.name))
    return params


@pytest.mark.parametrize("workers", ["pool", "processes"])
@pytest.mark.parametrize("path", _lockstep_cpu_scenarios())
def test_shipped_scenario_replays_are_bit_identical_and_equal_inline(path, workers):
    """Bit-identical run after run, equal to the inline executor, on the
    shared worker pool and with a new process per kernel alike."""
    loaded = load_scenario(path)
    reference = run_inline(loaded)
    for _ in range(REPLAYS):
        result = replay(loaded, workers=None if workers == "pool" else False)
        assert result.ok, result.problem()
        assert result.frames_completed == reference.frames_completed
        assert captures_equal(result.captures, reference.captures)
        if loaded.expect_failure is not None:
            assert result.failure.kernel == reference.failure.kernel
    assert reference.ok


# --- random pipelines: replay == inline --------------------------------------------------


def _check_random_pipeline(config: PipelineConfig, spawn_method: str | None = None) -> None:
    try:
        generated = scenario_from_config(config, frames=3)
    except ScenarioError as exc:  # two sources feeding each other's kernels
        # two sources, or a longer cycle of them (see test_scenario)
        assert re.search("cannot (both|all) be replayed deterministically", str(exc))
        reject()
    # None: the shared worker pool (warm processes, the harness default);
    # the long opt-in run uses spawn, a new process per kernel
    result = replay(generated, timeout=30, spawn_method=spawn_method)
    assert result.failure is None, result.failure
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. integer division by zero
        reference = run_inline(generated)
    assert reference.failure is None, reference.failure
    for name, captured in result.captures.items():
        expected = reference.captures[name]
        assert captured.dtype == expected.dtype and captured.shape == expected.shape
        assert captured.tobytes() == expected.tobytes(), (name, config.to_dict())


RANDOM = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@RANDOM
@given(sps.pipeline_configs(min_kernels=1, max_kernels=2))
def test_replay_equals_inline_on_small_random_pipelines(config):
    _check_random_pipeline(config)


@RANDOM
@given(sps.pipeline_configs(min_kernels=3, max_kernels=4))
def test_replay_equals_inline_on_larger_random_pipelines(config):
    _check_random_pipeline(config)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(
    not os.environ.get("SHMPIPELINE_LONG"),
    reason="long run (set SHMPIPELINE_LONG=1; SHMPIPELINE_LONG_EXAMPLES, default 200)",
)
@settings(RANDOM, max_examples=LONG_EXAMPLES)
@given(sps.pipeline_configs(max_kernels=5))
def test_replay_equals_inline_on_many_random_pipelines(config):
    _check_random_pipeline(config, spawn_method="spawn")


def test_dropped_and_stuck_camera_frames():
    """Dropped frames run nothing (every stream keeps its value); stuck
    frames repeat the camera image and are integrated again."""
    loaded = load_scenario(SCENARIOS / "dropped_stuck_frames.yaml")
    result = replay(loaded)
    assert result.ok
    assert result.dropped_frames == (4, 9, 10, 26, 27, 28, 29)  # drop + stop_after 26
    camera, slopes, integrated = (
        result.captures[name] for name in ("camera", "slopes", "integrated")
    )
    for k in result.dropped_frames:
        np.testing.assert_array_equal(camera[k], camera[k - 1])
        np.testing.assert_array_equal(integrated[k], integrated[k - 1])
    for k in (6, 15):  # stuck: same image, same slopes, integrated once more
        np.testing.assert_array_equal(camera[k], camera[k - 1])
        np.testing.assert_array_equal(slopes[k], slopes[k - 1])
        expected = np.float32(0.9) * integrated[k - 1] + np.float32(0.5) * slopes[k]
        np.testing.assert_allclose(integrated[k], expected, rtol=1e-6, atol=1e-7)
    fresh = [k for k in range(1, 26) if k not in (4, 6, 9, 10, 11, 15)]
    assert all(not np.array_equal(camera[k], camera[k - 1]) for k in fresh)
    assert (camera == 4000.0).sum(axis=(1, 2))[0] == 2  # two saturated pixels
    stats = result.latency
    assert stats.source_dropped == 7 and stats.frames_written == 23


def test_closed_loop_feeds_the_mirror_command_back():
    """Frame k of the camera is computed from dm_command after frame k-1:
    the loop reduces the residual slopes the open loop shows."""
    loaded = load_scenario(SCENARIOS / "ao_closed_loop.yaml")
    closed = replay(loaded)
    assert closed.ok
    reference = run_inline(loaded)
    assert captures_equal(closed.captures, reference.captures)
    from dataclasses import replace

    open_loop = replace(
        loaded,
        pipeline=replace(
            loaded.pipeline,
            kernels=tuple(
                replace(k, parameters={"leak": 0.99, "gain": 0.0})
                if k.name == "integrator"
                else k
                for k in loaded.pipeline.kernels
            ),
        ),
    )
    opened = run_inline(open_loop)
    assert not opened.captures["dm_command"].any()
    rms = lambda s: float(np.sqrt((s[10:] ** 2).mean()))  # noqa: E731
    assert rms(closed.captures["slopes"]) < 0.8 * rms(opened.captures["slopes"])


def test_shipped_free_running_scenario_reports_latency():
    from shmpipeline.testing.runner import check_scenario
    from shmpipeline.testing.sources import SourcePlan

    loaded = load_scenario(SCENARIOS / "free_running_jitter.yaml")
    delays = [SourcePlan(loaded).delay(k) for k in range(50)]
    assert all(0.0 <= d <= 0.002 for d in delays) and len(set(delays)) > 1
    assert delays == [SourcePlan(loaded).delay(k) for k in range(50)]  # seeded
    outcome = check_scenario(loaded)
    assert outcome.ok and outcome.status == "passed"
    stats = outcome.result.latency
    assert stats.frames_written == 100 and stats.count >= 1
    assert "latency p50" in outcome.format()
