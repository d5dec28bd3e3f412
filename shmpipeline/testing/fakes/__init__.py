"""Hardware fakes: seeded stand-ins for cameras, mirrors and the atmosphere.

A scenario input ``{fake: KIND, ...parameters}`` becomes
``build_fake(KIND, parameters, seed=...)``: an object with
``frame(n, command=None) -> ndarray | None`` (frame ``n``; ``command`` is
the value of the scenario's ``command`` stream after frame ``n - 1``, closing
the loop), ``delay(n) -> seconds`` and ``shape``/``dtype``. Frames are
deterministic given the seed and ``n``.

Kinds (:data:`FAKES`): ``phase_screen``
(:mod:`~shmpipeline.testing.fakes.phase_screen`: layers of von Kármán
turbulence with subharmonics, frozen flow over an infinite screen,
:mod:`~shmpipeline.testing.fakes.turbulence`,
:mod:`~shmpipeline.testing.fakes.infinite_screen`), ``shack_hartmann``
(:mod:`~shmpipeline.testing.fakes.shack_hartmann`: geometric or
diffraction spots, :mod:`~shmpipeline.testing.fakes.diffraction`, a
:mod:`~shmpipeline.testing.fakes.pupil`, a
:mod:`~shmpipeline.testing.fakes.detector`, loop latency,
:mod:`~shmpipeline.testing.fakes.command_delay`), ``deformable_mirror``
(:mod:`~shmpipeline.testing.fakes.deformable_mirror`: layouts,
misregistration, actuator faults). Any of them takes a
``faults`` mapping (:mod:`~shmpipeline.testing.fakes.faults`). Unknown kinds
or parameters raise :class:`~shmpipeline.errors.ScenarioError` naming them.

From Python the classes take the same parameters as keywords, and
:class:`ClosedLoopOptics` (:mod:`~shmpipeline.testing.fakes.closed_loop`)
composes a screen, a mirror and a camera built separately::

    screen = PhaseScreen(size=32, r0=0.2, wind=(0, 1), seed=1)
    mirror = DeformableMirror(n_act=5, size=32)
    camera = ShackHartmann(lenslets=4, pixels=8, atmosphere=None, seed=1)
    optics = ClosedLoopOptics(screen, mirror, camera)
    image = optics.camera_frame(n, last_command)

Calibration (:mod:`~shmpipeline.testing.fakes.calibration`):
``interaction_matrix(camera)`` pokes each actuator through the fakes and
measures slopes with the pipeline's centroid convention;
``reconstructor(camera_or_matrix, method="pinv", rcond=0.05)`` is
``-pinv(IM)`` (or a Tikhonov-damped inverse).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from shmpipeline._problems import did_you_mean
from shmpipeline.errors import ScenarioError
from shmpipeline.testing.fakes.calibration import interaction_matrix, reconstructor
from shmpipeline.testing.fakes.closed_loop import ClosedLoopOptics
from shmpipeline.testing.fakes.deformable_mirror import DeformableMirror
from shmpipeline.testing.fakes.faults import FaultSchedule, FaultyFake
from shmpipeline.testing.fakes.phase_screen import PhaseScreen
from shmpipeline.testing.fakes.shack_hartmann import ShackHartmann

__all__ = [
    "FAKES",
    "ClosedLoopOptics",
    "DeformableMirror",
    "FaultSchedule",
    "FaultyFake",
    "PhaseScreen",
    "ShackHartmann",
    "build_fake",
    "interaction_matrix",
    "reconstructor",
]

#: Fake kind -> class taking ``(params, *, seed)``.
FAKES: Mapping[str, type] = MappingProxyType(
    {
        "phase_screen": PhaseScreen,
        "shack_hartmann": ShackHartmann,
        "deformable_mirror": DeformableMirror,
    }
)


def build_fake(
    kind: str, params: Mapping[str, Any] | None = None, *, seed: int = 0
) -> Any:
    """The fake of ``kind`` with ``params`` (``faults`` wraps it in
    :class:`FaultyFake`), seeded with ``seed``.

    Raises :class:`~shmpipeline.errors.ScenarioError` naming an unknown kind
    or parameter, or a bad value and its field."""
    if not isinstance(kind, str):
        raise ScenarioError(
            f"fake kind must be a string such as 'shack_hartmann', got {kind!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise ScenarioError(f"fake {kind!r}: seed must be an integer, got {seed!r}")
    if params is not None and not isinstance(params, Mapping):
        raise ScenarioError(
            f"fake {kind!r}: parameters must be a mapping, got {params!r}"
        )
    cls = FAKES.get(kind)
    if cls is None:
        hint = did_you_mean(str(kind), FAKES, n=1)
        raise ScenarioError(
            f"unknown fake kind {kind!r}{hint}; known: {', '.join(sorted(FAKES))}"
        )
    params = dict(params or {})
    faults = params.pop("faults", None)
    fake = cls(params, seed=seed)
    if faults is not None:
        if not isinstance(faults, Mapping):
            raise ScenarioError(
                f"fake {kind!r}: parameter 'faults': must be a mapping, got {faults!r}"
            )
        fake = FaultyFake(fake, faults, seed=seed)
    return fake
