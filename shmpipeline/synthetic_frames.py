"""The frames of a synthetic input: its configuration and the deterministic
pattern generator (the background writer is :mod:`shmpipeline.synthetic`).

A synthetic input fills a source stream with generated frames so a pipeline
can run without its real producer (demos, smoke tests, regression scenarios).

Determinism: frame ``n`` (0-based) of a pattern is a pure function of
``(spec, shape, dtype, n)``. It does not depend on how many frames were
generated before, on the generator instance, or on timing; even ``random``
draws frame ``n`` from its own generator seeded with ``[seed, n]``.

Patterns (``n`` the frame index, ``i`` the flat C-order element index, ``A``
amplitude, ``O`` offset, ``P`` period, ``K`` impulse_interval):

=============  ==============================================================
constant       ``O + constant`` everywhere
random         ``O + A * z`` with ``z`` standard normal from
               ``numpy.random.default_rng([seed, n])`` (float64, C order)
ramp           ``O + A * ((i + n) mod P) / max(P - 1, 1)``
sine           ``O + A * sin(2 pi ((i + n) mod P) / P)``
impulse        ``O`` everywhere; on frames with ``n % K == 0`` the element
               ``(n // K) mod size`` is ``O + A``
checkerboard   ``O + A * parity`` with ``parity = (sum_k floor(c_k / P)) mod 2``
               over the element's coordinates ``c_k``, the first one shifted
               by ``n`` (tiles of side ``P`` scrolling along axis 0; a 0-d
               stream alternates with ``n % 2``)
=============  ==============================================================

Values are computed in float64 and then stored in the stream's dtype:
floating dtypes by a plain cast; integer dtypes are rounded to the nearest
integer (half to even) and clipped to the dtype's range (so ``random`` on a
``uint8`` stream saturates at 0 and 255 instead of wrapping; 64-bit integers
saturate at exactly their min and max too); ``bool`` is
treated as the integer range [0, 1]; complex dtypes get the value as real part.

GPU streams (``storage='gpu'``): frames are computed on the host exactly as
above and copied into a torch tensor on ``gpu_device``, so CPU and GPU frames
are identical. torch is imported only then.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from . import _torch
from ._problems import is_int, is_real
from .errors import ConfigValidationError, GpuUnavailableError

__all__ = [
    "available_synthetic_patterns",
    "SyntheticInputConfig",
    "SyntheticPatternGenerator",
    "parse_synthetic_shorthand",
]

_PATTERNS = ("constant", "random", "ramp", "sine", "impulse", "checkerboard")


def available_synthetic_patterns() -> tuple[str, ...]:
    """Return supported synthetic input pattern names."""
    return _PATTERNS


# --- configuration ---------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticInputConfig:
    """Configuration for one synthetic input writer.

    Synthetic writers can drive source streams without an external producer,
    which makes them useful for demos, GUI exploration, and automated tests.
    Values are checked and normalised on construction (``pattern`` is
    lower-cased, numbers become ``float``/``int``); a bad value raises
    :class:`ConfigValidationError` naming the stream and the field.
    """

    stream_name: str
    pattern: str = "random"
    rate_hz: float | None = None
    seed: int = 0
    amplitude: float = 1.0
    offset: float = 0.0
    period: float = 64.0
    constant: float = 0.0
    impulse_interval: int = 64

    def __post_init__(self) -> None:
        def fail(field_name: str, problem: str) -> ConfigValidationError:
            name = self.stream_name if isinstance(self.stream_name, str) else "?"
            return ConfigValidationError(
                f"synthetic input {name!r}: {field_name}: {problem}",
                field=field_name,
                problem=problem,
            )

        def put(field_name: str, value: Any) -> None:
            object.__setattr__(self, field_name, value)

        if not isinstance(self.stream_name, str) or not self.stream_name.strip():
            raise ConfigValidationError(
                "synthetic input: stream_name: must be a non-empty string, got "
                f"{self.stream_name!r}"
            )
        put("stream_name", self.stream_name.strip())

        if not isinstance(self.pattern, str):
            raise fail("pattern", f"must be a string, got {self.pattern!r}")
        pattern = self.pattern.strip().lower()
        if pattern not in _PATTERNS:
            raise fail(
                "pattern",
                f"unknown pattern {self.pattern!r}; expected one of: "
                + ", ".join(_PATTERNS),
            )
        put("pattern", pattern)

        if self.rate_hz is not None:
            if (
                not is_real(self.rate_hz)
                or not math.isfinite(self.rate_hz)
                or self.rate_hz <= 0
            ):
                raise fail(
                    "rate_hz",
                    f"must be a positive number of frames per second or null "
                    f"(as fast as possible), got {self.rate_hz!r}",
                )
            put("rate_hz", float(self.rate_hz))

        if not is_int(self.seed) or self.seed < 0:
            raise fail("seed", f"must be a non-negative integer, got {self.seed!r}")
        put("seed", int(self.seed))

        for field_name in ("amplitude", "offset", "constant"):
            value = getattr(self, field_name)
            if not is_real(value) or not math.isfinite(value):
                raise fail(field_name, f"must be a finite number, got {value!r}")
            put(field_name, float(value))

        if (
            not is_real(self.period)
            or not math.isfinite(self.period)
            or self.period <= 0
        ):
            raise fail("period", f"must be a positive number, got {self.period!r}")
        put("period", float(self.period))

        if not is_int(self.impulse_interval) or self.impulse_interval <= 0:
            raise fail(
                "impulse_interval",
                f"must be a positive integer, got {self.impulse_interval!r}",
            )
        put("impulse_interval", int(self.impulse_interval))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SyntheticInputConfig:
        """Build a config from a mapping, rejecting unknown keys."""
        if isinstance(raw, SyntheticInputConfig):
            return raw
        if not isinstance(raw, Mapping):
            raise ConfigValidationError(
                f"synthetic input: must be a mapping, got {type(raw).__name__}"
            )
        known = [f.name for f in fields(cls)]
        name = raw.get("stream_name")
        label = (
            f"synthetic input {name!r}" if isinstance(name, str) else "synthetic input"
        )
        unknown = [key for key in raw if key not in known]
        if unknown:
            problem = "unknown key; valid keys: " + ", ".join(known)
            raise ConfigValidationError(
                f"{label}: {unknown[0]!s}: {problem}", field=str(unknown[0]), problem=problem
            )
        # An explicit null means "the default" (for rate_hz that is null).
        values = {key: value for key, value in raw.items() if value is not None}
        if "stream_name" not in values:
            raise ConfigValidationError(f"{label}: stream_name: required")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly mapping that :meth:`from_dict` turns back into ``self``."""
        return asdict(self)


