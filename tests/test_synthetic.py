"""Synthetic inputs: pattern math against independent NumPy formulas,
determinism, config validation, and the background writer on a real stream."""

from __future__ import annotations

import json
import math
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shmpipeline.errors import ConfigValidationError
from shmpipeline.stream import SharedStream
from shmpipeline.synthetic import (
    SyntheticInputConfig,
    SyntheticPatternGenerator,
    SyntheticSourceController,
    available_synthetic_patterns,
    parse_synthetic_shorthand,
)

PATTERNS = ("constant", "random", "ramp", "sine", "impulse", "checkerboard")
DTYPES = (
    "float64",
    "float32",
    "float16",
    "int8",
    "uint8",
    "int16",
    "int32",
    "int64",
    "uint64",
    "bool",
    "complex64",
)


# --- independent reference ----------------------------------------------------------


def reference(spec: SyntheticInputConfig, shape: tuple[int, ...], n: int) -> np.ndarray:
    """Frame ``n`` in float64, written straight from the pattern's definition."""
    A, off, P, K = spec.amplitude, spec.offset, spec.period, spec.impulse_interval
    size = math.prod(shape)
    i = np.arange(size, dtype=np.float64).reshape(shape)
    if spec.pattern == "constant":
        return np.full(shape, off + spec.constant)
    if spec.pattern == "random":
        return off + A * np.random.default_rng([spec.seed, n]).standard_normal(shape)
    if spec.pattern == "ramp":
        return off + A * np.mod(i + n, P) / max(P - 1, 1)
    if spec.pattern == "sine":
        return off + A * np.sin(2 * np.pi * (i + n) / P)
    if spec.pattern == "impulse":
        frame = np.full(size, off)
        if n % K == 0:
            frame[(n // K) % size] = off + A
        return frame.reshape(shape)
    if spec.pattern == "checkerboard":
        if not shape:  # 0-d: the parity of the frame index
            return np.array(off + A * (n % 2))
        coords = np.indices(shape).astype(np.float64)
        coords[0] += n
        parity = np.mod(np.floor(coords / P).sum(axis=0), 2)
        return off + A * parity
    raise AssertionError(spec.pattern)


def assert_matches(
    frame: np.ndarray, ref: np.ndarray, dtype: np.dtype, scale: float
) -> None:
    """Floats: close to the reference; integers: a correct rounding of the
    reference clipped to the dtype's range."""
    dtype = np.dtype(dtype)
    assert frame.dtype == dtype and frame.shape == ref.shape
    if dtype.kind in "fc":
        eps = float(np.finfo(dtype).eps)
        tol = 4 * eps * (abs(scale) + np.abs(ref)) + 1e-9 * (1 + abs(scale))
        with np.errstate(over="ignore"):
            expected = ref.astype(dtype)
        finite = np.isfinite(expected.real)
        assert np.all(
            np.abs(frame.real[finite].astype(np.float64) - ref[finite]) <= tol[finite]
        )
        assert np.all(frame.imag == 0) if dtype.kind == "c" else True
        return
    lo, hi = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    clipped = np.clip(ref, float(lo), float(hi))
    values = frame.astype(np.float64)
    assert np.all(values >= float(lo)) and np.all(values <= float(hi))
    # Within 0.5 of the clipped value (plus float noise and, for 64-bit
    # extremes, the float64 spacing there).
    slack = (
        0.5 + 1e-6 * (1 + np.abs(clipped)) + (4096.0 if dtype.itemsize == 8 else 0.0)
    )
    assert np.all(np.abs(values - clipped) <= slack)


def generator(
    pattern: str, shape=(6, 10), dtype="float64", **kw
) -> SyntheticPatternGenerator:
    spec = SyntheticInputConfig("frame", pattern=pattern, **kw)
    return SyntheticPatternGenerator(spec, shape=shape, dtype=dtype, storage="cpu")


# --- patterns -------------------------------------------------------------------------


def test_available_patterns():
    assert available_synthetic_patterns() == PATTERNS


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("n", [0, 1, 5, 63, 64, 128, 1000, 123457])
def test_pattern_matches_formula(pattern, n):
    gen = generator(
        pattern,
        amplitude=2.5,
        offset=-0.75,
        period=7.0,
        constant=3.25,
        impulse_interval=4,
        seed=11,
    )
    np.testing.assert_allclose(
        gen.frame(n), reference(gen.spec, gen.shape, n), rtol=0, atol=1e-9
    )


def test_constant_value_is_offset_plus_constant():
    frame = generator("constant", offset=1.5, constant=2.0).frame(9)
    assert np.all(frame == 3.5)


def test_impulse_walks_through_the_elements():
    gen = generator(
        "impulse", shape=(2, 3), amplitude=5.0, offset=1.0, impulse_interval=3
    )
    for n in range(40):
        frame = gen.frame(n).ravel()
        if n % 3:
            assert np.all(frame == 1.0)
        else:
            hot = (n // 3) % 6
            assert frame[hot] == 6.0
            assert np.all(np.delete(frame, hot) == 1.0)


def test_checkerboard_tiles_scroll_along_first_axis():
    gen = generator("checkerboard", shape=(8, 8), period=2.0)
    f0, f1, f2 = gen.frame(0), gen.frame(1), gen.frame(2)
    assert np.array_equal(f0[:2, :2], np.zeros((2, 2)))
    assert np.array_equal(f0[:2, 2:4], np.ones((2, 2)))
    assert np.array_equal(f1[:-1], f0[1:])  # shifted by one row per frame
    assert np.array_equal(f2, 1 - f0)  # a full tile later the parity flips


def test_zero_dim_checkerboard_alternates():
    gen = generator("checkerboard", shape=(), amplitude=1.0)
    assert [float(gen.frame(n)) for n in range(4)] == [0.0, 1.0, 0.0, 1.0]


def test_random_statistics_follow_amplitude_and_offset():
    frame = generator(
        "random", shape=(200, 200), amplitude=3.0, offset=10.0, seed=5
    ).frame(0)
    assert abs(frame.mean() - 10.0) < 0.1
    assert abs(frame.std() - 3.0) < 0.1


def test_random_frames_differ_by_frame_and_seed():
    a = generator("random", seed=1)
    b = generator("random", seed=2)
    assert not np.array_equal(a.frame(0), a.frame(1))
    assert not np.array_equal(a.frame(0), b.frame(0))


@pytest.mark.filterwarnings("ignore:.*produces fractional values:UserWarning")
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "uint64", "int64", "bool"])
def test_integer_dtypes_round_and_clip(dtype):
    info = (0, 1) if dtype == "bool" else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    gen = generator("random", shape=(64, 64), dtype=dtype, amplitude=1e30, seed=3)
    frame = gen.frame(0)
    assert frame.min() == info[0] and frame.max() == info[1]  # saturated, not wrapped
    ramp = generator("ramp", shape=(10,), dtype=dtype, amplitude=2.0, period=5.0).frame(
        0
    )
    # ramp values 0, 0.5, 1, 1.5, 2 -> round half to even -> 0, 0, 1, 2, 2
    expected = np.clip(np.array([0, 0, 1, 2, 2] * 2), info[0], info[1]).astype(dtype)
    assert np.array_equal(ramp, expected)


def test_float32_frame_is_the_float64_frame_cast():
    f64 = generator("random", dtype="float64", seed=4).frame(17)
    f32 = generator("random", dtype="float32", seed=4).frame(17)
    assert np.array_equal(f32, f64.astype(np.float32))


# --- determinism --------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS)
def test_frame_n_is_independent_of_history(pattern):
    kw = dict(period=5.0, impulse_interval=3, seed=8)
    walker = generator(pattern, **kw)
    sequence = [walker.next_frame().copy() for _ in range(12)]
    for n in (11, 0, 7, 3):
        fresh = generator(pattern, **kw)
        assert np.array_equal(fresh.frame(n), sequence[n])
        out = np.empty(fresh.shape, fresh.dtype)
        assert fresh.frame_into(n, out) is out
        assert np.array_equal(out, sequence[n])
    assert walker.frames_generated == 12


def test_next_frame_reuses_its_buffer():
    gen = generator("sine", dtype="float32")
    first = gen.next_frame()
    second = gen.next_frame()
    assert first is second


def test_frame_into_accepts_non_contiguous_output():
    gen = generator("ramp", shape=(4, 5), period=3.0)
    out = np.zeros((5, 4)).T
    gen.frame_into(2, out)
    assert np.array_equal(out, gen.frame(2))


@pytest.mark.filterwarnings("ignore:.*produces fractional values:UserWarning")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pattern=st.sampled_from(PATTERNS),
    shape=st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple),
    dtype=st.sampled_from(DTYPES),
    n=st.integers(0, 10**6),
    amplitude=st.floats(-1000, 1000),
    offset=st.floats(-1000, 1000),
    period=st.floats(0.5, 100),
    interval=st.integers(1, 50),
    seed=st.integers(0, 2**32),
)
def test_property_frames_match_reference_and_are_deterministic(
    pattern, shape, dtype, n, amplitude, offset, period, interval, seed
):
    spec = SyntheticInputConfig(
        "s",
        pattern=pattern,
        amplitude=amplitude,
        offset=offset,
        period=period,
        impulse_interval=interval,
        seed=seed,
        constant=amplitude / 3,
    )
    with np.errstate(over="ignore"):
        gen_a = SyntheticPatternGenerator(spec, shape=shape, dtype=dtype, storage="cpu")
        gen_b = SyntheticPatternGenerator(spec, shape=shape, dtype=dtype, storage="cpu")
        gen_b.frame(n + 1)
        frame = gen_a.frame(n)
        again = gen_b.frame(n)
    assert frame.tobytes() == again.tobytes()
    assert_matches(
        frame, reference(spec, shape, n), dtype, abs(amplitude) + abs(offset) + 1
    )


