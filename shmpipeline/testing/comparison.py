"""Comparing a run's captures with a golden, stream by stream.

Comparison rules, per stream:

- shape (frame count included) and dtype must match exactly;
- integer, bool and other non-float streams must be equal element for element;
- float (and complex) streams are close when ``|a - e| <= atol + rtol * |e|``
  (infinities must be equal), or, in ULP mode (``ulp: N``), when at most ``N``
  representable values apart. NaN positions must match exactly and are
  reported on their own. Default tolerances per dtype
  (:data:`DEFAULT_TOLERANCES`): float16 ``rtol=1e-3, atol=1e-3``; float32
  ``rtol=1e-5, atol=1e-6``; float64 ``rtol=1e-9, atol=1e-12`` (complex: those
  of its component type). Why: float16 has an 11-bit significand (eps ~1e-3),
  so anything tighter fails on one rounding step; float32 (eps ~1.2e-7)
  leaves ~80 ulp for a different summation order or SIMD path (the GPU
  twins of the CPU kernels); float64 (eps ~2.2e-16) leaves a few million ulp,
  still far below any physical change. The ``atol`` floors keep values
  that should be 0 but come out as rounding residue from failing. A
  stream's ``rtol``/``atol`` override the defaults field by field;
- streams missing from the run, or captured but absent from the golden, fail.

Tolerances (:data:`ToleranceSpec`) come as a scenario's ``Tolerances`` /
``Tolerance`` or as plain mappings ``{"default": {...}, "streams": {name:
{...}}}`` / ``{"rtol": .., "atol": .., "ulp": ..}``, read by the one parser
of :mod:`shmpipeline.testing.tolerances` (also the scenario files'); a bad
mapping raises :class:`~shmpipeline.errors.ConfigValidationError` naming the
stream and field.

A golden records the hash of the scenario it was made from: given the
current hash, :func:`compare_captures` fails a comparison against a golden
of another hash (the scenario changed since the golden was recorded;
re-record it), whatever the values.

A failing stream reports the elements differing (count and %), the max
absolute and relative error and where (frame, index), and the first frame
that diverged (see :meth:`ComparisonReport.format`).

A golden's hash is compared too: given the current scenario hash,
:func:`compare_captures` fails against a golden recorded from another one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np

from shmpipeline.errors import ConfigValidationError, GoldenMismatchError
from shmpipeline.testing.tolerances import (
    Tolerance,
    ToleranceSpec,
    default_tolerance,
    float_component,
    tolerance_for_stream,
)

__all__ = [
    "RECORD_HINT",
    "ComparisonReport",
    "GoldenLike",
    "StreamComparison",
    "compare_captures",
    "differing_elements",
]

#: How to record a golden (quoted by :class:`GoldenMissingError`); callers
#: that know the scenario give the exact command instead.
RECORD_HINT = (
    "record it with `shmpipeline scenario record SCENARIO.yaml` or "
    "`pytest SCENARIO.yaml --update-goldens`"
)


class GoldenLike(Protocol):
    """What the comparator reads of a loaded golden
    (:class:`~shmpipeline.testing.golden.Golden`)."""

    @property
    def arrays(self) -> Mapping[str, Any]: ...

    @property
    def path(self) -> Path | None: ...

    @property
    def scenario_hash(self) -> str | None: ...


# --- tolerances ----------------------------------------------------------------


def _resolve(tolerance: Tolerance | None, dtype: np.dtype) -> dict[str, Any]:
    ulp = None if tolerance is None else tolerance.ulp
    if ulp is not None:
        base = float_component(dtype)
        if base.itemsize not in (2, 4, 8):
            raise ConfigValidationError(
                f"ulp tolerances support float16/32/64 (and complex64/128), "
                f"not {dtype}; use rtol/atol"
            )
        return {"ulp": int(ulp)}
    rtol, atol = default_tolerance(dtype)
    if tolerance is not None and tolerance.rtol is not None:
        rtol = float(tolerance.rtol)
    if tolerance is not None and tolerance.atol is not None:
        atol = float(tolerance.atol)
    return {"rtol": rtol, "atol": atol}


# --- comparison ----------------------------------------------------------------

Where = tuple[int, tuple[int, ...]]


@dataclass(frozen=True)
class StreamComparison:
    """The verdict on one stream.

    ``status``: ``ok``, ``mismatch`` (values), ``shape``, ``dtype``,
    ``missing`` (in the golden, not captured) or ``extra`` (captured, not in
    the golden). Locations are ``(frame, index-within-frame)``.
    """

    name: str
    status: str
    message: str = ""
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    tolerance: Mapping[str, Any] | None = None
    elements: int = 0
    differing: int = 0
    max_abs_error: float | None = None
    max_abs_where: Where | None = None
    max_rel_error: float | None = None
    max_rel_where: Where | None = None
    max_ulp: int | None = None
    first_diverging_frame: int | None = None
    nan_mismatches: int = 0
    first_nan_mismatch: Where | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def percent(self) -> float:
        """Share of differing elements, in percent."""
        return 100.0 * self.differing / self.elements if self.elements else 0.0

    def format(self) -> str:
        """One stream's report (a few lines)."""
        if self.status in ("missing", "extra", "shape", "dtype"):
            return f"stream {self.name!r}: {self.message}"
        head = f"stream {self.name!r}"
        if self.dtype is not None:
            head += f" ({self.dtype}, {_show_shape(self.shape)})"
        if self.ok:
            return f"{head}: ok"
        lines = [
            f"{head}: {self.differing} of {self.elements} elements differ "
            f"({self.percent:.3g}%), tolerance {_show_tol(self.tolerance)}",
            f"  first diverging frame: {self.first_diverging_frame}",
        ]
        if self.max_abs_error is not None:
            lines.append(
                f"  max abs error {self.max_abs_error:.6g} at "
                f"{_show_where(self.max_abs_where)}"
            )
        if self.max_rel_error is not None:
            lines.append(
                f"  max rel error {self.max_rel_error:.6g} at "
                f"{_show_where(self.max_rel_where)}"
            )
        if self.max_ulp is not None:
            lines.append(f"  max ULP distance {self.max_ulp}")
        if self.nan_mismatches:
            lines.append(
                f"  NaN positions differ at {self.nan_mismatches} elements, first "
                f"at {_show_where(self.first_nan_mismatch)}"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        def where(value: Where | None) -> Any:
            return (
                None if value is None else {"frame": value[0], "index": list(value[1])}
            )

        return {
            "name": self.name,
            "status": self.status,
            "ok": self.ok,
            "message": self.message,
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
            "tolerance": None if self.tolerance is None else dict(self.tolerance),
            "elements": self.elements,
            "differing": self.differing,
            "percent": self.percent,
            "max_abs_error": _json_float(self.max_abs_error),
            "max_abs_where": where(self.max_abs_where),
            "max_rel_error": _json_float(self.max_rel_error),
            "max_rel_where": where(self.max_rel_where),
            "max_ulp": self.max_ulp,
            "first_diverging_frame": self.first_diverging_frame,
            "nan_mismatches": self.nan_mismatches,
            "first_nan_mismatch": where(self.first_nan_mismatch),
        }


@dataclass(frozen=True)
class ComparisonReport:
    """Every stream's :class:`StreamComparison`, plus a scenario-hash check
    (``hash_expected``/``hash_actual`` set when both are known)."""

    streams: tuple[StreamComparison, ...]
    hash_expected: str | None = None
    hash_actual: str | None = None
    golden_path: Path | None = None

    @property
    def hash_changed(self) -> bool:
        return (
            self.hash_expected is not None
            and self.hash_actual is not None
            and self.hash_expected != self.hash_actual
        )

    @property
    def ok(self) -> bool:
        return not self.hash_changed and all(s.ok for s in self.streams)

    @property
    def failures(self) -> tuple[StreamComparison, ...]:
        return tuple(s for s in self.streams if not s.ok)

    def __getitem__(self, name: str) -> StreamComparison:
        for stream in self.streams:
            if stream.name == name:
                return stream
        raise KeyError(name)

    def format(self) -> str:
        """Readable multi-line report: failing streams first, then a summary."""
        where = f" against {self.golden_path}" if self.golden_path else ""
        failing = self.failures
        lines: list[str] = []
        if self.hash_changed:
            lines.append(
                "the scenario changed since the golden was recorded (hash "
                f"{self.hash_expected[:12]} in the golden, now "  # type: ignore[index]
                f"{self.hash_actual[:12]}); if the change is intended, " + RECORD_HINT  # type: ignore[index]
            )
        if not failing:
            lines.insert(0, f"all {len(self.streams)} streams match the golden{where}")
            return "\n".join(lines)
        lines.insert(
            0,
            f"{len(failing)} of {len(self.streams)} streams differ from the "
            f"golden{where}:",
        )
        lines.extend(s.format() for s in failing)
        passing = [s.name for s in self.streams if s.ok]
        if passing:
            lines.append("matching: " + ", ".join(passing))
        return "\n".join(lines)

    def raise_for_mismatch(self) -> None:
        """Raise :class:`~shmpipeline.errors.GoldenMismatchError` unless ok."""
        if not self.ok:
            raise GoldenMismatchError(self.format())

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "golden": None if self.golden_path is None else str(self.golden_path),
            "scenario_hash": {
                "golden": self.hash_expected,
                "now": self.hash_actual,
                "changed": self.hash_changed,
            },
            "streams": [s.to_dict() for s in self.streams],
        }