def parse_synthetic_shorthand(text: str) -> SyntheticInputConfig:
    """Parse the CLI shorthand ``STREAM:PATTERN[:RATE][,FIELD=VALUE...]``.

    Examples: ``frame:random``, ``frame:sine:500``,
    ``gain:constant:1,constant=0.5``, ``frame:ramp,period=32,amplitude=2``.
    An empty or ``max`` rate means as fast as possible; the optional
    ``FIELD=VALUE`` pairs set the other :class:`SyntheticInputConfig` fields.
    """
    usage = (
        "expected STREAM:PATTERN[:RATE][,FIELD=VALUE...], e.g. frame:random, "
        "frame:sine:500 or gain:constant:1,constant=0.5"
    )
    if not isinstance(text, str):
        raise ConfigValidationError(f"synthetic input: {usage}; got {text!r}")
    head, *options = text.split(",")
    parts = head.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
        raise ConfigValidationError(f"synthetic input {text!r}: {usage}")
    stream = parts[0].strip()
    values: dict[str, Any] = {"stream_name": stream, "pattern": parts[1]}
    if len(parts) == 3 and parts[2].strip().lower() not in ("", "max"):
        values["rate_hz"] = _shorthand_number(stream, "rate_hz", parts[2])
    settable = [f.name for f in fields(SyntheticInputConfig)][2:]
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        if not sep or key not in settable:
            raise ConfigValidationError(
                f"synthetic input {stream!r}: {option.strip()!r}: expected FIELD=VALUE "
                "with FIELD one of " + ", ".join(settable)
            )
        if key in values:
            raise ConfigValidationError(
                f"synthetic input {stream!r}: {key} given twice"
            )
        values[key] = _shorthand_number(stream, key, value)
    return SyntheticInputConfig(**values)


def _shorthand_number(stream: str, key: str, text: str) -> int | float | None:
    text = text.strip()
    if key == "rate_hz" and text.lower() in ("", "max", "none", "null"):
        return None
    try:
        return int(text) if key in ("seed", "impulse_interval") else float(text)
    except ValueError:
        kind = "an integer" if key in ("seed", "impulse_interval") else "a number"
        raise ConfigValidationError(
            f"synthetic input {stream!r}: {key}: must be {kind}, got {text!r}"
        ) from None


# --- frame generation -----------------------------------------------------------


def _integer_bounds(dtype: np.dtype) -> tuple[float, float]:
    """Float64 clip bounds that convert to ``dtype`` without overflow."""
    if dtype.kind == "b":
        return 0.0, 1.0
    info = np.iinfo(dtype)
    lo, hi = float(info.min), float(info.max)
    if int(hi) > info.max:  # 2**63 - 1 and 2**64 - 1 round up in float64
        hi = float(np.nextafter(hi, -np.inf))
    return lo, hi