# --- GPU storage (torch's CPU device stands in for CUDA) -----------------------------------


def test_gpu_storage_produces_tensors_equal_to_cpu_frames():
    torch = pytest.importorskip("torch")
    spec = SyntheticInputConfig("frame", pattern="random", seed=2)
    gpu = SyntheticPatternGenerator(
        spec, shape=(4, 4), dtype="float32", storage="gpu", gpu_device="cpu"
    )
    cpu = SyntheticPatternGenerator(spec, shape=(4, 4), dtype="float32", storage="cpu")
    first = gpu.next_frame()
    assert isinstance(first, torch.Tensor) and first.dtype == torch.float32
    assert np.array_equal(first.numpy(), cpu.frame(0))
    assert gpu.next_frame() is first
    assert np.array_equal(gpu.frame(5).numpy(), cpu.frame(5))


@pytest.mark.gpu
def test_cuda_storage_matches_cpu_frames():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    spec = SyntheticInputConfig("frame", pattern="checkerboard", period=3.0)
    gpu = SyntheticPatternGenerator(
        spec, shape=(9, 9), dtype="float32", storage="gpu", gpu_device="cuda:0"
    )
    cpu = SyntheticPatternGenerator(spec, shape=(9, 9), dtype="float32", storage="cpu")
    frame = gpu.next_frame()
    assert frame.device.type == "cuda"
    assert np.array_equal(frame.cpu().numpy(), cpu.frame(0))
    assert np.array_equal(gpu.frame(4).cpu().numpy(), cpu.frame(4))


