"""The gain_loop scenario against its golden, and the kernel on the fakes."""

from __future__ import annotations

import dataclasses

import numpy as np
from shmpipeline.config import KernelConfig, PipelineConfig, SharedMemoryConfig
from shmpipeline.registry import get_default_registry
from shmpipeline.testing import PhaseScreen, check_scenario, run_inline
from shmpipeline.testing.scenario import load_scenario


def test_gain_loop_matches_its_golden(run_scenario):
    outcome = run_scenario("gain_loop")
    assert outcome.ok, outcome.format()


def test_gain_loop_inline_is_the_replay():
    """The in-process executor gives what the golden holds (same kernels)."""
    scenario = load_scenario("scenarios/gain_loop.yaml", allow_outside_paths=True)
    outcome = check_scenario(scenario, result=run_inline(scenario))
    assert outcome.ok, outcome.format()


def test_steps_are_clipped_and_commands_integrate_them():
    scenario = load_scenario("scenarios/gain_loop.yaml", allow_outside_paths=True)
    result = run_inline(scenario)
    step, command = result.captures["step"], result.captures["command"]
    assert step.shape == (30, 8) and np.max(np.abs(step)) <= 0.5
    expected = np.zeros(8, np.float32)
    for k in range(30):
        expected = np.float32(0.95) * expected + step[k]
        np.testing.assert_allclose(command[k], expected, rtol=1e-5, atol=1e-6)


def test_kernel_on_a_phase_screen_fake():
    """A seeded atmosphere as input: the clipped frame never leaves ±limit
    and equals the unclipped one where it is inside."""
    screen = PhaseScreen(size=16, r0=0.1, seed=4)
    limit = float(np.median(np.abs(screen.frame(0))))  # half the pixels clip
    spec = {n: SharedMemoryConfig.from_dict({"name": n, "shape": [16, 16], "dtype": "float32"})
            for n in ("phase", "clipped")}
    kernel = get_default_registry().create(
        KernelConfig("gain", "acme.clipped_gain", "phase", "clipped",
                     parameters={"gain": 1.0, "limit": limit}), spec)
    out = np.empty((16, 16), np.float32)
    for n in range(3):
        frame = screen.frame(n)
        kernel.compute_into(frame, out, {})
        inside = np.abs(frame) < limit
        assert inside.any() and not inside.all()
        np.testing.assert_array_equal(out[inside], frame[inside])
        assert np.all(np.abs(out) <= np.float32(limit))


def test_a_parameter_override_without_copying_the_pipeline():
    """The same scenario with the kernel's gain halved: unclipped steps halve."""
    scenario = load_scenario("scenarios/gain_loop.yaml", allow_outside_paths=True)
    raw = scenario.pipeline.to_dict()
    raw["kernels"][0]["parameters"]["gain"] = 0.4
    variant = dataclasses.replace(scenario, pipeline=PipelineConfig.from_dict(raw))
    base = run_inline(scenario).captures["step"]
    half = run_inline(variant).captures["step"]
    unclipped = np.abs(base) < 0.5
    assert unclipped.any()
    np.testing.assert_allclose(half[unclipped], base[unclipped] / 2, rtol=1e-6)
