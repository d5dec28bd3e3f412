"""Hardware fakes: seeded stand-ins for cameras, mirrors and the atmosphere.

A scenario input ``{fake: KIND, ...parameters}`` becomes
``build_fake(KIND, parameters, seed=...)``: an object with
``frame(n, command=None) -> ndarray | None`` (frame ``n``; ``command`` is
the value of the scenario's ``command`` stream after frame ``n - 1``, closing
the loop), ``delay(n) -> seconds`` and ``shape``/``dtype``. Frames are
deterministic given the seed and ``n``.

Kinds (:data:`FAKES`): ``phase_screen``
(:mod:`~shmpipeline.testing.fakes.phase_screen`), ``shack_hartmann``
(:mod:`~shmpipeline.testing.fakes.shack_hartmann`), ``deformable_mirror``
(:mod:`~shmpipeline.testing.fakes.deformable_mirror`). Any of them takes a
``faults`` mapping (:mod:`~shmpipeline.testing.fakes.faults`). Unknown kinds
or parameters raise :class:`~shmpipeline.errors.ScenarioError` naming them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.fakes.deformable_mirror import DeformableMirror
from shmpipeline.testing.fakes.faults import FaultyFake
from shmpipeline.testing.fakes.phase_screen import PhaseScreen
from shmpipeline.testing.fakes.shack_hartmann import ShackHartmann

__all__ = [
    "FAKES",
    "DeformableMirror",
    "FaultyFake",
    "PhaseScreen",
    "ShackHartmann",
    "build_fake",
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
    :class:`FaultyFake`), seeded with ``seed``."""
    cls = FAKES.get(kind)
    if cls is None:
        close = difflib.get_close_matches(str(kind), list(FAKES), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
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