def compare_captures(
    actual: Mapping[str, Any],
    expected: GoldenLike | Mapping[str, Any],
    *,
    tolerances: ToleranceSpec | None = None,
    scenario_hash: str | None = None,
) -> ComparisonReport:
    """Compare captured streams with a golden (see the module docstring).

    ``actual`` and a mapping ``expected`` hold ``(frames, *shape)`` arrays
    per stream. ``tolerances``: ``None`` (per-dtype defaults) or a
    :data:`ToleranceSpec`. With ``scenario_hash`` and a golden
    carrying one, a different hash fails the comparison too.
    """
    golden_path = None
    hash_expected = None
    if not isinstance(expected, Mapping):  # a loaded golden
        golden_path = expected.path
        hash_expected = expected.scenario_hash
        expected_arrays: Mapping[str, Any] = expected.arrays
    else:
        expected_arrays = expected
    results: list[StreamComparison] = []
    for name in sorted(set(actual) | set(expected_arrays)):
        tolerance = tolerance_for_stream(tolerances, name)
        if name not in actual:
            results.append(
                StreamComparison(
                    name, "missing", "in the golden but not captured by this run"
                )
            )
            continue
        if name not in expected_arrays:
            results.append(
                StreamComparison(
                    name, "extra", "captured by this run but not in the golden"
                )
            )
            continue
        results.append(
            _compare_stream(
                name,
                np.asarray(actual[name]),
                np.asarray(expected_arrays[name]),
                tolerance,
            )
        )
    return ComparisonReport(
        tuple(results),
        hash_expected=hash_expected if scenario_hash is not None else None,
        hash_actual=scenario_hash if hash_expected is not None else None,
        golden_path=golden_path,
    )


