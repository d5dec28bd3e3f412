"""Golden files and the comparator's report."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shmpipeline.errors import (
    ConfigValidationError,
    GoldenMismatchError,
    GoldenMissingError,
    ShmPipelineError,
)
from shmpipeline.testing import golden
from shmpipeline.testing.scenario import Tolerance, Tolerances


def _captures(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "slopes": rng.normal(size=(6, 4, 5)).astype(np.float32),
        "ids": rng.integers(0, 100, size=(6, 3)).astype(np.int32),
        "flags": rng.random((6, 2)) > 0.5,
        "wide": rng.normal(size=(6, 3)),
    }


def test_round_trip_keeps_arrays_and_metadata(tmp_path):
    caps = _captures()
    path = golden.save_golden(
        tmp_path / "g.golden.npz", caps, scenario_hash="abc123", metadata={"frames": 6}
    )
    loaded = golden.load_golden(path)
    assert set(loaded.arrays) == set(caps)
    for name, array in caps.items():
        assert loaded.arrays[name].dtype == array.dtype
        np.testing.assert_array_equal(loaded.arrays[name], array)
    meta = loaded.metadata
    assert meta["format_version"] == golden.FORMAT_VERSION
    assert meta["scenario_hash"] == "abc123" == loaded.scenario_hash
    assert meta["frames"] == 6
    assert meta["shmpipeline_version"]
    assert "created" not in meta  # no date: equal content, equal bytes
    assert meta["streams"]["slopes"] == {"shape": [4, 5], "dtype": "<f4", "frames": 6}
    # no temporary file left beside it
    assert [p.name for p in tmp_path.iterdir()] == ["g.golden.npz"]
    assert golden.compare_captures(caps, loaded).ok


def test_missing_golden_says_how_to_record(tmp_path):
    with pytest.raises(GoldenMissingError) as info:
        golden.load_golden(tmp_path / "nope.golden.npz")
    assert isinstance(info.value, ShmPipelineError)
    text = str(info.value)
    assert "nope.golden.npz" in text
    assert "--update-goldens" in text and "shmpipeline scenario record" in text


def test_foreign_npz_is_rejected(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, x=np.zeros(3))
    with pytest.raises(GoldenMismatchError, match="not a golden file"):
        golden.load_golden(path)
    bad = tmp_path / "junk.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(GoldenMismatchError, match="not a readable golden"):
        golden.load_golden(bad)


def test_altered_golden_report_locates_the_change(tmp_path):
    caps = _captures()
    expected = {k: v.copy() for k, v in caps.items()}
    expected["slopes"][3, 2, 1] += 0.5
    expected["slopes"][4, 0, 0] += 0.25
    path = golden.save_golden(tmp_path / "g.npz", expected, scenario_hash="h")
    report = golden.compare_captures(caps, golden.load_golden(path))
    assert not report.ok
    slopes = report["slopes"]
    assert slopes.status == "mismatch"
    assert slopes.differing == 2 and slopes.elements == 6 * 4 * 5
    assert slopes.percent == pytest.approx(100 * 2 / 120)
    assert slopes.first_diverging_frame == 3
    assert slopes.max_abs_where == (3, (2, 1))
    want = abs(
        np.float64(caps["slopes"][3, 2, 1]) - np.float64(expected["slopes"][3, 2, 1])
    )
    assert slopes.max_abs_error == pytest.approx(want)
    rel = np.abs(caps["slopes"].astype(float) - expected["slopes"]) / np.abs(
        expected["slopes"].astype(float)
    )
    assert slopes.max_rel_where == (
        int(np.unravel_index(rel.argmax(), rel.shape)[0]),
        tuple(int(i) for i in np.unravel_index(rel.argmax(), rel.shape)[1:]),
    )
    assert all(report[n].ok for n in ("ids", "flags", "wide"))
    text = report.format()
    assert "'slopes'" in text and "2 of 120 elements differ" in text
    assert "first diverging frame: 3" in text
    assert "frame 3, index [2, 1]" in text
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    stream = next(s for s in data["streams"] if s["name"] == "slopes")
    assert stream["max_abs_where"] == {"frame": 3, "index": [2, 1]}
    with pytest.raises(GoldenMismatchError):
        report.raise_for_mismatch()


def test_default_tolerances_per_dtype():
    assert golden.default_tolerance(np.float16) == (1e-3, 1e-3)
    assert golden.default_tolerance(np.float32) == (1e-5, 1e-6)
    assert golden.default_tolerance(np.float64) == (1e-9, 1e-12)
    assert golden.default_tolerance(np.complex64) == (1e-5, 1e-6)
    e = np.ones((2, 3), np.float32)
    assert golden.compare_captures({"x": e * (1 + 5e-6)}, {"x": e}).ok
    assert not golden.compare_captures({"x": e * (1 + 5e-5)}, {"x": e}).ok
    d = np.ones((2, 3))
    assert not golden.compare_captures({"x": d * (1 + 5e-6)}, {"x": d}).ok


def test_tolerance_overrides_per_stream_and_field():
    e = np.ones((2, 3), np.float32)
    a = e + np.float32(1e-3)
    tols = Tolerances(streams={"x": Tolerance(atol=1e-2)})
    assert golden.compare_captures({"x": a}, {"x": e}, tolerances=tols).ok
    assert not golden.compare_captures({"y": a}, {"y": e}, tolerances=tols).ok
    as_dict = {"default": {"rtol": 0.0, "atol": 0.0}, "streams": {"x": {"rtol": 1e-2}}}
    report = golden.compare_captures(
        {"x": a, "y": a}, {"x": e, "y": e}, tolerances=as_dict
    )
    assert report["x"].ok and not report["y"].ok
    assert dict(report["x"].tolerance) == {"rtol": 1e-2, "atol": 1e-6}


def test_ulp_mode():
    e = np.array([[1.0, -2.0, 0.0]], np.float32)
    a = e.copy()
    a[0, 0] = np.nextafter(np.nextafter(e[0, 0], 2), 2)  # 2 ulp up
    a[0, 2] = -0.0
    report = golden.compare_captures({"x": a}, {"x": e}, tolerances={"ulp": 2})
    assert report.ok and report["x"].differing == 0
    report = golden.compare_captures({"x": a}, {"x": e}, tolerances=Tolerance(ulp=1))
    assert not report.ok and report["x"].max_ulp == 2
    assert report["x"].max_abs_where == (0, (0,))
    # across zero: smallest subnormals either side are 2 ulp apart
    tiny = np.array([[np.nextafter(np.float64(0), 1)]])
    assert golden.compare_captures({"x": -tiny}, {"x": tiny}, tolerances={"ulp": 2}).ok
    assert not golden.compare_captures(
        {"x": -tiny}, {"x": tiny}, tolerances={"ulp": 1}
    ).ok


def test_nan_positions_must_match():
    e = np.zeros((3, 4), np.float64)
    e[1, 2] = np.nan
    assert golden.compare_captures({"x": e.copy()}, {"x": e}).ok
    a = e.copy()
    a[1, 2] = 0.0
    a[2, 3] = np.nan
    r = golden.compare_captures({"x": a}, {"x": e})["x"]
    assert r.nan_mismatches == 2 and r.differing == 2
    assert r.first_nan_mismatch == (1, (2,))
    assert r.first_diverging_frame == 1
    assert "NaN positions differ at 2 elements" in r.format()


def test_ints_bools_exact_and_structure_problems():
    e = np.arange(12, dtype=np.int16).reshape(3, 4)
    a = e.copy()
    a[2, 1] += 1
    r = golden.compare_captures({"i": a}, {"i": e})["i"]
    assert not r.ok and r.differing == 1 and r.max_abs_where == (2, (1,))
    assert r.tolerance is None and "exact" in r.format()
    b = np.zeros((2, 2), bool)
    assert not golden.compare_captures({"b": ~b}, {"b": b}).ok
    report = golden.compare_captures(
        {"x": e.astype(np.int32), "y": e[:2], "z": e[:, :2], "new": e},
        {"x": e, "y": e, "z": e, "gone": e},
    )
    assert report["x"].status == "dtype"
    assert (
        report["y"].status == "shape"
        and "2 frames captured, golden has 3" in report["y"].message
    )
    assert report["z"].status == "shape"
    assert report["new"].status == "extra" and report["gone"].status == "missing"
    text = report.format()
    assert "'gone'" in text and "not captured" in text and "'new'" in text


def test_scenario_hash_change_fails_with_rerecord_hint(tmp_path):
    caps = _captures()
    path = golden.save_golden(tmp_path / "g.npz", caps, scenario_hash="old" * 5)
    loaded = golden.load_golden(path)
    assert golden.compare_captures(caps, loaded).ok  # no hash given: values only
    report = golden.compare_captures(caps, loaded, scenario_hash="new" * 5)
    assert not report.ok and report.hash_changed
    assert "scenario changed since the golden was recorded" in report.format()
    assert "--update-goldens" in report.format()
    assert golden.compare_captures(caps, loaded, scenario_hash="old" * 5).ok


_arrays = hnp.arrays(
    dtype=st.sampled_from(
        [np.float16, np.float32, np.float64, np.int8, np.uint32, np.bool_]
    ),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
)


@settings(max_examples=60, deadline=None)
@given(_arrays)
def test_identical_captures_always_match(array):
    assert golden.compare_captures({"s": array}, {"s": array.copy()}).ok


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int32]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements={"min_value": -100, "max_value": 100, "allow_nan": False},
    ),
    st.data(),
)
def test_single_perturbed_element_is_located(array, data):
    flat = data.draw(st.integers(0, array.size - 1))
    changed = array.copy()
    changed.flat[flat] = changed.flat[flat] + 1000
    r = golden.compare_captures({"s": changed}, {"s": array})["s"]
    where = np.unravel_index(flat, array.shape)
    assert r.differing == 1
    assert r.max_abs_where == (int(where[0]), tuple(int(i) for i in where[1:]))
    assert r.first_diverging_frame == int(where[0])


# --- rules at the edges -------------------------------------------------------------


def test_infinities_must_be_equal():
    e = np.array([[np.inf, -np.inf, 1.0]])
    assert golden.compare_captures({"x": e.copy()}, {"x": e}).ok
    for index, value in ((0, 1e308), (1, np.inf), (2, np.inf)):
        a = e.copy()
        a[0, index] = value
        report = golden.compare_captures(
            {"x": a}, {"x": e}, tolerances={"rtol": 1.0, "atol": 1.0}
        )
        assert not report.ok, (index, value)
        assert report["x"].differing == 1
        assert report["x"].max_abs_where == (0, (index,))


def test_tolerance_mappings_are_validated():
    e = np.zeros((2, 3))
    bad = [
        ({"rtoll": 1e-3}, "tolerances for stream 'x': unknown key 'rtoll'"),
        ({"rtol": -1.0}, "rtol: must be a non-negative number, got -1.0"),
        ({"atol": "small"}, "atol: must be a non-negative number"),
        ({"ulp": 1.5}, "ulp: must be a non-negative integer, got 1.5"),
        ({"ulp": 2, "rtol": 1e-3}, "use either rtol/atol or ulp, not both"),
        ({"streams": {"x": {"ulp": -1}}}, "ulp: must be a non-negative integer"),
        ({"default": {}, "stream": {}}, "tolerances: unknown key 'stream'"),
        ({"streams": [1]}, "tolerances.streams: must be a mapping"),
        ({"streams": {"x": 3}}, "tolerances for stream 'x': must be a mapping"),
    ]
    for tolerances, text in bad:
        with pytest.raises(ConfigValidationError) as info:
            golden.compare_captures({"x": e}, {"x": e}, tolerances=tolerances)
        assert text in str(info.value), tolerances
    # the scenario's shorthand: rtol/atol beside default/streams set the default
    a = e + 0.01
    spec = {"atol": 0.1, "streams": {"y": {"atol": 0.0}}}
    report = golden.compare_captures(
        {"x": a, "y": a}, {"x": e, "y": e}, tolerances=spec
    )
    assert report["x"].ok and not report["y"].ok


def test_ulp_mode_float16_and_complex():
    e = np.array([[1.0, 2.0]], np.float16)
    a = e.copy()
    a[0, 1] = np.nextafter(e[0, 1], np.float16(3))
    assert golden.compare_captures({"h": a}, {"h": e}, tolerances={"ulp": 1}).ok
    assert not golden.compare_captures({"h": a}, {"h": e}, tolerances={"ulp": 0}).ok
    c = np.array([[1 + 1j, 2 - 1j]], np.complex64)
    d = c.copy()
    d[0, 1] = np.complex64(complex(2, np.nextafter(np.float32(-1), np.float32(0))))
    report = golden.compare_captures({"c": d}, {"c": c}, tolerances={"ulp": 0})
    assert not report.ok and report["c"].max_ulp == 1
    assert report["c"].dtype == "complex64"
    assert report["c"].max_abs_where == (0, (1, 1))  # imaginary part of [1]
    assert golden.compare_captures({"c": d}, {"c": c}, tolerances={"ulp": 1}).ok


def test_frame_count_mismatch_says_where_the_common_frames_diverge():
    e = np.arange(24, dtype=np.float64).reshape(6, 4)
    short = e[:4].copy()
    r = golden.compare_captures({"x": short}, {"x": e})["x"]
    assert r.status == "shape" and not r.ok
    assert r.message == "4 frames captured, golden has 6; the 4 frames both have match"
    assert r.first_diverging_frame == 4
    short[2, 1] += 1
    r = golden.compare_captures({"x": short}, {"x": e})["x"]
    assert "of the 4 frames both have, 1 elements differ, first at frame 2" in r.message
    assert r.first_diverging_frame == 2 and r.max_abs_where == (2, (1,))
    longer = np.concatenate([e, e[:1]])
    r = golden.compare_captures({"x": longer}, {"x": e})["x"]
    assert r.message.startswith("7 frames captured, golden has 6")


def test_bools_report_the_first_difference():
    e = np.zeros((3, 2, 2), bool)
    a = e.copy()
    a[1, 0, 1] = a[2, 1, 1] = True
    r = golden.compare_captures({"b": a}, {"b": e})["b"]
    assert r.differing == 2 and r.first_diverging_frame == 1
    assert r.max_abs_where == (1, (0, 1)) and r.max_rel_error is None


def test_every_report_is_json_serialisable(tmp_path):
    e = _captures()
    a = {k: v.copy() for k, v in e.items()}
    a["slopes"][0, 0, 0] = np.inf
    a["wide"][1, 1] = np.nan
    a["ids"] = a["ids"][:4]
    del a["flags"]
    a["new"] = np.zeros((6, 1))
    path = golden.save_golden(tmp_path / "g.npz", e, scenario_hash="h1")
    report = golden.compare_captures(a, golden.load_golden(path), scenario_hash="h2")
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ok"] is False and data["scenario_hash"]["changed"] is True
    status = {s["name"]: s["status"] for s in data["streams"]}
    assert status == {
        "flags": "missing",
        "ids": "shape",
        "new": "extra",
        "slopes": "mismatch",
        "wide": "mismatch",
    }
    slopes = next(s for s in data["streams"] if s["name"] == "slopes")
    assert slopes["max_abs_error"] == "inf"
    wide = next(s for s in data["streams"] if s["name"] == "wide")
    assert wide["nan_mismatches"] == 1
    assert wide["first_nan_mismatch"] == {"frame": 1, "index": [1]}
    text = report.format()
    assert text.startswith("5 of 5 streams differ from the golden against")
    assert "scenario changed since the golden was recorded" in text
    assert "NaN positions differ at 1 elements, first at frame 1, index [1]" in text


# --- files at the edges ---------------------------------------------------------------


def test_loaded_arrays_are_read_only(tmp_path):
    path = golden.save_golden(tmp_path / "g.npz", _captures(), scenario_hash="h")
    loaded = golden.load_golden(path)
    with pytest.raises(ValueError, match="read-only"):
        loaded.arrays["slopes"][0, 0, 0] = 1.0
    with pytest.raises(TypeError):
        loaded.arrays["new"] = np.zeros(3)  # type: ignore[index]


def test_scalar_captures_are_refused(tmp_path):
    with pytest.raises(ValueError, match="a capture is \\(frames, \\*shape\\)"):
        golden.save_golden(tmp_path / "g.npz", {"x": 3.0}, scenario_hash="h")
    with pytest.raises(ValueError, match="reserved"):
        golden.save_golden(
            tmp_path / "g.npz", {golden.METADATA_KEY: np.zeros(2)}, scenario_hash="h"
        )


def _write_raw(path, arrays, metadata):
    payload = dict(arrays)
    payload[golden.METADATA_KEY] = np.array(json.dumps(metadata))
    np.savez(path, **payload)
    return path


@pytest.mark.parametrize("version", [0, golden.FORMAT_VERSION + 1, "1", None, True])
def test_unknown_format_version_is_refused(tmp_path, version):
    x = np.zeros((2, 3))
    meta = {
        "format_version": version,
        "scenario_hash": "h",
        "streams": {"x": {"frames": 2, "shape": [3], "dtype": x.dtype.str}},
    }
    path = _write_raw(tmp_path / "g.npz", {"x": x}, meta)
    with pytest.raises(GoldenMismatchError) as info:
        golden.load_golden(path)
    text = str(info.value)
    assert f"golden format version {version!r} is not supported" in text
    assert "re-record it" in text and "--update-goldens" in text


def test_golden_disagreeing_with_its_metadata_is_corrupt(tmp_path):
    x = np.zeros((2, 3))
    good = {"x": {"frames": 2, "shape": [3], "dtype": x.dtype.str}}
    cases = [
        ({"x": x}, {"x": {**good["x"], "frames": 5}}, "stream 'x' is recorded as"),
        ({"x": x}, {"x": {**good["x"], "dtype": "<f4"}}, "stream 'x' is recorded as"),
        ({"x": x, "y": x}, good, "not the streams its metadata lists"),
        ({"x": x}, None, "not the streams its metadata lists"),
    ]
    for arrays, streams, text in cases:
        meta = {"format_version": 1, "scenario_hash": "h", "streams": streams}
        path = _write_raw(tmp_path / "g.npz", arrays, meta)
        with pytest.raises(GoldenMismatchError, match="corrupt golden") as info:
            golden.load_golden(path)
        assert text in str(info.value)
    path = _write_raw(tmp_path / "g.npz", {"x": x}, ["not", "a", "mapping"])
    with pytest.raises(GoldenMismatchError, match="corrupt golden metadata"):
        golden.load_golden(path)


def test_save_overwrites_atomically(tmp_path):
    path = tmp_path / "sub" / "g.golden.npz"
    golden.save_golden(path, {"x": np.zeros((2, 2))}, scenario_hash="a")
    golden.save_golden(path, {"x": np.ones((3, 2))}, scenario_hash="b")
    loaded = golden.load_golden(path)
    assert loaded.scenario_hash == "b" and loaded.arrays["x"].shape == (3, 2)
    assert [p.name for p in path.parent.iterdir()] == ["g.golden.npz"]


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float16, np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=3, max_side=4),
        elements={"allow_nan": False, "allow_infinity": False},
    ),
    st.data(),
)
def test_a_single_nan_is_located(array, data):
    flat = data.draw(st.integers(0, array.size - 1))
    changed = array.copy()
    changed.flat[flat] = np.nan
    r = golden.compare_captures({"s": changed}, {"s": array})["s"]
    where = np.unravel_index(flat, array.shape)
    assert r.nan_mismatches == 1 and r.differing == 1
    assert r.first_nan_mismatch == (int(where[0]), tuple(int(i) for i in where[1:]))
    # the other way round too: a number where the golden has NaN
    r = golden.compare_captures({"s": array}, {"s": changed})["s"]
    assert r.nan_mismatches == 1 and r.first_diverging_frame == int(where[0])


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements={"min_value": -1e6, "max_value": 1e6},
    ),
    st.integers(0, 8),
)
def test_values_within_n_ulp_pass_ulp_n(array, steps):
    moved = array.copy()
    for _ in range(steps):
        moved = np.nextafter(moved, np.inf).astype(array.dtype)
    assert golden.compare_captures(
        {"s": moved}, {"s": array}, tolerances={"ulp": steps}
    ).ok
    if steps:
        report = golden.compare_captures(
            {"s": moved}, {"s": array}, tolerances={"ulp": steps - 1}
        )
        assert report["s"].differing == array.size
        assert report["s"].max_ulp == steps
