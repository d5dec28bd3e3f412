"""Scenario input kinds: what one source stream is fed, and its frames.

Each entry of a scenario's ``inputs`` is one kind, named by its key:

- ``synthetic`` (:class:`SyntheticInput`): frame ``k`` of a synthetic pattern;
- ``fake`` (:class:`FakeInput`): frame ``k`` of a hardware fake, possibly
  closing a loop through a ``command`` stream;
- ``constant``, ``file`` and ``calibrate`` (:class:`StaticInput`): a frame
  written once before the pipeline starts.

A kind is an :class:`InputSpec` subclass, which describes itself for the
scenario hash and builds its own
:class:`~shmpipeline.testing.sources.FrameSource` (what the executors draw
frame ``k`` from), plus a
parser registered in :data:`INPUT_KINDS`. Adding a kind is one place: its
class, its parser and its entry here.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from shmpipeline._problems import Loc, did_you_mean, is_int, show
from shmpipeline._yaml import plain
from shmpipeline.errors import ConfigValidationError
from shmpipeline.testing.canonical import canonical
from shmpipeline.testing.scenario_problems import PathProblem, ScenarioProblems
from shmpipeline.testing.sources import FrameSource
from shmpipeline.user_files import read_user_bytes, resolve_inside

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.config import SharedMemoryConfig
    from shmpipeline.synthetic import SyntheticInputConfig

__all__ = [
    "INPUT_KINDS",
    "FakeInput",
    "InputContext",
    "InputKind",
    "InputSpec",
    "StaticInput",
    "SyntheticInput",
    "check_fake",
    "derived_seed",
    "parse_input",
]


@dataclass(frozen=True)
class InputSpec:
    """The input of one source stream (a base for the concrete kinds)."""

    stream: str

    @property
    def per_frame(self) -> bool:
        """Whether a new frame is written every step (else written once)."""
        return True

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly description (hashed into the scenario hash)."""
        raise NotImplementedError

    def frame_source(self, stream: SharedMemoryConfig) -> FrameSource:
        """The frames this input writes to ``stream`` (its declaration)."""
        raise NotImplementedError


@dataclass(frozen=True)
class InputContext:
    """What a kind's parser knows besides the entry itself: the stream it
    feeds, the pipeline's streams, the scenario seed and folder, where the
    entry is, and the inputs parsed before it (for kinds reading them)."""

    stream: str
    stream_spec: SharedMemoryConfig
    streams: Mapping[str, SharedMemoryConfig]
    seed: int
    base_dir: Path
    loc: Loc
    problems: ScenarioProblems
    allow_outside: bool = False
    triggers_kernel: bool = False
    inputs: Mapping[str, InputSpec] = field(
        default_factory=lambda: MappingProxyType({})
    )

    def alone(self, item: Mapping[str, Any], key: str) -> bool:
        """Whether ``key`` is the only key of ``item`` (else a problem at the
        first other one)."""
        extra = [name for name in item if name != key]
        if extra:
            self.problems.at((*self.loc, extra[0]), f"unknown key next to {key!r}")
            return False
        return True


@dataclass(frozen=True)
class InputKind:
    """One input kind of :data:`INPUT_KINDS`: ``parse(entry, context)``
    returns its :class:`InputSpec` or ``None`` after recording problems.
    ``reads_other_inputs``: parsed after every other input (a calibration
    measuring a camera fake of the scenario)."""

    parse: Callable[[Mapping[str, Any], InputContext], InputSpec | None]
    reads_other_inputs: bool = False


def derived_seed(seed: int, stream: str) -> int:
    """A per-stream seed, stable across runs and Python versions."""
    return (int(seed) * 1_000_003 + zlib.crc32(stream.encode("utf-8"))) % (2**32)


# --- synthetic ----------------------------------------------------------------------


class _PatternFrames(FrameSource):
    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None:
        return self.generator.frame(k)