def test_gpu_storage_requires_a_device():
    with pytest.raises(ConfigValidationError, match="gpu_device"):
        SyntheticPatternGenerator(
            SyntheticInputConfig("f"), shape=(2,), dtype="float32", storage="gpu"
        )


# --- config ---------------------------------------------------------------------------------


def test_config_defaults_match_the_seed_api():
    spec = SyntheticInputConfig("frame")
    assert (spec.pattern, spec.rate_hz, spec.seed, spec.amplitude, spec.offset) == (
        "random",
        None,
        0,
        1.0,
        0.0,
    )
    assert (spec.period, spec.constant, spec.impulse_interval) == (64.0, 0.0, 64)
    with pytest.raises(AttributeError):
        spec.seed = 3  # frozen


def test_config_normalises_values():
    spec = SyntheticInputConfig(
        " frame ", pattern=" SINE ", rate_hz=100, amplitude=2, seed=np.int64(4)
    )
    assert spec.stream_name == "frame" and spec.pattern == "sine"
    assert spec.rate_hz == 100.0 and isinstance(spec.rate_hz, float)
    assert spec.amplitude == 2.0 and type(spec.seed) is int


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pattern", "noise"),
        ("pattern", 3),
        ("rate_hz", 0),
        ("rate_hz", -5.0),
        ("rate_hz", float("inf")),
        ("rate_hz", "fast"),
        ("seed", -1),
        ("seed", 1.5),
        ("seed", True),
        ("amplitude", float("nan")),
        ("amplitude", "big"),
        ("offset", None),
        ("constant", float("inf")),
        ("period", 0),
        ("period", -2.0),
        ("impulse_interval", 0),
        ("impulse_interval", 2.5),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ConfigValidationError) as info:
        SyntheticInputConfig("cam", **{field: value})
    assert f"synthetic input 'cam': {field}:" in str(info.value)