def _compare_stream(
    name: str, a: np.ndarray, e: np.ndarray, tolerance: Tolerance | None
) -> StreamComparison:
    if a.dtype != e.dtype:
        return StreamComparison(
            name, "dtype", f"dtype {a.dtype} captured, golden has {e.dtype}"
        )
    if a.shape != e.shape:
        if a.ndim and e.ndim and a.shape[1:] == e.shape[1:]:
            return _frame_count_mismatch(name, a, e, tolerance)
        return StreamComparison(
            name,
            "shape",
            f"shape {_show_shape(a.shape[1:])} captured, golden has "
            f"{_show_shape(e.shape[1:])}",
        )
    if a.ndim == 0:  # a lone value: one frame of a scalar
        a, e = a.reshape(1), e.reshape(1)
    return _compare_values(name, a, e, tolerance)


def _frame_count_mismatch(
    name: str, a: np.ndarray, e: np.ndarray, tolerance: Tolerance | None
) -> StreamComparison:
    """A ``shape`` verdict for a run of another length, saying how the
    frames both have compare (where it first diverged, if it did)."""
    common = min(a.shape[0], e.shape[0])
    message = f"{a.shape[0]} frames captured, golden has {e.shape[0]}"
    prefix = _compare_values(name, a[:common], e[:common], tolerance)
    if common == 0:
        pass
    elif prefix.ok:
        message += f"; the {common} frames both have match"
    else:
        message += (
            f"; of the {common} frames both have, {prefix.differing} elements "
            f"differ, first at frame {prefix.first_diverging_frame}"
        )
    return StreamComparison(
        name,
        "shape",
        message,
        dtype=prefix.dtype,
        shape=prefix.shape,
        tolerance=prefix.tolerance,
        elements=prefix.elements,
        differing=prefix.differing,
        max_abs_error=prefix.max_abs_error,
        max_abs_where=prefix.max_abs_where,
        max_rel_error=prefix.max_rel_error,
        max_rel_where=prefix.max_rel_where,
        max_ulp=prefix.max_ulp,
        first_diverging_frame=(
            prefix.first_diverging_frame if not prefix.ok else common
        ),
        nan_mismatches=prefix.nan_mismatches,
        first_nan_mismatch=prefix.first_nan_mismatch,
    )