@dataclass(frozen=True)
class SyntheticInput(InputSpec):
    """Frame ``k`` is frame ``k`` of a synthetic pattern."""

    config: SyntheticInputConfig | None = None

    def describe(self) -> dict[str, Any]:
        data = dict(self.config.to_dict())
        data.pop("stream_name", None)
        return {"synthetic": data}

    def frame_source(self, stream: SharedMemoryConfig) -> FrameSource:
        from shmpipeline.synthetic import SyntheticPatternGenerator

        # Frames are computed on the host (GPU streams get them uploaded),
        # so CPU and GPU runs see identical inputs.
        return _PatternFrames(
            SyntheticPatternGenerator(
                self.config,
                shape=stream.shape,
                dtype=stream.dtype,
                storage="cpu",
                # a scenario's integer camera fed with random frames is
                # deliberate: rounding and clipping are documented there
                warn_fractional=False,
            )
        )


def parse_synthetic(item: Mapping[str, Any], context: InputContext) -> InputSpec | None:
    """``{synthetic: {pattern: ..., ...}}``: the fields of a
    :class:`~shmpipeline.synthetic.SyntheticInputConfig` but the stream."""
    from shmpipeline.synthetic import SyntheticInputConfig

    if not context.alone(item, "synthetic"):
        return None
    loc, stream, problems = context.loc, context.stream, context.problems
    fields = item["synthetic"]
    if fields is None:
        fields = {}
    if isinstance(fields, str):
        fields = {"pattern": fields}
    if not isinstance(fields, Mapping):
        problems.at(
            (*loc, "synthetic"),
            "must be a mapping such as {pattern: random, amplitude: 0.1}",
        )
        return None
    if "stream_name" in fields:
        problems.at(
            (*loc, "synthetic", "stream_name"),
            "not allowed here (the key names the stream)",
        )
        return None
    values = {k: v for k, v in fields.items() if v is not None}
    values.setdefault("seed", derived_seed(context.seed, stream))
    try:
        config = SyntheticInputConfig.from_dict({"stream_name": stream, **values})
    except ConfigValidationError as exc:
        if exc.field in fields and exc.problem:
            problems.at((*loc, "synthetic", exc.field), exc.problem)
        else:
            message = exc.message
            prefix = f"synthetic input {stream!r}: "
            if message.startswith(prefix):
                message = message[len(prefix) :]
            problems.at((*loc, "synthetic"), message)
        return None
    return SyntheticInput(stream, config)


# --- hardware fakes -------------------------------------------------------------------


@dataclass(frozen=True)
class FakeInput(InputSpec):
    """Frame ``k`` comes from a hardware fake (:mod:`~shmpipeline.testing.fakes`).

    ``command`` names the stream whose value after frame ``k - 1`` the fake
    consumes (a deformable-mirror command closing the loop), or ``None``.
    """

    kind: str = ""
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    seed: int = 0
    command: str | None = None

    def describe(self) -> dict[str, Any]:
        return {
            "fake": self.kind,
            "params": canonical(dict(self.params)),
            "seed": self.seed,
            "command": self.command,
        }

    def frame_source(self, stream: SharedMemoryConfig) -> FrameSource:
        return _FakeFrames(self, np.dtype(stream.dtype))


class _FakeFrames(FrameSource):
    """A fake behind the :class:`FrameSource` calls, its frames cast to the
    stream's dtype (``raw_frame``: as the fake makes them)."""

    def __init__(self, spec: FakeInput, dtype: np.dtype) -> None:
        from shmpipeline.testing import fakes

        self.command = spec.command
        self.dtype = dtype
        self.fake = fakes.build_fake(spec.kind, dict(spec.params), seed=spec.seed)

    def raw_frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None:
        if command is not None:
            return self.fake.frame(k, command=command)
        return self.fake.frame(k)

    def frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None:
        frame = self.raw_frame(k, command)
        if frame is not None:
            frame = np.asarray(frame)
            if frame.dtype != self.dtype:
                frame = frame.astype(self.dtype)
        return frame

    def delay(self, k: int) -> float:
        delay = getattr(self.fake, "delay", None)
        if delay is None:
            return 0.0
        value = delay(k)
        return float(value) if value else 0.0


