"""The hardware fakes as source and sink kinds, run for real by the manager.

A demo pipeline or a bench without hardware names them like any plugin:

- ``fake.shack_hartmann`` (source): the
  :class:`~shmpipeline.testing.fakes.ShackHartmann` camera, frame ``n`` on
  the ``n``-th read. Fed back through an auxiliary it closes the loop:
  ``surface`` (the phase the mirror applies, on the camera's pupil grid:
  what ``fake.deformable_mirror`` writes) is subtracted from the atmosphere
  (:class:`~shmpipeline.testing.fakes.ClosedLoopOptics`); ``command`` (the
  actuator commands) goes through the camera's own ``mirror`` model, as in a
  scenario.
- ``fake.phase_screen`` (source): the
  :class:`~shmpipeline.testing.fakes.PhaseScreen` atmosphere (``size``
  defaults to the side of its square stream).
- ``fake.deformable_mirror`` (stateful sink): the
  :class:`~shmpipeline.testing.fakes.DeformableMirror`; each command it
  consumes becomes its surface, written to its one ``outputs`` stream with
  the command's ``frame_id`` (``size`` defaults to that stream's side,
  ``n_act`` to the square root of the command length).

Parameters are those of the scenario fake of the same name (``faults``
included), plus ``seed`` (0) and, for sources, ``rate_hz`` (null: as fast as
possible), ``wait_for_feedback`` (false: with true, frame ``n + 1`` waits
for the feedback stream to answer frame ``n``, up to
``feedback_timeout_s``, 1.0, so the loop delay is one frame whatever the
machine's load). ``dtype`` defaults to the stream's. A bad parameter is a
:class:`~shmpipeline.errors.ConfigValidationError` naming the endpoint and
the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline._problems import is_real
from shmpipeline.config import SharedMemoryConfig
from shmpipeline.errors import ConfigValidationError, ScenarioError
from shmpipeline.sink import Sink
from shmpipeline.source import Source
from shmpipeline.sources._pacing import Pacer, positive_rate
from shmpipeline.testing.fakes import ClosedLoopOptics, FaultyFake, build_fake

__all__ = [
    "FakeDeformableMirrorSink",
    "FakePhaseScreenSource",
    "FakeShackHartmannSource",
]

#: endpoint parameters that are not the fake's own
SOURCE_KEYS = ("seed", "rate_hz", "wait_for_feedback", "feedback_timeout_s")
#: longest single wait for feedback, so a stop request is seen quickly
WAIT_SLICE_S = 0.05

_PARAMETER = re.compile(r"^fake '[^']*': (?:parameter '([^']+)': )?")


def _endpoint_error(label: str, exc: ScenarioError) -> ConfigValidationError:
    """A fake's message re-labelled for the endpoint: ``source 'x':
    parameters.y: ...``."""
    message = getattr(exc, "message", None) or str(exc)
    match = _PARAMETER.match(message)
    field = "parameters"
    if match:
        if match.group(1):
            field += f".{match.group(1)}"
        message = message[match.end():]
    return ConfigValidationError(f"{label}: {field}: {message}")


def _seed(label: str, params: Mapping[str, Any]) -> int:
    seed = params.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigValidationError(f"{label}: parameters.seed: must be an integer, got {seed!r}")
    return seed


def _build(label: str, kind: str, params: Mapping[str, Any], seed: int) -> Any:
    try:
        return build_fake(kind, params, seed=seed)
    except ScenarioError as exc:
        raise _endpoint_error(label, exc) from None


def _stream(label: str, name: str, shared_memory: Mapping[str, SharedMemoryConfig]):
    spec = shared_memory.get(name)
    if spec is None:
        raise ConfigValidationError(f"{label}: undefined shared memory {name!r}")
    if spec.storage != "cpu":
        raise ConfigValidationError(f"{label}: requires cpu shared memory for {name!r}")
    return spec


def _check_frame(label: str, fake: Any, spec: SharedMemoryConfig) -> None:
    if tuple(spec.shape) != tuple(fake.shape):
        raise ConfigValidationError(
            f"{label}: stream {spec.name!r} has shape {tuple(spec.shape)}, the fake "
            f"makes {tuple(fake.shape)} frames"
        )
    if np.dtype(spec.dtype) != np.dtype(fake.dtype):
        raise ConfigValidationError(
            f"{label}: parameters.dtype: {np.dtype(fake.dtype)} frames do not fit "
            f"stream {spec.name!r} of dtype {np.dtype(spec.dtype)}"
        )


def _with_dtype(params: Mapping[str, Any], spec: SharedMemoryConfig) -> dict[str, Any]:
    out = dict(params)
    out.setdefault("dtype", np.dtype(spec.dtype).name)
    return out


class _FlatScreen:
    """No atmosphere: a zero phase on the camera's grid."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def phase(self, n: int) -> np.ndarray:
        del n
        return np.zeros(self.shape)