def test_config_rejects_bad_stream_name():
    with pytest.raises(ConfigValidationError, match="stream_name"):
        SyntheticInputConfig("  ")


def test_from_dict_round_trip_and_errors():
    spec = SyntheticInputConfig.from_dict(
        {"stream_name": "a", "pattern": "ramp", "rate_hz": 50, "period": 8}
    )
    assert SyntheticInputConfig.from_dict(spec.to_dict()) == spec
    assert json.loads(json.dumps(spec.to_dict())) == spec.to_dict()
    assert SyntheticInputConfig.from_dict({"stream_name": "a", "seed": None}).seed == 0
    with pytest.raises(ConfigValidationError, match=r"'a': paterns: unknown key"):
        SyntheticInputConfig.from_dict({"stream_name": "a", "paterns": "ramp"})
    with pytest.raises(ConfigValidationError, match="stream_name: required"):
        SyntheticInputConfig.from_dict({"pattern": "ramp"})
    with pytest.raises(ConfigValidationError, match="mapping"):
        SyntheticInputConfig.from_dict(["a"])


def test_parse_shorthand():
    assert parse_synthetic_shorthand("frame:random") == SyntheticInputConfig("frame")
    spec = parse_synthetic_shorthand("wfs:sine:250.5")
    assert (spec.stream_name, spec.pattern, spec.rate_hz) == ("wfs", "sine", 250.5)
    assert parse_synthetic_shorthand("wfs:ramp:max").rate_hz is None
    spec = parse_synthetic_shorthand(
        "gain:constant:2,constant=0.5, seed=4,impulse_interval=3"
    )
    assert (spec.rate_hz, spec.constant, spec.seed, spec.impulse_interval) == (
        2.0,
        0.5,
        4,
        3,
    )
    assert parse_synthetic_shorthand("f:ramp,rate_hz=max,period=8").period == 8.0
    for bad, match in [
        ("frame", "STREAM:PATTERN"),
        (":random", "STREAM:PATTERN"),
        ("a:b:c:d", "STREAM:PATTERN"),
        ("frame:noise", "pattern"),
        ("frame:sine:fast", "rate_hz"),
        ("frame:sine:-3", "rate_hz"),
        ("frame:sine,period", "FIELD=VALUE"),
        ("frame:sine,colour=red", "FIELD one of"),
        ("frame:sine,stream_name=x", "FIELD one of"),
        ("frame:sine,seed=1.5", "seed: must be an integer"),
        ("frame:sine,amplitude=big", "amplitude: must be a number"),
    ]:
        with pytest.raises(ConfigValidationError, match=match):
            parse_synthetic_shorthand(bad)


def test_generator_rejects_bad_inputs():
    spec = SyntheticInputConfig("f")
    with pytest.raises(ConfigValidationError, match="dtype"):
        SyntheticPatternGenerator(
            spec, shape=(2,), dtype="datetime64[ns]", storage="cpu"
        )
    with pytest.raises(ConfigValidationError, match="storage"):
        SyntheticPatternGenerator(spec, shape=(2,), dtype="float32", storage="tpu")
    with pytest.raises(ConfigValidationError, match="shape"):
        SyntheticPatternGenerator(spec, shape=(2, 0), dtype="float32", storage="cpu")
    gen = SyntheticPatternGenerator(spec, shape=(2,), dtype="float32", storage="cpu")
    with pytest.raises(ValueError, match="non-negative"):
        gen.frame(-1)
    with pytest.raises(ValueError, match="out must be"):
        gen.frame_into(0, np.empty(2, np.float64))


# --- the background writer ------------------------------------------------------------------


@pytest.fixture
def stream():
    s = SharedStream.create("frame", (8, 12), "float32")
    try:
        yield s
    finally:
        s.close()
        s.unlink()


