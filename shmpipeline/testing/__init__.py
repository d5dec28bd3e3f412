"""shmpipeline.testing: the test-and-simulation harness.

The common names are re-exported here lazily: ``import shmpipeline.testing``
imports nothing but this module (no pytest, no Hypothesis, no runtime), and
``shmpipeline.testing.save_golden`` loads :mod:`~shmpipeline.testing.golden`
on first use. Submodules:

- :mod:`~shmpipeline.testing.golden`: ``.npz`` goldens and their comparator;
- :mod:`~shmpipeline.testing.fakes`: seeded hardware fakes (phase screen,
  Shack-Hartmann camera, deformable mirror, fault injection);
- :mod:`~shmpipeline.testing.scenario`, :mod:`~shmpipeline.testing.replay`,
  :mod:`~shmpipeline.testing.inline`, :mod:`~shmpipeline.testing.runner`:
  scenario files and their deterministic replay (the input kinds in
  :mod:`~shmpipeline.testing.inputs`, the file parser in
  :mod:`~shmpipeline.testing.scenario_parse`);
- :mod:`~shmpipeline.testing.strategies`: Hypothesis strategies (needs
  ``hypothesis``, the ``test`` extra);
- :mod:`~shmpipeline.testing.plugin`: the pytest plugin.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> submodule defining it (imported on first access).
_EXPORTS: dict[str, str] = {
    # goldens
    "ComparisonReport": "golden",
    "Golden": "golden",
    "StreamComparison": "golden",
    "ToleranceSpec": "golden",
    "compare_captures": "golden",
    "load_golden": "golden",
    "save_golden": "golden",
    # hardware fakes
    "ClosedLoopOptics": "fakes",
    "DeformableMirror": "fakes",
    "FaultyFake": "fakes",
    "PhaseScreen": "fakes",
    "ShackHartmann": "fakes",
    "build_fake": "fakes",
    # scenarios and their replay
    "Scenario": "scenario",
    "load_scenario": "scenario",
    "run_inline": "inline",
    "check_scenario": "runner",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