class _SurfaceFeedback:
    """A 'mirror' whose command is already its surface (read from a stream)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def surface(self, command: Any) -> np.ndarray:
        return np.asarray(command, dtype=np.float64).reshape(self.shape)


class _CheckedByBuilding:
    """A fake endpoint's config is valid when its fake builds from it: the
    parameters are the scenario fake's and the streams fit that fake."""

    @classmethod
    def _built(cls, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]) -> Any:
        raise NotImplementedError  # pragma: no cover - each endpoint builds its fake

    @classmethod
    def validate_config(
        cls, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Parameters as the scenario fake's; the streams fit the fake (a
        source's stream shape and dtype, the mirror's command length and
        surface shape)."""
        cls._built(config, shared_memory)


class _FakeSource(_CheckedByBuilding, Source):
    """What both fake sources share: parameters, pacing, feedback, frames."""

    fake_kind = ""
    feedback_aliases: tuple[str, ...] = ()

    @classmethod
    def _fake_params(cls, config: Any, spec: SharedMemoryConfig) -> dict[str, Any]:
        params = {k: v for k, v in config.parameters.items() if k not in SOURCE_KEYS}
        return _with_dtype(params, spec)

    @classmethod
    def _built(cls, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]) -> Any:
        label = f"source {config.name!r}"
        if len(config.output_streams) != 1:
            raise ConfigValidationError(f"{label}: {cls.kind} writes one stream")
        spec = _stream(label, config.stream, shared_memory)
        params = config.parameters
        seed = _seed(label, params)
        positive_rate(config)
        wait = params.get("wait_for_feedback", False)
        if not isinstance(wait, bool):
            raise ConfigValidationError(
                f"{label}: parameters.wait_for_feedback: must be true or false, got {wait!r}"
            )
        timeout = params.get("feedback_timeout_s", 1.0)
        if not is_real(timeout) or not math.isfinite(timeout) or timeout <= 0:
            raise ConfigValidationError(
                f"{label}: parameters.feedback_timeout_s: must be a positive number, "
                f"got {timeout!r}"
            )
        aliases = [b.alias for b in config.auxiliary]
        for alias in aliases:
            if alias not in cls.feedback_aliases:
                known = ", ".join(cls.feedback_aliases) or "none"
                raise ConfigValidationError(
                    f"{label}: auxiliary.{alias}: unknown alias (known: {known})"
                )
        if len(aliases) > 1:
            raise ConfigValidationError(
                f"{label}: auxiliary: give one of {', '.join(cls.feedback_aliases)}"
            )
        if wait and not aliases:
            raise ConfigValidationError(
                f"{label}: parameters.wait_for_feedback: needs a feedback auxiliary "
                f"({', '.join(cls.feedback_aliases) or 'none for this kind'})"
            )
        fake = _build(label, cls.fake_kind, cls._fake_params(config, spec), seed)
        _check_frame(label, fake, spec)
        for binding in config.auxiliary:
            cls._check_feedback(label, fake, binding, _stream(label, binding.name, shared_memory))
        return fake

    @classmethod
    def _check_feedback(cls, label: str, fake: Any, binding: Any, spec: Any) -> None:
        """Check a feedback stream against the fake (overridden)."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        config = context.config
        self._fake = self._built(config, context.shared_memory)
        self._pacer = Pacer(positive_rate(config), self.wait)
        self._wait_feedback = bool(config.parameters.get("wait_for_feedback", False))
        self._feedback_timeout = float(config.parameters.get("feedback_timeout_s", 1.0))
        self._alias = config.auxiliary[0].alias if config.auxiliary else None
        self._frame = 0
        self._written = 0
        self._feedback_seen = 0
        self._feedback_timeouts = 0

    def _await_feedback(self) -> bool:
        """Wait for the feedback of the last frame; ``True`` when stopped."""
        stream = self.context.auxiliary_streams.get(self._alias)
        if stream is None:
            return False
        remaining = self._feedback_timeout
        while remaining > 0:
            if self.stop_requested():
                return True
            slice_s = min(WAIT_SLICE_S, remaining)
            if stream.wait_new(self._feedback_seen, timeout=slice_s) > self._feedback_seen:
                return False
            remaining -= slice_s
        self._feedback_timeouts += 1
        return False

    def _feedback(self) -> Any | None:
        if self._alias is None:
            return None
        stream = self.context.auxiliary_streams.get(self._alias)
        if stream is not None:
            self._feedback_seen = stream.count
        return self.read_auxiliary(self._alias)

    def _make(self, n: int, feedback: Any | None) -> Any:
        return self._fake.frame(n, feedback)

    def read(self) -> Any | None:
        """Frame ``n`` of the fake (``None`` when a fault drops it)."""
        if self._pacer.pace():
            return None
        if self._wait_feedback and self._written and self._await_feedback():
            return None
        n = self._frame
        self._frame += 1
        delay = float(self._fake.delay(n) or 0.0)
        if delay > 0 and self.wait(delay):
            return None
        frame = self._make(n, self._feedback())
        if frame is not None:
            self._written += 1
        return frame

    def plugin_metrics(self) -> dict[str, Any]:
        """Frames made and written, feedback timeouts."""
        return {
            "frames": self._frame,
            "frames_written": self._written,
            "feedback_timeouts": self._feedback_timeouts,
        }