def _compare_values(
    name: str, a: np.ndarray, e: np.ndarray, tolerance: Tolerance | None
) -> StreamComparison:
    """Element-wise verdict on two arrays of one shape and dtype, the first
    axis being frames."""
    kind = a.dtype.kind
    shape = tuple(a.shape[1:])
    tol: dict[str, Any] | None = None
    max_ulp = None
    e64: np.ndarray | None = None
    nan_bad = np.zeros(a.shape, dtype=bool)
    if kind in "fc":
        tol = _resolve(tolerance, a.dtype)
        if kind == "c":  # compare components: (frames, *shape, 2)
            base = float_component(a.dtype)
            a = a.view(base).reshape(*a.shape, 2)
            e = e.view(base).reshape(*e.shape, 2)
        nan_a, nan_e = np.isnan(a), np.isnan(e)
        nan_bad = nan_a != nan_e
        valid = ~(nan_a | nan_e)
        a64 = a.astype(np.float64)
        e64 = e.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            equal = a64 == e64
            finite = np.isfinite(a64) & np.isfinite(e64)
            abs_err = np.where(valid & ~equal, np.abs(a64 - e64), 0.0)
            if "ulp" in tol:
                dist = np.where(valid, _ulp_distance(a, e), 0)
                max_ulp = int(dist.max()) if dist.size else 0
                close = dist <= tol["ulp"]
            else:
                # an infinity is only close to the same infinity (``equal``)
                bound = tol["atol"] + tol["rtol"] * np.abs(e64)
                close = equal | (finite & (abs_err <= bound))
        bad = nan_bad | (valid & ~close)
    elif kind == "b":  # exact; "max abs error" 1 at the first difference
        bad = a != e
        abs_err = bad.astype(np.float64)
    elif kind in "iu":
        bad = a != e
        e64 = e.astype(np.float64)
        abs_err = np.abs(a.astype(np.float64) - e64)
    else:  # strings, void...: exact, no error magnitude
        bad = np.asarray(a != e)
        abs_err = None
    differing = int(bad.sum())
    result: dict[str, Any] = {
        "dtype": str(np.dtype(a.dtype.char.upper()) if kind == "c" else a.dtype),
        "shape": shape,
        "tolerance": MappingProxyType(tol) if tol is not None else None,
        "elements": int(bad.size),
        "differing": differing,
        "max_ulp": max_ulp,
    }
    if differing == 0:
        return StreamComparison(name, "ok", **result)
    frames_bad = bad.reshape(bad.shape[0], -1).any(axis=1)
    result["first_diverging_frame"] = int(np.argmax(frames_bad))
    if abs_err is not None and abs_err.size:
        flat = int(np.argmax(abs_err))
        result["max_abs_error"] = float(abs_err.flat[flat])
        result["max_abs_where"] = _where(flat, bad.shape)
    if abs_err is not None and e64 is not None and abs_err.size:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rel = np.where(abs_err > 0, abs_err / np.abs(e64), 0.0)
        rel = np.where(np.isnan(rel), 0.0, rel)
        flat = int(np.argmax(rel))
        result["max_rel_error"] = float(rel.flat[flat])
        result["max_rel_where"] = _where(flat, bad.shape)
    if nan_bad.any():
        result["nan_mismatches"] = int(nan_bad.sum())
        result["first_nan_mismatch"] = _where(int(np.argmax(nan_bad)), bad.shape)
    return StreamComparison(name, "mismatch", **result)


