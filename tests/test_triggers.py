"""Fan-in trigger sets: all_new / any_new, matching_frame_id with one branch
dropping frames (only equal tokens combine), a dead branch abandoned after
max_wait_s (counted, not timed), skew wider than max_skew_generations, the
token carried to the output, and a fan-in pipeline end to end."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline import PipelineManager
from shmpipeline.config import KernelConfig, SynchronizationConfig
from shmpipeline.stream import SharedStream
from shmpipeline.triggers import TriggerSet, fan_in

SHORT = 0.02  # a wait that finds nothing returns after this long


@pytest.fixture
def branches():
    made = [SharedStream.create(name, (3,), "float64") for name in ("a", "b")]
    yield made
    for stream in made:
        stream.unlink()
        stream.close()


def fan_in_config(
    mode="matching_frame_id",
    policy="all_new",
    propagate=False,
    max_wait_s=None,
    max_skew=16,
):
    sync = SynchronizationConfig(
        mode=mode, max_skew_generations=max_skew, max_wait_s=max_wait_s
    )
    return KernelConfig(
        name="join",
        kind="cpu.concatenate",
        input="a",
        output="out",
        inputs=("a", "b"),
        trigger_policy=policy,
        synchronization=sync,
        propagate_frame_id=propagate,
    )


def trigger_set(config, streams):
    return TriggerSet(config, streams, [np.zeros(3) for _ in streams])


def publish(stream, token):
    """A frame whose values say which generation it belongs to."""
    stream.write(np.full(3, float(token)), frame_id=token)


def accepted(triggers):
    """The token of the accepted set, checking every frame belongs to it."""
    for frame in triggers.frames:
        assert frame.tolist() == [float(triggers.frame_id)] * 3
    return triggers.frame_id


def test_matching_set_combines_equal_tokens_and_drops_the_laggard(branches):
    a, b = branches
    triggers = trigger_set(fan_in_config(), branches)
    publish(a, 1), publish(b, 1)
    assert triggers.wait(SHORT) and accepted(triggers) == 1
    publish(a, 2)  # b dropped generation 2
    assert not triggers.wait(SHORT)
    publish(a, 3), publish(b, 3)
    assert triggers.wait(SHORT) and accepted(triggers) == 3
    # b ahead: a's older frame is dropped, the set waits for a's next frame
    publish(a, 4), publish(b, 5)
    assert not triggers.wait(SHORT)
    publish(a, 5)
    assert triggers.wait(SHORT) and accepted(triggers) == 5
    assert triggers.metrics.as_status() == {
        "frame_sync_skew_events": 1,
        "frame_sync_skipped_generations": 1,
        "frame_sync_timeouts": 0,
    }


@settings(derandomize=True, max_examples=25, deadline=None)
@given(
    drops=st.lists(
        st.tuples(st.booleans(), st.booleans(), st.booleans()), min_size=1, max_size=12
    )
)
def test_only_equal_tokens_are_ever_combined(drops):
    streams = [SharedStream.create(n, (3,), "float64") for n in ("a", "b")]
    try:
        triggers = trigger_set(fan_in_config(), streams)
        seen = []
        for token, (drop_a, drop_b, b_first) in enumerate(drops, start=1):
            order = [(streams[1], drop_b), (streams[0], drop_a)]
            for stream, dropped in order if b_first else order[::-1]:
                if not dropped:
                    publish(stream, token)
            if triggers.wait(0.005):
                seen.append(accepted(triggers))
        expected = [t for t, (da, db, _) in enumerate(drops, start=1) if not (da or db)]
        # every generation both branches published is combined, in order,
        # and nothing else is
        assert seen == expected
    finally:
        for stream in streams:
            stream.unlink()
            stream.close()


def wait_for_timeouts(triggers, count, attempts=20):
    """Call wait (0.5 s each) until ``count`` sets were abandoned; return
    what the waits returned (robust to a loaded machine)."""
    results = []
    while triggers.metrics.timeouts < count and len(results) < attempts:
        results.append(triggers.wait(0.5))
    assert triggers.metrics.timeouts == count
    return sorted(set(results))


def test_dead_branch_is_abandoned_after_max_wait(branches):
    a, b = branches
    triggers = trigger_set(fan_in_config(max_wait_s=0.05), branches)
    publish(a, 1), publish(b, 1)
    assert triggers.wait(SHORT) and accepted(triggers) == 1
    publish(a, 2)  # b is dead from here
    assert wait_for_timeouts(triggers, 1) == [False]
    publish(a, 3)
    assert wait_for_timeouts(triggers, 2) == [False]
    # once abandoned, a's frames are consumed: waiting longer adds nothing
    assert not triggers.wait(0.2) and triggers.metrics.timeouts == 2
    publish(a, 4), publish(b, 4)  # b comes back
    assert triggers.wait(SHORT) and accepted(triggers) == 4


def test_dead_branch_without_max_wait_keeps_waiting(branches):
    a, _ = branches
    triggers = trigger_set(fan_in_config(max_wait_s=None), branches)
    publish(a, 1)
    assert not triggers.wait(0.1)
    assert triggers.metrics.timeouts == 0


def test_skew_wider_than_max_skew_generations_abandons_the_set(branches):
    a, b = branches
    triggers = trigger_set(fan_in_config(max_skew=2), branches)
    publish(a, 10), publish(b, 1)
    assert not triggers.wait(SHORT)
    assert (triggers.metrics.skew_events, triggers.metrics.timeouts) == (1, 1)
    publish(a, 11), publish(b, 11)
    assert triggers.wait(SHORT) and accepted(triggers) == 11


@pytest.mark.parametrize("propagate, expected", [(True, 7), (False, None)])
def test_count_mode_propagates_the_newest_token_when_asked(
    branches, propagate, expected
):
    a, b = branches
    config = fan_in_config(mode="count", propagate=propagate)
    triggers = trigger_set(config, branches)
    publish(a, 5), publish(b, 7)
    assert triggers.wait(SHORT)
    assert triggers.frame_id == expected
    assert [f[0] for f in triggers.frames] == [5.0, 7.0]


def test_any_new_fires_on_one_branch(branches):
    a, _ = branches
    config = fan_in_config(mode="count", policy="any_new", propagate=True)
    triggers = trigger_set(config, branches)
    publish(a, 3)
    assert triggers.wait(SHORT) and triggers.frame_id == 3
    assert not triggers.wait(SHORT)  # nothing new since


def test_skip_pending_forgets_earlier_frames(branches):
    a, b = branches
    triggers = trigger_set(fan_in_config(), branches)
    publish(a, 1), publish(b, 1)
    triggers.skip_pending()
    assert not triggers.wait(SHORT)


def test_fan_in_is_several_trigger_inputs():
    assert fan_in(fan_in_config())
    single = KernelConfig(name="k", kind="cpu.copy", input="a", output="b")
    assert not fan_in(single)


# --- end to end ------------------------------------------------------------------------


def wait_for_token(stream, token, timeout=20.0):
    deadline = time.monotonic() + timeout
    while stream.count == 0 or stream.frame_id < token:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"{stream.name}: token {token} never came")
        stream.wait_new(stream.count, timeout=min(remaining, 0.2))
    return stream.read(), stream.frame_id


def test_fan_in_pipeline_carries_matched_tokens_to_the_output():
    config = {
        "shared_memory": [
            {"name": "a", "shape": [2], "dtype": "float64"},
            {"name": "b", "shape": [2], "dtype": "float64"},
            {"name": "joined", "shape": [4], "dtype": "float64"},
        ],
        "kernels": [
            {
                "name": "join",
                "kind": "cpu.concatenate",
                "inputs": ["a", "b"],
                "output": "joined",
                # no max_wait_s: a loaded machine may pause between the writes
                "synchronization": {"mode": "matching_frame_id"},
                "propagate_frame_id": True,
            }
        ],
    }
    manager = PipelineManager(config)
    try:
        manager.build()
        manager.start()
        a, b = manager.get_stream("a"), manager.get_stream("b")
        out = manager.get_stream("joined")
        a.write(np.array([1.0, 1.0]), frame_id=1)
        b.write(np.array([-1.0, -1.0]), frame_id=1)
        value, token = wait_for_token(out, 1)
        assert token == 1 and value.tolist() == [1, 1, -1, -1]
        a.write(np.array([2.0, 2.0]), frame_id=2)  # b drops generation 2
        a.write(np.array([3.0, 3.0]), frame_id=3)
        b.write(np.array([-3.0, -3.0]), frame_id=3)
        value, token = wait_for_token(out, 3)
        assert token == 3 and value.tolist() == [3, 3, -3, -3]
        status = manager.status()["workers"]["join"]
        assert status["frames_processed"] == 2
        assert {"frame_sync_skew_events", "frame_sync_timeouts"} <= set(status)
    finally:
        manager.shutdown()


def test_multi_output_kernel_publishes_every_output_with_the_trigger_token():
    from _fan_in_kernels import SplitKernel

    from shmpipeline.registry import get_default_registry

    config = {
        "shared_memory": [
            {"name": "x", "shape": [5], "dtype": "float64"},
            {"name": "lo", "shape": [2], "dtype": "float64"},
            {"name": "hi", "shape": [3], "dtype": "float64"},
        ],
        "kernels": [
            {
                "name": "split",
                "kind": "test.split",
                "input": "x",
                "outputs": ["lo", "hi"],
            }
        ],
    }
    manager = PipelineManager(
        config, registry=get_default_registry().extended(SplitKernel)
    )
    try:
        manager.build()
        manager.start()
        manager.get_stream("x").write(np.arange(5.0), frame_id=42)
        lo, lo_token = wait_for_token(manager.get_stream("lo"), 42)
        hi, hi_token = wait_for_token(manager.get_stream("hi"), 42)
        assert (lo.tolist(), hi.tolist()) == ([0, 1], [2, 3, 4])
        assert lo_token == hi_token == 42
    finally:
        manager.shutdown()


def test_eight_input_tomographic_controller_runs_frame_by_frame():
    from _controller_cases import random_aux, tomo_config, tomo_specs

    from shmpipeline.registry import get_default_registry

    kernel_config = tomo_config(False, tile=2, leak=0.9, control_gain=0.5)
    specs = tomo_specs(kernel_config, image=(4, 6), tile=2, actuators=5)
    raw_kernel = kernel_config.to_dict()
    raw_kernel["synchronization"] = {"mode": "matching_frame_id"}
    config = {
        "shared_memory": [
            {"name": s.name, "shape": list(s.shape), "dtype": s.dtype.name}
            for s in specs.values()
        ],
        "kernels": [raw_kernel],
    }
    rng = np.random.default_rng(9)
    aux = random_aux(kernel_config, specs, rng)
    reference = get_default_registry().create(kernel_config, specs)
    expected = np.empty(5)
    manager = PipelineManager(config)
    try:
        manager.build()
        for binding in kernel_config.auxiliary:
            manager.get_stream(binding.name).write(aux[binding.alias])
        manager.start()
        out = manager.get_stream("dm")
        for token in range(1, 101):
            images = [rng.random((4, 6)) * 50 for _ in range(8)]
            for name, image in zip(kernel_config.inputs, images, strict=True):
                manager.get_stream(name).write(image, frame_id=token)
            value, got = wait_for_token(out, token)
            reference.compute_into(tuple(images), expected, aux)
            assert got == token
            np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
        status = manager.status()["workers"]["tomo"]
        assert status["frame_sync_timeouts"] == 0
    finally:
        manager.shutdown()