class FakeShackHartmannSource(_FakeSource):
    """``fake.shack_hartmann``: the Shack-Hartmann camera fake as a source."""

    kind = "fake.shack_hartmann"
    fake_kind = "shack_hartmann"
    feedback_aliases = ("surface", "command")

    @classmethod
    def _check_feedback(cls, label: str, fake: Any, binding: Any, spec: Any) -> None:
        """``surface``: the camera's pupil shape; ``command``: ``n_act²`` values."""
        camera = getattr(fake, "inner", fake)
        if binding.alias == "surface":
            expected, got = tuple(camera.shape), tuple(spec.shape)
            if got != expected:
                raise ConfigValidationError(
                    f"{label}: auxiliary.surface: stream {spec.name!r} has shape "
                    f"{got}, the camera's pupil is {expected}"
                )
            return
        actuators = camera.mirror.n_act**2
        if math.prod(spec.shape) != actuators:
            raise ConfigValidationError(
                f"{label}: auxiliary.command: stream {spec.name!r} holds "
                f"{math.prod(spec.shape)} values, the camera's mirror has "
                f"{actuators} actuators (parameters.mirror.n_act)"
            )

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        if self._alias == "surface":
            # screen - surface -> camera, the faults (if any) around the optics
            camera = getattr(self._fake, "inner", self._fake)
            screen = camera.atmosphere or _FlatScreen(camera.shape)
            optics = ClosedLoopOptics(
                screen, _SurfaceFeedback(camera.shape), camera,
                latency_frames=camera.latency_frames,
            )
            faults = context.config.parameters.get("faults")
            seed = int(context.config.parameters.get("seed", 0))
            self._fake = optics if faults is None else FaultyFake(optics, faults, seed=seed)


class FakePhaseScreenSource(_FakeSource):
    """``fake.phase_screen``: the atmosphere fake as a source."""

    kind = "fake.phase_screen"
    fake_kind = "phase_screen"

    @classmethod
    def _fake_params(cls, config: Any, spec: SharedMemoryConfig) -> dict[str, Any]:
        params = super()._fake_params(config, spec)
        if "size" not in params and len(spec.shape) == 2 and spec.shape[0] == spec.shape[1]:
            params["size"] = int(spec.shape[0])
        return params


class FakeDeformableMirrorSink(_CheckedByBuilding, Sink):
    """``fake.deformable_mirror``: commands in, the mirror's surface out."""

    kind = "fake.deformable_mirror"

    @classmethod
    def _built(cls, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]) -> Any:
        label = f"sink {config.name!r}"
        command = _stream(label, config.stream, shared_memory)
        outputs = [_stream(label, name, shared_memory) for name in config.output_streams]
        if len(outputs) > 1:
            raise ConfigValidationError(
                f"{label}: outputs: the mirror writes one surface stream, got {len(outputs)}"
            )
        for binding in config.auxiliary:
            raise ConfigValidationError(
                f"{label}: auxiliary.{binding.alias}: the mirror takes no auxiliary"
            )
        params = {k: v for k, v in config.parameters.items() if k != "seed"}
        seed = _seed(label, config.parameters)
        values = math.prod(command.shape)
        side = math.isqrt(values)
        if "n_act" not in params and side * side == values:
            params["n_act"] = side
        if outputs:
            out = outputs[0]
            params = _with_dtype(params, out)
            if "size" not in params and len(out.shape) == 2 and out.shape[0] == out.shape[1]:
                params["size"] = int(out.shape[0])
        mirror = _build(label, "deformable_mirror", params, seed)
        inner = getattr(mirror, "inner", mirror)
        if values != inner.n_act**2:
            raise ConfigValidationError(
                f"{label}: stream {command.name!r} holds {values} commands, the mirror "
                f"has {inner.n_act}x{inner.n_act} actuators (parameters.n_act)"
            )
        if outputs:
            _check_frame(label, mirror, outputs[0])
        return mirror

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._mirror = self._built(context.config, context.shared_memory)
        self._inner = getattr(self._mirror, "inner", self._mirror)
        self._outputs = tuple(context.config.output_streams)
        self._consumed = 0
        self._saturated = 0
        self._command_rms = 0.0

    def consume_publication(self, publication: Any, writers: Mapping[str, Any]) -> None:
        """Apply the command; write the surface with the command's ``frame_id``."""
        command = publication.payload
        self._consumed += 1
        self._saturated = self._inner.saturated(command)
        self._command_rms = float(np.sqrt(np.mean(np.square(command, dtype=np.float64))))
        if not self._outputs:
            return
        surface = self._mirror.frame(publication.count, command)
        if surface is not None:
            writers[self._outputs[0]].write(surface, frame_id=publication.frame_id)

    def plugin_metrics(self) -> dict[str, Any]:
        """Commands consumed, saturated actuators and RMS of the last one."""
        return {
            "commands": self._consumed,
            "saturated_actuators": self._saturated,
            "command_rms": self._command_rms,
        }
