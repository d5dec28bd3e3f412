"""Argument checks shared by the host and the GPU stream classes.

Each check takes what a caller passed (a shape, dtype, slot count, frame id,
count, timeout, a frame to write or an ``out`` array), raises the stream error that names the argument when it
does not fit, and returns the normalised value. Both
:class:`~shmpipeline.stream.SharedStream` and
:class:`~shmpipeline.stream.GpuSharedStream` call them, so the two accept the
same arguments with the same messages.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import StreamFrameError, StreamLayoutError
from . import _header as H

__all__ = [
    "ALLOWED_KINDS",
    "MAX_FRAME_BYTES",
    "check_after",
    "check_frame_id",
    "check_out",
    "check_write_frame",
    "check_slots",
    "frame_bytes",
    "normalize_dtype",
    "normalize_shape",
    "timeout_ns",
]

#: largest frame a stream holds, in bytes
MAX_FRAME_BYTES = 2**40
#: NumPy dtype kinds a stream may carry (bool, integers, floats, complex,
#: timedelta, datetime)
ALLOWED_KINDS = "biufcmM"


def _integer(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer and not a boolean."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def normalize_shape(shape: Any, what: str = "shape") -> tuple[int, ...]:
    """A frame shape (an int or a sequence of positive ints) as a tuple."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (Sequence, np.ndarray)):
        raise StreamLayoutError(
            f"{what} must be a sequence of positive integers, got {shape!r}"
        )
    dims = []
    for dim in shape:
        value = _integer(dim)
        if value is None or value <= 0:
            if isinstance(dim, (bool, np.bool_)):
                reason = f"a boolean {dim!r}"
            elif value is None:
                reason = f"{dim!r} is not an integer"
            else:
                reason = f"{value} is not positive"
            raise StreamLayoutError(
                f"{what} must be a sequence of positive integers, got "
                f"{tuple(shape)!r} ({reason})"
            )
        dims.append(int(value))
    if len(dims) > H.MAX_NDIM:
        raise StreamLayoutError(
            f"{what} {tuple(dims)!r} has {len(dims)} dimensions; at most "
            f"{H.MAX_NDIM} are supported"
        )
    return tuple(dims)


def normalize_dtype(dtype: Any) -> np.dtype:
    """A frame dtype of one of :data:`ALLOWED_KINDS` (no records, no subarrays)."""
    if dtype is None:
        raise StreamLayoutError("dtype is required (e.g. 'float32')")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError) as exc:
        raise StreamLayoutError(f"invalid dtype {dtype!r}: {exc}") from None
    if dt.kind not in ALLOWED_KINDS or dt.fields is not None or dt.subdtype:
        raise StreamLayoutError(
            f"unsupported stream dtype {dt!s}: use a bool, integer, float, "
            "complex or datetime dtype"
        )
    return dt


def frame_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of one frame, at most :data:`MAX_FRAME_BYTES`."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_FRAME_BYTES:
        raise StreamLayoutError(
            f"shape {shape!r} of {dtype!s} is {nbytes} bytes per frame; the "
            f"limit is {MAX_FRAME_BYTES} (2**40)"
        )
    return nbytes


def check_slots(slots: Any) -> int:
    """A payload slot count within the header's limits."""
    if isinstance(slots, bool) or not isinstance(slots, (int, np.integer)):
        raise StreamLayoutError(f"slots must be an integer, got {slots!r}")
    if not H.MIN_SLOTS <= slots <= H.MAX_SLOTS:
        raise StreamLayoutError(
            f"slots must be between {H.MIN_SLOTS} and {H.MAX_SLOTS}, got {slots}"
        )
    return int(slots)


def check_frame_id(frame_id: Any) -> int:
    """A frame id: an integer that fits in a signed 64-bit header field."""
    value = _integer(frame_id)
    if value is None:
        raise StreamFrameError(f"frame_id must be an integer, got {frame_id!r}")
    if not -(2**63) <= value < 2**63:
        raise StreamFrameError(f"frame_id {value} does not fit in 64 bits")
    return value


def check_after(after: Any) -> int:
    """A count to wait past: a non-negative integer (``ValueError`` otherwise)."""
    value = _integer(after)
    if value is None:
        raise ValueError(f"after must be a non-negative integer, got {after!r}")
    if value < 0:
        raise ValueError(f"after must be a non-negative integer, got {value}")
    return value


def timeout_ns(timeout: Any) -> int:
    """A timeout in seconds as whole nanoseconds (0 for none left; capped at
    1e9 s); ``TypeError`` for a non-number, ``ValueError`` for NaN."""
    try:
        seconds = float(timeout)
    except (TypeError, ValueError):
        raise TypeError(
            f"timeout must be a number of seconds or None, got {timeout!r}"
        ) from None
    if seconds != seconds:  # NaN
        raise ValueError("timeout must not be NaN")
    if seconds <= 0:
        return 0
    return int(min(seconds, 1e9) * 1e9)


def check_write_frame(
    array: Any, shape: tuple[int, ...], dtype: np.dtype, name: str
) -> Any:
    """A frame to write to stream ``name``: ``array`` itself when it is a
    fitting C-contiguous ndarray, else its conversion (the write dtype rule
    of :mod:`shmpipeline.stream.stream`); :class:`StreamFrameError` otherwise."""
    what = f"cannot write to stream {name!r} (shape {shape!r}, dtype {dtype!s})"
    if isinstance(array, np.ndarray):
        if array.shape != shape:
            raise StreamFrameError(f"{what}: array has shape {array.shape!r}")
        src = array.dtype
        if src != dtype and not (
            src.kind == dtype.kind and np.can_cast(src, dtype, "safe")
        ):
            raise StreamFrameError(
                f"{what}: array has dtype {src!s}, which does not convert to "
                f"{dtype!s} without loss; convert it explicitly "
                f"(array.astype({str(dtype)!r}))"
            )
        if not array.flags.c_contiguous:
            raise StreamFrameError(
                f"{what}: array is not C-contiguous; pass "
                "numpy.ascontiguousarray(array)"
            )
        return array
    try:
        converted = np.asarray(array)
    except Exception as exc:  # noqa: BLE001 - any conversion failure is bad input
        raise StreamFrameError(
            f"{what}: cannot convert {type(array).__name__} to an array ({exc})"
        ) from None
    if converted.dtype.kind not in ALLOWED_KINDS:
        raise StreamFrameError(
            f"{what}: got {type(array).__name__} of dtype {converted.dtype!s}"
        )
    if converted.shape != shape:
        raise StreamFrameError(
            f"{what}: {type(array).__name__} has shape {converted.shape!r}"
        )
    if not np.can_cast(converted.dtype, dtype, "same_kind"):
        raise StreamFrameError(
            f"{what}: {type(array).__name__} of {converted.dtype!s} values "
            f"cannot be stored as {dtype!s}"
        )
    return converted


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, name: str) -> None:
    """That ``out`` is a writeable ndarray of stream ``name``'s frame shape
    and dtype (any strides): what a read copies into."""
    if not isinstance(out, np.ndarray):
        raise StreamFrameError(
            f"out must be a numpy.ndarray of shape {shape!r} and dtype "
            f"{dtype!s}, got {type(out).__name__}"
        )
    if out.shape != shape or out.dtype != dtype:
        raise StreamFrameError(
            f"out has shape {out.shape!r} dtype {out.dtype!s}; stream "
            f"{name!r} frames are shape {shape!r} dtype {dtype!s}"
        )
    if not out.flags.writeable:
        raise StreamFrameError("out is read-only")
