"""Golden files and the comparator's report (SPEC §8)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from shmpipeline.errors import (
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
    assert meta["created"]
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