def test_controller_writes_increasing_frame_ids_with_the_pattern(stream):
    spec = SyntheticInputConfig("frame", pattern="random", seed=3)
    controller = SyntheticSourceController(stream, spec)
    reference_gen = SyntheticPatternGenerator(
        spec, shape=(8, 12), dtype="float32", storage="cpu"
    )
    reader = SharedStream.open("frame")
    seen: list[int] = []
    buf = np.empty((8, 12), np.float32)
    try:
        controller.start()
        while len(seen) < 20:
            reader.read_new_into(buf, timeout=10.0)
            frame_id = reader.last_frame_id
            assert np.array_equal(buf, reference_gen.frame(frame_id - 1))
            seen.append(frame_id)
    finally:
        controller.stop()
        reader.close()
    assert seen == sorted(set(seen)) and seen[0] >= 1
    snap = controller.snapshot()
    assert snap["alive"] is False and snap["last_error"] is None
    assert (
        snap["frames_written"]
        == stream.count
        == stream.frame_id
        == snap["last_frame_id"]
    )
    json.dumps(snap)


def test_controller_paces_by_rate(stream):
    controller = SyntheticSourceController(
        stream, {"stream_name": "frame", "pattern": "sine", "rate_hz": 200}
    )
    controller.start()
    time.sleep(0.4)
    controller.stop()
    snap = controller.snapshot()
    # Absolute deadlines: frame n is never written before start + n / rate.
    assert 1 <= snap["frames_written"] <= 200 * snap["elapsed_s"] + 1
    assert snap["requested_rate_hz"] == 200.0 and snap["effective_rate_hz"] > 0


def test_controller_restart_continues_and_stop_is_idempotent(stream):
    controller = SyntheticSourceController(
        stream, SyntheticInputConfig("frame", pattern="ramp", rate_hz=500)
    )
    controller.stop()  # before start: nothing to do
    controller.start()
    controller.start()  # already running: no-op
    while stream.count < 3:
        time.sleep(0.005)
    controller.stop()
    first = controller.snapshot()["last_frame_id"]
    controller.start()
    while stream.count < first + 3:
        time.sleep(0.005)
    controller.stop()
    controller.stop()
    assert stream.frame_id == stream.count == controller.snapshot()["frames_written"]
    assert controller.running is False


class _FailingStream:
    """A write-only stream stand-in whose writes start failing."""

    shape = (3,)
    dtype = np.dtype("int16")

    def __init__(self, fail_after: int) -> None:
        self.fail_after = fail_after
        self.frames: list[tuple[int, np.ndarray]] = []
        self.done = threading.Event()

    def write(self, array, *, frame_id=None):
        if len(self.frames) >= self.fail_after:
            self.done.set()
            raise OSError("device gone")
        self.frames.append((frame_id, np.array(array)))


@pytest.mark.parametrize("storage", ["cpu", "gpu"])
def test_controller_reports_write_errors_and_stops(storage):
    fake = _FailingStream(fail_after=4)
    fake.storage = storage  # a GPU stream is fed through write(host frame)
    controller = SyntheticSourceController(
        fake,
        SyntheticInputConfig(
            "frame", pattern="impulse", impulse_interval=1, amplitude=7
        ),
    )
    controller.start()
    assert fake.done.wait(10.0)
    controller.stop()
    snap = controller.snapshot()
    assert snap["storage"] == storage
    assert snap["last_error"] == "OSError: device gone"
    assert snap["alive"] is False and snap["frames_written"] == 4
    assert [fid for fid, _ in fake.frames] == [1, 2, 3, 4]
    for fid, frame in fake.frames:
        expected = np.zeros(3, np.int16)
        expected[(fid - 1) % 3] = 7
        assert np.array_equal(frame, expected)


@pytest.mark.parametrize("pattern", ["random", "sine", "ramp"])
def test_fractional_patterns_warn_on_integer_streams(pattern):
    """As the published package does: a float-valued pattern on an integer
    stream warns (its values are rounded and clipped); exact patterns don't."""
    import warnings

    from shmpipeline.synthetic_frames import (
        SyntheticInputConfig,
        SyntheticPatternGenerator,
    )

    spec = SyntheticInputConfig(stream_name="s", pattern=pattern)
    with pytest.warns(UserWarning, match=f"pattern '{pattern}' produces fractional"):
        SyntheticPatternGenerator(spec, shape=(4,), dtype="int32", storage="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SyntheticPatternGenerator(spec, shape=(4,), dtype="float32", storage="cpu")
        exact = SyntheticInputConfig(stream_name="s", pattern="constant")
        SyntheticPatternGenerator(exact, shape=(4,), dtype="int32", storage="cpu")