def differing_elements(
    actual: Any, expected: Any, tolerance: Mapping[str, Any] | None
) -> np.ndarray:
    """Boolean mask of the elements of ``actual`` not close to ``expected``
    (same shape), under a resolved tolerance as reported in
    :attr:`StreamComparison.tolerance` (``rtol``/``atol``, ``ulp``, or
    ``None``: exact); NaN positions must agree. For reports that highlight
    the diverging elements."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.dtype.kind not in "fc" or tolerance is None:
        return np.asarray(a != e)
    if a.dtype.kind == "c":
        return differing_elements(a.real, e.real, tolerance) | differing_elements(
            a.imag, e.imag, tolerance
        )
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    valid = ~(nan_a | nan_e)
    with np.errstate(invalid="ignore", over="ignore"):
        if "ulp" in tolerance:
            close = _ulp_distance(a, e) <= int(tolerance["ulp"])
        else:
            a64, e64 = a.astype(np.float64), e.astype(np.float64)
            bound = float(tolerance["atol"]) + float(tolerance["rtol"]) * np.abs(e64)
            finite = np.isfinite(a64) & np.isfinite(e64)
            close = (a64 == e64) | (finite & (np.abs(a64 - e64) <= bound))
    return (nan_a != nan_e) | (valid & ~close)


def _ulp_distance(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Number of representable floats between ``a`` and ``e`` (uint64)."""
    itype = np.dtype(f"i{a.dtype.itemsize}")
    ia = a.view(itype).astype(np.int64)
    ie = e.view(itype).astype(np.int64)
    bits = 8 * a.dtype.itemsize
    mag_mask = np.int64((1 << (bits - 1)) - 1)
    ma, me = ia & mag_mask, ie & mag_mask
    oa = np.where(ia < 0, -ma, ma)
    oe = np.where(ie < 0, -me, me)
    same = (oa >= 0) == (oe >= 0)
    with np.errstate(over="ignore"):
        near = np.abs(oa - oe).astype(np.uint64)
        far = ma.astype(np.uint64) + me.astype(np.uint64)
    return np.where(same, near, far)


def _where(flat: int, shape: tuple[int, ...]) -> Where:
    index = tuple(int(i) for i in np.unravel_index(flat, shape))
    return index[0], index[1:]


def _show_where(where: Where | None) -> str:
    if where is None:
        return "-"
    frame, index = where
    return f"frame {frame}, index {list(index)}" if index else f"frame {frame}"


def _show_shape(shape: tuple[int, ...] | None) -> str:
    return "scalar" if not shape else "x".join(str(n) for n in shape)


def _show_tol(tol: Mapping[str, Any] | None) -> str:
    if tol is None:
        return "exact"
    return ", ".join(f"{k}={v:g}" for k, v in tol.items())


def _json_float(value: float | None) -> Any:
    if value is None:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    return value
