"""Fault injection: each fault's behaviour, its schedule, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.errors import DeviceTimeoutError, ScenarioError, ShmPipelineError
from shmpipeline.testing.fakes import FaultSchedule, FaultyFake, build_fake

CAMERA = {"lenslets": 2, "pixels": 8}


def _camera(faults, seed=0):
    return build_fake("shack_hartmann", {**CAMERA, "faults": faults}, seed=seed)


def _plain(seed=0):
    return build_fake("shack_hartmann", CAMERA, seed=seed)


def test_dropped_frames_follow_the_schedule():
    cam = _camera({"drop": [2, 5]})
    assert isinstance(cam, FaultyFake)
    delivered = [cam.frame(n) is not None for n in range(8)]
    assert delivered == [True, True, False, True, True, False, True, True]
    np.testing.assert_array_equal(cam.frame(3), _plain().frame(3))
    assert cam.schedule(8).dropped == (2, 5)


def test_random_drops_are_seeded_and_pure():
    a = _camera({"drop": 0.3}, seed=1)
    b = _camera({"drop": 0.3}, seed=1)
    sched_a = [a.frame(n) is None for n in range(200)]
    sched_b = [b.frame(n) is None for n in reversed(range(200))][::-1]
    assert sched_a == sched_b
    assert 30 <= sum(sched_a) <= 90
    assert a.schedule(200).dropped == tuple(n for n in range(200) if sched_a[n])
    other = _camera({"drop": 0.3}, seed=2)
    assert other.schedule(200).dropped != a.schedule(200).dropped


def test_stuck_repeats_the_last_delivered_frame_exactly():
    cam = _camera({"stuck": [3, 4], "drop": [2]})
    f0, f1, f2, f3 = (cam.frame(n) for n in range(4))
    assert f2 is None
    np.testing.assert_array_equal(f3, f1)
    f3[0, 0] = -1  # callers get copies: the next stuck frame is unchanged
    f4, f5 = cam.frame(4), cam.frame(5)
    np.testing.assert_array_equal(f4, f1)
    assert not np.array_equal(f5, f1)
    np.testing.assert_array_equal(f5, _plain().frame(5))
    first = _camera({"stuck": [0]})
    assert first.frame(0) is not None  # nothing to repeat yet
    schedule = cam.schedule(6)
    assert schedule == FaultSchedule(6, (2,), (3, 4), (), (0, 1, 3, 4, 5))


def test_stuck_frames_are_pure_in_n_for_an_open_loop_fake():
    """Asked out of order, a stuck frame still repeats the right frame."""
    in_order = _camera({"stuck": [3, 4], "drop": [2]}, seed=4)
    frames = [in_order.frame(n) for n in range(6)]
    fresh = _camera({"stuck": [3, 4], "drop": [2]}, seed=4)
    np.testing.assert_array_equal(fresh.frame(4), frames[1])
    np.testing.assert_array_equal(fresh.frame(0), frames[0])
    np.testing.assert_array_equal(fresh.frame(3), frames[1])
    assert fresh.source_of(4) == 1 and fresh.source_of(2) is None


@settings(max_examples=40, deadline=None)
@given(
    st.sets(st.integers(0, 14), max_size=6),
    st.sets(st.integers(0, 14), max_size=6),
    st.one_of(st.none(), st.integers(0, 16)),
)
def test_schedule_matches_the_frames_delivered(drop, stuck, stop_after):
    faults = {"drop": sorted(drop), "stuck": sorted(stuck)}
    if stop_after is not None:
        faults["stop_after"] = stop_after
    cam = FaultyFake(lambda n: np.full((2, 3), float(n)), faults, seed=0)
    frames = [cam.frame(n) for n in range(15)]
    schedule = cam.schedule(15)
    stop = 15 if stop_after is None else min(stop_after, 15)
    assert schedule.stopped == tuple(range(stop, 15))
    assert schedule.dropped == tuple(sorted(n for n in drop if n < stop))
    assert schedule.delivered == tuple(n for n in range(15) if frames[n] is not None)
    last = None
    for n, frame in enumerate(frames):
        if frame is None:
            continue
        if n in schedule.stuck:
            assert n in stuck and last is not None
            np.testing.assert_array_equal(frame, last)
        else:
            np.testing.assert_array_equal(frame, np.full((2, 3), float(n)))
        last = frame


def test_nan_pixels_count_and_positions():
    cam = _camera({"nan": 3})
    f0, f1 = cam.frame(0), cam.frame(1)
    assert int(np.isnan(f0).sum()) == 3 and int(np.isnan(f1).sum()) == 3
    assert not np.array_equal(np.isnan(f0), np.isnan(f1))  # drawn per frame
    np.testing.assert_array_equal(np.isnan(_camera({"nan": 3}).frame(0)), np.isnan(f0))
    plain = _plain().frame(0)
    np.testing.assert_array_equal(f0[~np.isnan(f0)], plain[~np.isnan(f0)])


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.01, 3), (0.1, 26), (0.0, 0), (1.0, 256), (0.5 / 256, 1), (1.5 / 256, 2)],
)
def test_nan_fraction_is_rounded_half_up(fraction, expected):
    """256 pixels: fraction * 256 rounded half up (2.56 -> 3, 25.6 -> 26)."""
    for faults in ({"nan": fraction}, {"nan": {"fraction": fraction}}):
        frame = _camera(faults).frame(0)
        assert int(np.isnan(frame).sum()) == expected


def test_saturated_pixels():
    cam = _camera({"nan": 3, "saturate": {"count": 2, "level": 4095}})
    f0 = cam.frame(0)
    assert int(np.isnan(f0).sum()) == 3 and int((f0 == 4095).sum()) == 2
    ints = build_fake(
        "shack_hartmann",
        {"lenslets": 1, "pixels": 4, "dtype": "uint16", "faults": {"saturate": 1}},
    )
    assert int((ints.frame(0) == 65535).sum()) == 1
    floats = _camera({"saturate": {"fraction": 0.25}})
    assert int((floats.frame(0) == 65535.0).sum()) == 64


def test_nan_on_an_integer_camera_is_refused_when_built():
    with pytest.raises(ScenarioError, match="uint16 frames cannot hold NaN"):
        build_fake(
            "shack_hartmann",
            {"lenslets": 1, "pixels": 4, "dtype": "uint16", "faults": {"nan": 1}},
        )


def test_jitter_delay_is_bounded_and_seeded():
    cam = _camera({"jitter": 0.01}, seed=2)
    delays = [cam.delay(n) for n in range(200)]
    assert all(0.0 <= d <= 0.01 for d in delays)
    assert len(set(delays)) == 200
    assert delays == [_camera({"jitter": 0.01}, seed=2).delay(n) for n in range(200)]
    assert delays != [_camera({"jitter": 0.01}, seed=3).delay(n) for n in range(200)]
    assert 0.004 < float(np.mean(delays)) < 0.006  # uniform in [0, 0.01]
    assert build_fake("phase_screen", {}).delay(3) == 0.0
    assert _camera({}).delay(3) == 0.0


def test_device_stops_responding():
    cam = _camera({"stop_after": 4})
    assert [cam.frame(n) is not None for n in range(7)] == [True] * 4 + [False] * 3
    assert cam.responding(3) and not cam.responding(4)
    assert cam.schedule(7).stopped == (4, 5, 6)


def test_device_that_stops_can_raise_a_timeout():
    cam = _camera({"stop_after": 2, "on_stop": "raise"})
    assert cam.frame(0) is not None and cam.frame(1) is not None
    for n in (2, 3, 10):
        with pytest.raises(DeviceTimeoutError, match="stopped responding at frame 2"):
            cam.frame(n)
    assert issubclass(DeviceTimeoutError, ShmPipelineError)
    assert issubclass(DeviceTimeoutError, TimeoutError)


def test_faults_pass_the_command_through():
    params = {"lenslets": 2, "pixels": 8, "photon_noise": False, "mirror": {"n_act": 2}}
    plain = build_fake("shack_hartmann", params, seed=3)
    faulty = build_fake("shack_hartmann", {**params, "faults": {"drop": [9]}}, seed=3)
    command = np.array([0.1, -0.2, 0.3, 0.0])
    np.testing.assert_array_equal(
        faulty.frame(1, command=command), plain.frame(1, command=command)
    )
    assert faulty.mirror.n_act == 2  # the device's own attributes show through


def test_any_frame_source_can_be_wrapped():
    cam = FaultyFake(lambda n: np.arange(6.0).reshape(2, 3) + n, drop=[1], nan=1)
    assert cam.frame(1) is None
    frame = cam.frame(2)
    assert int(np.isnan(frame).sum()) == 1
    with pytest.raises(TypeError, match="frame"):
        FaultyFake(42)