def check_fake(
    spec: FakeInput,
    stream: SharedMemoryConfig,
    streams: Mapping[str, SharedMemoryConfig],
) -> tuple[str, str] | None:
    """Build the fake of ``spec`` and check it fits ``stream``; return
    ``(field, message)`` for the first problem, else ``None``."""
    try:
        source = _FakeFrames(spec, np.dtype(stream.dtype))
    except Exception as exc:  # noqa: BLE001 - any construction problem is bad input
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return "fake", message
    if spec.command is not None:
        command_spec = streams[spec.command]
        command = np.zeros(command_spec.shape, dtype=command_spec.dtype)
    else:
        command = None
    try:
        frame = source.raw_frame(0, command)
    except Exception as exc:  # noqa: BLE001
        field = "command" if spec.command is not None else "fake"
        return field, f"{type(exc).__name__}: {exc}"
    if frame is None:
        return None
    frame = np.asarray(frame)
    if tuple(frame.shape) != tuple(stream.shape):
        return (
            "fake",
            f"fake {spec.kind!r} makes frames of shape {tuple(frame.shape)}, the "
            f"stream is {tuple(stream.shape)}",
        )
    if not np.can_cast(frame.dtype, stream.dtype, "same_kind"):
        return (
            "fake",
            f"fake {spec.kind!r} makes {frame.dtype} frames, the stream is "
            f"{np.dtype(stream.dtype)}",
        )
    return None


def parse_fake(item: Mapping[str, Any], context: InputContext) -> InputSpec | None:
    """``{fake: KIND, command: STREAM, seed: N, ...parameters}``."""
    loc, specs, problems = context.loc, context.streams, context.problems
    kind = item["fake"]
    if not isinstance(kind, str) or not kind.strip():
        problems.at((*loc, "fake"), "must name a fake kind, e.g. shack_hartmann")
        return None
    params = {k: v for k, v in item.items() if k not in ("fake", "command", "seed")}
    command = item.get("command")
    if command is not None and (not isinstance(command, str) or command not in specs):
        problems.at(
            (*loc, "command"),
            f"unknown stream {show(command)}"
            + did_you_mean(command, list(specs)),
        )
        return None
    fake_seed = item.get("seed")
    if fake_seed is None:
        fake_seed = derived_seed(context.seed, context.stream)
    elif not is_int(fake_seed) or fake_seed < 0:
        problems.at((*loc, "seed"), "must be a non-negative integer")
        return None
    fake = FakeInput(
        context.stream,
        kind=kind.strip(),
        params=MappingProxyType(plain(params)),
        seed=int(fake_seed),
        command=command,
    )
    error = check_fake(fake, context.stream_spec, specs)
    if error is not None:
        field_name, message = error
        field_loc = (*loc, field_name) if field_name in item else loc
        problems.at(field_loc, message)
        return None
    return fake


# --- static frames ----------------------------------------------------------------------


class _StaticFrames(FrameSource):
    def __init__(self, value: np.ndarray) -> None:
        self.value = value

    def frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None:
        return self.value


@dataclass(frozen=True)
class StaticInput(InputSpec):
    """A frame written once before start (``constant``, ``file`` or
    ``calibrate``); its frame source gives that frame at every step."""

    value: np.ndarray = field(default_factory=lambda: np.zeros(0))
    origin: str = "constant"

    @property
    def per_frame(self) -> bool:
        return False

    def describe(self) -> dict[str, Any]:
        data = np.ascontiguousarray(self.value)
        return {
            "static": self.origin,
            "dtype": data.dtype.str,
            "shape": list(data.shape),
            "sha256": hashlib.sha256(data.tobytes()).hexdigest(),
        }

    def frame_source(self, stream: SharedMemoryConfig) -> FrameSource:
        return _StaticFrames(self.value)


def _as_array(value: Any, spec: SharedMemoryConfig) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        raise ValueError(f"must be numbers, got {show(value)}")
    if dtype.kind in "iub" and array.dtype.kind in "fc":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise ValueError(f"stream is {dtype.name}: values must be whole numbers")
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        if array.size and (array.min() < info.min or array.max() > info.max):
            raise ValueError(f"values out of the range of {dtype.name}")
    try:
        out = np.broadcast_to(array, spec.shape)
    except ValueError:
        raise ValueError(
            f"shape {tuple(array.shape)} does not fit the stream's {tuple(spec.shape)}"
        ) from None
    result = np.ascontiguousarray(out).astype(dtype, copy=True)
    result.setflags(write=False)
    return result


def parse_constant(item: Mapping[str, Any], context: InputContext) -> InputSpec | None:
    """``{constant: VALUE}``: a number or nested list, broadcast to the stream."""
    if not context.alone(item, "constant"):
        return None
    value, loc = item["constant"], (*context.loc, "constant")
    if value is None or isinstance(value, (str, Mapping)):
        context.problems.at(loc, "must be a number or a (nested) list of numbers")
        return None
    try:
        array = _as_array(value, context.stream_spec)
    except (ValueError, TypeError, OverflowError) as exc:
        context.problems.at(loc, str(exc))
        return None
    return StaticInput(context.stream, value=array, origin="constant")