class SyntheticPatternGenerator:
    """Generate deterministic test frames for CPU and GPU streams.

    ``frame(n)`` returns a fresh array (tensor for gpu storage) holding frame
    ``n``; ``frame_into(n, out)`` writes it into an existing host array (the
    zero-copy path used with ``SharedStream.write_view``); ``next_frame()``
    returns the next frame in an internal buffer that is reused on every call.
    All of them compute frame ``n`` identically. A fractional pattern
    (``random``, ``sine``, ``ramp``) on an integer stream warns unless
    ``warn_fractional=False`` (callers that chose it knowingly).
    """

    def __init__(
        self,
        spec: SyntheticInputConfig,
        *,
        shape: tuple[int, ...],
        dtype: Any,
        storage: str,
        gpu_device: str | None = None,
        warn_fractional: bool = True,
    ) -> None:
        if isinstance(spec, Mapping):
            spec = SyntheticInputConfig.from_dict(spec)
        if not isinstance(spec, SyntheticInputConfig):
            raise TypeError(
                f"spec must be a SyntheticInputConfig, got {type(spec).__name__}"
            )
        self.spec = spec
        label = f"synthetic input {spec.stream_name!r}"
        try:
            self.shape = tuple(int(dim) for dim in shape)
        except (TypeError, ValueError):
            raise ConfigValidationError(
                f"{label}: shape: must be a sequence of integers, got {shape!r}"
            ) from None
        if any(dim <= 0 for dim in self.shape):
            raise ConfigValidationError(
                f"{label}: shape: dimensions must be positive, got {self.shape!r}"
            )
        try:
            self.dtype = np.dtype(dtype)
        except (TypeError, ValueError):
            raise ConfigValidationError(
                f"{label}: dtype: not a NumPy dtype: {dtype!r}"
            ) from None
        if self.dtype.kind not in "biufc" or self.dtype.fields is not None:
            raise ConfigValidationError(
                f"{label}: dtype: synthetic inputs support bool, integer, float and "
                f"complex streams, not {self.dtype!s}"
            )
        fractional = spec.pattern in ("random", "sine", "ramp")
        if warn_fractional and fractional and self.dtype.kind in "biu":
            # as the published package does: fractional values on an integer
            # stream are rarely what was meant
            warnings.warn(
                f"{label}: pattern {spec.pattern!r} produces fractional values, "
                f"rounded and clipped to the stream's {self.dtype} range; consider "
                "'constant' or 'impulse' for integer streams",
                UserWarning,
                stacklevel=2,
            )
        storage = str(storage).strip().lower()
        if storage not in ("cpu", "gpu"):
            raise ConfigValidationError(
                f"{label}: storage: must be 'cpu' or 'gpu', got {storage!r}"
            )
        if storage == "gpu" and not gpu_device:
            raise ConfigValidationError(
                f"{label}: gpu_device: required for gpu storage"
            )
        self.storage = storage
        self.gpu_device = gpu_device
        self.size = math.prod(self.shape)
        self._index = 0

        # Host work area: one float64 buffer (plus the per-axis index vectors
        # the checkerboard needs); nothing is allocated per frame.
        self._work = np.empty(self.size, dtype=np.float64)
        self._flat_index: np.ndarray | None = None
        if spec.pattern in ("ramp", "sine"):
            self._flat_index = np.arange(self.size, dtype=np.float64)
        self._axes: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if spec.pattern == "checkerboard":
            for axis, dim in enumerate(self.shape):
                view_shape = [1] * len(self.shape)
                view_shape[axis] = dim
                coords = np.arange(dim, dtype=np.float64)
                scratch = np.empty(dim, dtype=np.float64)
                self._axes.append((coords, scratch, scratch.reshape(view_shape)))
        self._bounds = _integer_bounds(self.dtype) if self.dtype.kind in "biu" else None
        self._saturated: np.ndarray | None = None
        self._top: Any = None
        if self.dtype.kind in "iu" and self.dtype.itemsize == 8:
            self._saturated = np.empty(self.size, dtype=bool)
            self._top = np.iinfo(self.dtype).max
        self._host = np.empty(self.shape, dtype=self.dtype)
        self._device_buffer = None
        if storage == "gpu":
            torch = _torch.import_torch(f"{label} (gpu storage)")
            try:
                self._device_buffer = torch.empty(
                    self.shape,
                    dtype=_torch_dtype(self.dtype, label),
                    device=gpu_device,
                )
            except (RuntimeError, AssertionError) as exc:
                raise GpuUnavailableError(
                    f"{label}: cannot allocate on {gpu_device!r}: {exc}"
                ) from None

    # --- public --------------------------------------------------------------------

    @property
    def frames_generated(self) -> int:
        """How many frames ``next_frame`` has returned (its next index)."""
        return self._index

    def next_frame(self) -> Any:
        """Return the next generated frame, reusing an internal buffer."""
        n = self._index
        self._index += 1
        self.frame_into(n, self._host)
        if self._device_buffer is None:
            return self._host
        return self._device_buffer.copy_(_torch_from_numpy(self._host))

    def frame(self, n: int) -> Any:
        """Return frame ``n`` as a new array (a new tensor for gpu storage)."""
        out = np.empty(self.shape, dtype=self.dtype)
        self.frame_into(n, out)
        if self._device_buffer is None:
            return out
        return _torch_from_numpy(out).to(self._device_buffer.device)

    def frame_into(self, n: int, out: np.ndarray) -> np.ndarray:
        """Write frame ``n`` into the host array ``out`` (this generator's
        shape and dtype) and return it; nothing is allocated for C-contiguous
        ``out``."""
        if not is_int(n) or n < 0:
            raise ValueError(f"frame index must be a non-negative integer, got {n!r}")
        if (
            not isinstance(out, np.ndarray)
            or out.shape != self.shape
            or out.dtype != self.dtype
        ):
            raise ValueError(
                f"out must be an ndarray of shape {self.shape!r} and dtype {self.dtype!s}"
            )
        n = int(n)
        spec = self.spec
        pattern = spec.pattern
        if pattern == "constant":
            out.fill(self._to_dtype(spec.offset + spec.constant))
            return out
        if pattern == "impulse":
            out.fill(self._to_dtype(spec.offset))
            k = spec.impulse_interval
            if n % k == 0:
                out.reshape(-1)[(n // k) % self.size] = self._to_dtype(
                    spec.offset + spec.amplitude
                )
            return out

        direct = out.dtype == np.float64 and out.flags.c_contiguous
        work = out.reshape(-1) if direct else self._work
        if pattern == "random":
            rng = np.random.default_rng([spec.seed, n])
            rng.standard_normal(out=work)
            work *= spec.amplitude
            work += spec.offset
        elif pattern in ("ramp", "sine"):
            period = spec.period
            np.add(self._flat_index, float(n), out=work)
            np.remainder(work, period, out=work)
            if pattern == "ramp":
                work *= spec.amplitude / max(period - 1.0, 1.0)
            else:
                work *= 2.0 * math.pi / period
                np.sin(work, out=work)
                work *= spec.amplitude
            work += spec.offset
        elif pattern == "checkerboard":
            self._parity(n, work)
            work *= spec.amplitude
            work += spec.offset
        else:  # pragma: no cover - the config rejects other names
            raise AssertionError(f"unhandled pattern {pattern!r}")
        if not direct:
            self._store(work, out)
        return out

    # --- internals -------------------------------------------------------------------

    def _parity(self, n: int, work: np.ndarray) -> None:
        if not self._axes:  # 0-d stream
            work.fill(float(n % 2))
            return
        grid = work.reshape(self.shape)
        grid.fill(0.0)
        period = self.spec.period
        for axis, (coords, scratch, view) in enumerate(self._axes):
            if axis == 0:
                np.add(coords, float(n), out=scratch)
                scratch /= period
            else:
                np.divide(coords, period, out=scratch)
            np.floor(scratch, out=scratch)
            grid += view
        np.remainder(work, 2.0, out=work)

    def _store(self, work: np.ndarray, out: np.ndarray) -> None:
        """Convert the float64 work area into ``out`` (rounding and clipping
        for integer dtypes)."""
        saturated = self._saturated
        if self._bounds is not None:
            np.rint(work, out=work)
            if saturated is not None:
                np.greater(work, self._bounds[1], out=saturated)
            np.clip(work, self._bounds[0], self._bounds[1], out=work)
        np.copyto(out, work.reshape(self.shape), casting="unsafe")
        if saturated is not None:
            # float64 cannot hold 2**63 - 1 or 2**64 - 1: set the top exactly.
            np.copyto(out, self._top, where=saturated.reshape(self.shape))

    def _to_dtype(self, value: float) -> Any:
        """One value converted with the same rule as whole frames."""
        if self._bounds is not None:
            value = float(np.rint(value))
            if self._top is not None and value > self._bounds[1]:
                return self.dtype.type(self._top)
            value = min(max(value, self._bounds[0]), self._bounds[1])
        return np.array(value).astype(self.dtype)[()]


def _torch_dtype(dtype: np.dtype, label: str):
    try:
        return _torch.torch_dtype(dtype)
    except TypeError as exc:
        raise ConfigValidationError(f"{label}: dtype: {exc}") from None


def _torch_from_numpy(array: np.ndarray):
    import torch

    return torch.from_numpy(array)
