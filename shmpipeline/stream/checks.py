"""Argument checks shared by the host and the GPU stream classes.

Each check takes what a caller passed (a shape, dtype, slot count, frame id,
count or timeout), raises the stream error that names the argument when it
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
