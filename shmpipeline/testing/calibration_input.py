"""The ``calibrate`` scenario input: a reconstructor measured on the fakes.

::

    inputs:
      wfs_image: {fake: shack_hartmann, command: dm_command, lenslets: 4}
      reconstructor:
        calibrate: {camera: wfs_image, mirror: dm_command, amplitude: 0.1,
                    method: pinv, rcond: 0.05}

``camera`` names the stream fed by a Shack-Hartmann fake (its parameters
and seed are the scenario's); ``mirror``, when given, must be the stream
that fake reads its command from. Each actuator is poked push-pull through
the fake's noiseless model, the slopes measured with the pipeline's
centroid convention (:func:`~shmpipeline.testing.fakes.interaction_matrix`),
and ``-inverse(IM)`` (:func:`~shmpipeline.testing.fakes.reconstructor`,
``method`` ``pinv`` or ``tikhonov`` with ``rcond``/``alpha``) written once
to the stream before the pipeline starts. The result is an ordinary static
frame, hashed by content.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["CALIBRATE_KEYS", "CalibrationProblem", "calibrated_reconstructor"]

CALIBRATE_KEYS = ("camera", "mirror", "amplitude", "method", "rcond", "alpha")
_METHODS = ("pinv", "tikhonov")


class CalibrationProblem(ValueError):
    """Bad ``calibrate`` input: ``field`` names the key at fault."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _positive(settings: Mapping[str, Any], key: str, default: float) -> float:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise CalibrationProblem(key, f"must be a positive number, got {value!r}")
    return float(value)


def calibrated_reconstructor(
    settings: Any, camera_input: Any, stream_spec: Any
) -> np.ndarray:
    """The reconstructor frame of a ``calibrate`` mapping, for a stream of
    ``stream_spec``; ``camera_input`` is the
    :class:`~shmpipeline.testing.inputs.FakeInput` of the named camera
    stream (or ``None``). Raises :class:`CalibrationProblem`."""
    from shmpipeline.testing import fakes

    if not isinstance(settings, Mapping):
        raise CalibrationProblem(
            None, "must be a mapping such as {camera: wfs_image, method: pinv}"
        )
    for key in settings:
        if key not in CALIBRATE_KEYS:
            raise CalibrationProblem(
                key, "unknown key; allowed: " + ", ".join(CALIBRATE_KEYS)
            )
    camera = settings.get("camera")
    if not isinstance(camera, str):
        raise CalibrationProblem("camera", "required: the stream a camera fake feeds")
    if camera_input is None or getattr(camera_input, "kind", None) != "shack_hartmann":
        raise CalibrationProblem(
            "camera",
            f"stream {camera!r} is not fed by a shack_hartmann fake in this "
            "scenario's inputs",
        )
    mirror = settings.get("mirror")
    if mirror is not None and mirror != camera_input.command:
        raise CalibrationProblem(
            "mirror",
            f"the camera fake reads its command from {camera_input.command!r}, "
            f"not {mirror!r}",
        )
    method = settings.get("method", "pinv")
    if method not in _METHODS:
        raise CalibrationProblem(
            "method", f"must be one of {', '.join(_METHODS)}, got {method!r}"
        )
    amplitude = _positive(settings, "amplitude", 0.1)
    rcond = _positive(settings, "rcond", 0.05)
    alpha = _positive(settings, "alpha", 0.05)
    try:
        system = fakes.build_fake(
            camera_input.kind, dict(camera_input.params), seed=camera_input.seed
        )
        interaction = fakes.interaction_matrix(system, amplitude=amplitude)
        matrix = fakes.reconstructor(
            interaction, method=method, rcond=rcond, alpha=alpha
        )
    except Exception as exc:  # noqa: BLE001 - a fake refusing its parameters
        raise CalibrationProblem(
            None, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        ) from None
    shape = tuple(stream_spec.shape)
    if matrix.shape != shape:
        raise CalibrationProblem(
            None,
            f"the measured reconstructor is {matrix.shape[0]} x {matrix.shape[1]} "
            f"(actuators x slopes), the stream is {shape}",
        )
    result = np.ascontiguousarray(matrix.astype(np.dtype(stream_spec.dtype)))
    result.setflags(write=False)
    return result