def parse_file(item: Mapping[str, Any], context: InputContext) -> InputSpec | None:
    """``{file: PATH}``: a ``.npy`` array of the stream's shape, the path
    relative to (and, unless allowed, inside) the scenario's folder."""
    if not context.alone(item, "file"):
        return None
    value, loc, problems = item["file"], (*context.loc, "file"), context.problems
    spec = context.stream_spec
    if not isinstance(value, str) or not value.strip():
        problems.at(loc, "must be a path to a .npy file (relative to the scenario)")
        return None
    try:
        file_path = resolve_inside(
            context.base_dir,
            value.strip(),
            what="file",
            error=PathProblem,
            allow_outside=context.allow_outside,
        )
        if not file_path.exists():
            raise PathProblem(f"file not found: {file_path}")
        content = read_user_bytes(file_path, what="file", error=PathProblem)
    except PathProblem as exc:
        problems.at(loc, str(exc))
        return None
    try:
        data = np.load(io.BytesIO(content), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is bad input
        problems.at(loc, f"cannot read {file_path} as .npy: {exc}")
        return None
    if not isinstance(data, np.ndarray):
        problems.at(loc, f"{file_path} is not a single .npy array")
        return None
    if tuple(data.shape) != tuple(spec.shape):
        problems.at(
            loc,
            f"array shape {tuple(data.shape)} differs from the stream's "
            f"{tuple(spec.shape)}",
        )
        return None
    try:
        array = _as_array(data, spec)
    except (ValueError, TypeError) as exc:
        problems.at(loc, str(exc))
        return None
    return StaticInput(context.stream, value=array, origin=f"file:{value.strip()}")


def parse_calibration(
    item: Mapping[str, Any], context: InputContext
) -> InputSpec | None:
    """``{calibrate: {camera: STREAM, ...}}``: a reconstructor measured on
    the camera fake another input declares
    (:mod:`~shmpipeline.testing.calibration_input`)."""
    from shmpipeline.testing.calibration_input import (
        CalibrationProblem,
        calibrated_reconstructor,
    )

    if not context.alone(item, "calibrate"):
        return None
    settings = item["calibrate"]
    camera = settings.get("camera") if isinstance(settings, Mapping) else None
    try:
        value = calibrated_reconstructor(
            settings,
            context.inputs.get(camera) if isinstance(camera, str) else None,
            context.stream_spec,
        )
    except CalibrationProblem as exc:
        where = (*context.loc, "calibrate") + ((exc.field,) if exc.field else ())
        context.problems.at(where, exc.message)
        return None
    if context.triggers_kernel:
        context.problems.at(
            context.loc, "triggers a kernel; a calibration is written once"
        )
        return None
    return StaticInput(context.stream, value=value, origin="calibrate")


# --- the kinds ------------------------------------------------------------------------

#: input kind (the key of an ``inputs`` entry) -> how to parse it, in the
#: order messages list them
INPUT_KINDS: Mapping[str, InputKind] = MappingProxyType(
    {
        "synthetic": InputKind(parse_synthetic),
        "fake": InputKind(parse_fake),
        "constant": InputKind(parse_constant),
        "file": InputKind(parse_file),
        "calibrate": InputKind(parse_calibration, reads_other_inputs=True),
    }
)


def parse_input(item: Any, context: InputContext) -> InputSpec | None:
    """The :class:`InputSpec` of one ``inputs`` entry (a mapping with exactly
    one kind key), or ``None`` after recording its problems."""
    if not isinstance(item, Mapping):
        context.problems.at(
            context.loc, "must be a mapping with one of " + ", ".join(INPUT_KINDS)
        )
        return None
    kinds = [key for key in INPUT_KINDS if key in item]
    if len(kinds) != 1:
        context.problems.at(
            context.loc,
            "needs exactly one of "
            + ", ".join(INPUT_KINDS)
            + (f" (got {', '.join(kinds)})" if kinds else ""),
        )
        return None
    return INPUT_KINDS[kinds[0]].parse(item, context)
