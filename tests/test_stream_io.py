"""Stream reads and writes in one process: values, write_view, read_new and
wait_new semantics, and bad input (clear errors, stream still usable)."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shmpipeline.errors import (
    StreamClosedError,
    StreamError,
    StreamFrameError,
    StreamLayoutError,
)
from shmpipeline.stream import SharedStream


@pytest.fixture
def stream():
    s = SharedStream.create("frame", (2, 3), "float32")
    yield s
    s.unlink()
    s.close()


def _frame(value, shape=(2, 3), dtype=np.float32):
    return np.full(shape, value, dtype)


def _assert_usable(s: SharedStream) -> None:
    """After an error the stream still takes and serves frames."""
    before = s.count
    probe = np.arange(np.prod(s.shape), dtype=s.dtype).reshape(s.shape)
    s.write(probe)
    assert s.count == before + 1
    assert np.array_equal(s.read(), probe)


# --- reading and writing ------------------------------------------------------


def test_write_then_read_each_frame(stream):
    reader = SharedStream.open("frame")
    try:
        for k in range(1, 8):  # more writes than slots
            frame = np.arange(6, dtype=np.float32).reshape(2, 3) * k
            stream.write(frame)
            assert stream.count == k
            assert stream.frame_id == k
            out = np.empty((2, 3), np.float32)
            assert reader.read_into(out) == k
            assert np.array_equal(out, frame)
            assert reader.last_read_count == k and reader.last_frame_id == k
    finally:
        reader.close()


def test_read_before_any_write_is_zero_with_count_zero(stream):
    out = np.ones((2, 3), np.float32)
    assert stream.read_into(out) == 0
    assert np.array_equal(out, np.zeros((2, 3)))
    assert stream.write_time_ns == 0


def test_frame_id_and_write_time(stream):
    t0 = time.monotonic()
    stream.write(_frame(1), frame_id=42)
    t1 = time.monotonic()
    assert stream.frame_id == 42
    assert t0 <= stream.write_time <= t1
    assert stream.write_time_ns == pytest.approx(stream.write_time * 1e9, abs=1e3)
    stream.write(_frame(2), frame_id=-5)
    assert stream.frame_id == -5
    stream.write(_frame(3))
    assert stream.frame_id == 3  # default: the new count
    stream.read()
    assert stream.last_frame_id == 3


def test_read_into_accepts_strided_out(stream):
    stream.write(np.arange(6, dtype=np.float32).reshape(2, 3))
    base = np.zeros((3, 2), np.float32)
    assert stream.read_into(base.T) == 1
    assert np.array_equal(base.T, np.arange(6, dtype=np.float32).reshape(2, 3))


def test_read_returns_an_independent_copy(stream):
    stream.write(_frame(1))
    got = stream.read()
    got[:] = 9
    assert np.array_equal(stream.read(), _frame(1))


def test_write_accepts_lossless_same_kind_dtypes():
    s = SharedStream.create("wide", (3,), "float64")
    i = SharedStream.create("ints", (3,), ">i4")
    try:
        s.write(np.array([1.5, 2.5, 3.5], np.float32))  # widening
        assert np.array_equal(s.read(), [1.5, 2.5, 3.5])
        s.write(np.array([1.0, 2.0, 3.0], ">f8"))  # other byte order
        assert np.array_equal(s.read(), [1.0, 2.0, 3.0])
        s.write([1, 2, 3])  # array-like: same_kind casting
        assert np.array_equal(s.read(), [1.0, 2.0, 3.0])
        s.write((0.25, 0.5, 0.75))
        assert np.array_equal(s.read(), [0.25, 0.5, 0.75])
        i.write(np.array([1, -2, 3], np.int16))
        assert i.dtype == np.dtype(">i4")
        assert np.array_equal(i.read(), [1, -2, 3])
        i.write(np.array([7, 8, 9], "<i4"))
        assert np.array_equal(i.read(), [7, 8, 9])
    finally:
        for x in (s, i):
            x.unlink()
            x.close()


def test_zero_dimensional_stream():
    s = SharedStream.create("scalar", (), "int64")
    try:
        s.write(np.array(7))
        assert s.read().shape == ()
        assert s.read() == 7
        s.write(8)
        assert s.read() == 8
    finally:
        s.unlink()
        s.close()


# --- write_view ------------------------------------------------------------------


def test_write_view_publishes_on_clean_exit(stream):
    reader = SharedStream.open("frame")
    try:
        with stream.write_view(frame_id=11) as buf:
            assert buf.shape == (2, 3) and buf.dtype == np.float32
            buf[...] = 6.0
            assert stream.count == 0  # not yet published
        assert stream.count == 1 and stream.frame_id == 11
        assert np.array_equal(reader.read(), _frame(6.0))
    finally:
        reader.close()


def test_write_view_discards_the_frame_when_the_block_raises(stream):
    stream.write(_frame(1))
    with pytest.raises(RuntimeError, match="boom"):
        with stream.write_view() as buf:
            buf[...] = 99
            raise RuntimeError("boom")
    assert stream.count == 1
    assert np.array_equal(stream.read(), _frame(1))
    for k in range(2, 8):  # the aborted slot gets reused cleanly
        stream.write(_frame(k))
        assert np.array_equal(stream.read(), _frame(k))
        assert stream.count == k


def test_aborted_slot_is_never_served(stream):
    """Fill every slot, abort a write over the oldest: no read may return
    the half-overwritten old frame, even through a stale count."""
    for k in range(1, 4):
        stream.write(_frame(k))
    with pytest.raises(ValueError):
        with stream.write_view() as buf:
            buf[...] = -1
            raise ValueError
    assert np.array_equal(stream.read(), _frame(3))
    assert stream.read_retries == 0


def test_nested_write_view_is_refused(stream):
    with stream.write_view() as buf:
        buf[...] = 1
        with pytest.raises(StreamError, match="already open"):
            stream.write_view()
        with pytest.raises(StreamError, match="already open"):
            stream.write(_frame(2))
    assert stream.count == 1
    assert np.array_equal(stream.read(), _frame(1))


def test_close_discards_an_open_write_view(stream):
    other = SharedStream.open("frame")
    view = other.write_view()
    buf = view.__enter__()
    buf[...] = 5
    other.close()
    del buf
    assert stream.count == 0
    _assert_usable(stream)


# --- read_new / wait_new ----------------------------------------------------------


def test_read_new_times_out_without_a_new_frame(stream):
    with pytest.raises(TimeoutError, match="'frame'"):
        stream.read_new(timeout=0.05)
    stream.write(_frame(1))
    assert np.array_equal(stream.read_new(timeout=0), _frame(1))
    with pytest.raises(TimeoutError):
        stream.read_new(timeout=0)
    with pytest.raises(TimeoutError):
        stream.read_new_into(np.empty((2, 3), np.float32), timeout=0.01)


def test_read_new_returns_only_newer_frames(stream):
    reader = SharedStream.open("frame")
    out = np.empty((2, 3), np.float32)
    try:
        stream.write(_frame(1))
        stream.write(_frame(2))
        assert reader.read_new_into(out, timeout=1) == 2  # latest, skipping 1
        assert np.array_equal(out, _frame(2))
        with pytest.raises(TimeoutError):
            reader.read_new_into(out, timeout=0.02)
        stream.write(_frame(3))
        assert reader.read_new_into(out, timeout=1) == 3
        reader.read()  # plain reads also advance the handle
        with pytest.raises(TimeoutError):
            reader.read_new(timeout=0.01)
    finally:
        reader.close()


def test_read_new_wakes_when_another_thread_writes(stream):
    def later():
        time.sleep(0.1)
        stream.write(_frame(5))

    writer = threading.Thread(target=later)
    writer.start()
    reader = SharedStream.open("frame")
    try:
        assert np.array_equal(reader.read_new(timeout=30), _frame(5))
    finally:
        writer.join()
        reader.close()


def test_wait_new_returns_count_or_unchanged_on_timeout(stream):
    assert stream.wait_new(0, timeout=0.01) == 0
    stream.write(_frame(1))
    assert stream.wait_new(0, timeout=0.01) == 1
    assert stream.wait_new(1, timeout=0) == 1
    assert stream.wait_new(5, timeout=None) == 1  # differs: returns at once


def test_wake_waiters_releases_a_blocked_wait_new(stream):
    result = []
    reader = SharedStream.open("frame")

    def wait():
        result.append(reader.wait_new(0, timeout=60))

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.1)
    stream.wake_waiters()
    thread.join(30)
    reader.close()
    assert not thread.is_alive()
    assert result == [0]  # returned without a new frame


def test_read_new_ignores_kicks(stream):
    reader = SharedStream.open("frame")
    errors = []

    def wait():
        try:
            reader.read_new(timeout=0.3)
        except TimeoutError as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.05)
    stream.wake_waiters()
    thread.join(30)
    reader.close()
    assert len(errors) == 1


def test_closing_a_handle_ends_its_blocked_waits(stream):
    reader = SharedStream.open("frame")
    errors = []

    def wait():
        try:
            reader.wait_new(0, timeout=60)
        except StreamClosedError as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.1)
    reader.close()
    thread.join(30)
    assert not thread.is_alive() and len(errors) == 1


# --- bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((3, 2), np.float32), r"shape \(3, 2\)"),
        (np.zeros((2, 3, 1), np.float32), "shape"),
        (np.zeros((6,), np.float32), "shape"),
        (np.zeros((1, 3), np.float32), "shape"),  # no broadcasting
        (np.zeros((2, 3), np.float64), "dtype float64"),
        (np.zeros((2, 3), np.int32), "dtype int32"),
        (np.zeros((2, 3), np.complex64), "dtype complex64"),
        (np.zeros((3, 2), np.float32).T, "C-contiguous"),
        (np.zeros((2, 6), np.float32)[:, ::2], "C-contiguous"),
        ([[1.0, 2.0], [3.0, 4.0]], "shape"),
        ("abc", "dtype <U3"),
        (None, "dtype object"),
        (object(), "dtype object"),
        ([[1, 2, 3], [4, 5]], "cannot convert"),
        ([[1j, 2, 3], [4, 5, 6]], "cannot be stored"),
    ],
)
def test_bad_frames_raise_and_leave_the_stream_usable(stream, bad, match):
    stream.write(_frame(1))
    with pytest.raises(StreamFrameError, match=match):
        stream.write(bad)
    assert stream.count == 1
    assert np.array_equal(stream.read(), _frame(1))
    _assert_usable(stream)


def test_float_values_into_an_int_stream_are_refused():
    s = SharedStream.create("ints", (2,), "int32")
    try:
        with pytest.raises(StreamFrameError, match="float64 values"):
            s.write([1.5, 2.0])
        with pytest.raises(StreamFrameError, match="int64"):
            s.write(np.array([1, 2], np.int64))  # narrowing
        with pytest.raises(StreamFrameError, match="uint16"):
            s.write(np.array([1, 2], np.uint16))  # other kind
        s.write(np.array([1, 2], np.int8))
        assert np.array_equal(s.read(), [1, 2])
    finally:
        s.unlink()
        s.close()


@pytest.mark.parametrize("bad", [1.5, "3", True, 2**63])
def test_bad_frame_ids_are_refused(stream, bad):
    with pytest.raises(StreamFrameError, match="frame_id"):
        stream.write(_frame(1), frame_id=bad)
    with pytest.raises(StreamFrameError, match="frame_id"):
        stream.write_view(frame_id=bad)
    assert stream.count == 0
    _assert_usable(stream)


@pytest.mark.parametrize(
    "out, match",
    [
        (np.empty((3, 2), np.float32), "shape"),
        (np.empty((2, 3), np.float64), "dtype"),
        ([0.0] * 6, "numpy.ndarray"),
    ],
)
def test_bad_out_arrays_are_refused(stream, out, match):
    with pytest.raises(StreamFrameError, match=match):
        stream.read_into(out)
    with pytest.raises(StreamFrameError, match=match):
        stream.read_new_into(out, timeout=0)


def test_read_only_out_is_refused(stream):
    out = np.empty((2, 3), np.float32)
    out.flags.writeable = False
    with pytest.raises(StreamFrameError, match="read-only"):
        stream.read_into(out)


def test_everything_after_close_raises_closed(stream):
    other = SharedStream.open("frame")
    other.close()
    out = np.empty((2, 3), np.float32)
    for call in (
        lambda: other.write(_frame(1)),
        lambda: other.write(np.zeros(3)),  # even a bad frame: closed first
        lambda: other.write_view(),
        other.read,
        lambda: other.read_into(out),
        lambda: other.read_new(timeout=0),
        lambda: other.wait_new(0, timeout=0),
        other.wake_waiters,
        lambda: other.frame_id,
    ):
        with pytest.raises(StreamClosedError):
            call()
    _assert_usable(stream)


@pytest.mark.parametrize(
    "shape, dtype, match",
    [
        ((0,), "float32", "not positive"),
        ((4, -1), "float32", "not positive"),
        ((2.5,), "float32", "not an integer"),
        (("4",), "float32", "not an integer"),
        ((True, 2), "float32", "boolean"),
        ("44", "float32", "sequence of positive integers"),
        (None, "float32", "sequence of positive integers"),
        ((1,) * 9, "float32", "at most 8"),
        ((2**20, 2**20, 2**10), "float32", "limit is"),
        ((4,), "notadtype", "invalid dtype"),
        ((4,), None, "dtype is required"),
        ((4,), object, "unsupported stream dtype"),
        ((4,), "U8", "unsupported stream dtype"),
        ((4,), [("a", "f4")], "unsupported stream dtype"),
    ],
)
def test_absurd_layouts_are_refused_at_create(shape, dtype, match):
    with pytest.raises(StreamLayoutError, match=match):
        SharedStream.create("frame", shape, dtype)


@pytest.mark.parametrize("slots", [0, 1, 33, 2.0, True])
def test_bad_slot_counts_are_refused(slots):
    with pytest.raises(StreamLayoutError, match="slots"):
        SharedStream.create("frame", (4,), "float32", slots=slots)


def test_bad_timeouts_are_refused(stream):
    with pytest.raises(TypeError, match="timeout"):
        stream.read_new(timeout="soon")
    with pytest.raises(ValueError, match="NaN"):
        stream.wait_new(0, timeout=float("nan"))
    _assert_usable(stream)


def test_other_slot_counts_round_trip():
    for slots in (2, 32):
        s = SharedStream.create(f"s{slots}", (5,), "uint8", slots=slots)
        try:
            assert s.slots == slots
            for k in range(1, 2 * slots + 2):
                s.write(np.full(5, k % 256, np.uint8))
                assert np.array_equal(s.read(), np.full(5, k % 256, np.uint8))
        finally:
            s.unlink()
            s.close()


# --- property: any shape/dtype round-trips bit for bit ------------------------------

_DTYPES = [
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
    "uint64", "float16", "float32", "float64", "complex64", "complex128",
    ">i4", ">f8", "datetime64[ns]", "timedelta64[ms]",
]  # fmt: skip
_names = itertools.count()


@st.composite
def _frames(draw):
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=6))
    return draw(hnp.arrays(dtype, shape))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(_frames(), min_size=1, max_size=1).flatmap(
        lambda first: st.lists(
            hnp.arrays(first[0].dtype, first[0].shape), min_size=0, max_size=4
        ).map(lambda rest: first + rest)
    ),
    slots=st.integers(2, 4),
    via_view=st.booleans(),
)
def test_frames_round_trip_bit_for_bit(frames, slots, via_view):
    first = frames[0]
    s = SharedStream.create(f"h{next(_names)}", first.shape, first.dtype, slots=slots)
    reader = SharedStream.open(s.name, shape=first.shape, dtype=first.dtype)
    out = np.empty(first.shape, first.dtype)
    try:
        for k, frame in enumerate(frames, start=1):
            if via_view:
                with s.write_view(frame_id=k * 3) as buf:
                    buf[...] = frame
            else:
                s.write(frame, frame_id=k * 3)
            assert reader.read_new_into(out, timeout=5) == k
            assert reader.last_frame_id == k * 3
            assert out.tobytes() == frame.tobytes()
            got = reader.read()
            assert got.dtype == frame.dtype and got.shape == frame.shape
            assert got.tobytes() == frame.tobytes()
    finally:
        reader.close()
        s.unlink()
        s.close()
