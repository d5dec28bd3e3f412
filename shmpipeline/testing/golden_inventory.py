"""Which golden files the scenarios of a directory tree use, and which no
scenario uses any more (a renamed or deleted scenario, a shrunk matrix).

Only ``*.golden.npz`` files of the golden format count; ``.obtained.npz``
files (written beside a golden on a mismatch) are never reported. Removing
an unused golden removes only a file :func:`~shmpipeline.testing.golden.is_golden_file`
recognises.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

__all__ = ["GOLDEN_SUFFIX", "remove_goldens", "unused_goldens"]

GOLDEN_SUFFIX = ".golden.npz"


def _golden_files(root: Path) -> list[Path]:
    found = []
    for candidate in sorted(root.rglob(f"*{GOLDEN_SUFFIX}")):
        relative = candidate.relative_to(root).parts[:-1]
        if any(part.startswith(".") for part in relative):
            continue
        if candidate.name.startswith(".") or candidate.is_symlink():
            continue
        if candidate.is_file():
            found.append(candidate.resolve())
    return found


def unused_goldens(dirs: Iterable[str | PathLike[str]]) -> list[Path]:
    """Golden files under ``dirs`` that no scenario under ``dirs`` names."""
    from shmpipeline.testing.golden import is_golden_file
    from shmpipeline.testing.scenario import find_scenarios
    from shmpipeline.testing.scenario_files import declared_goldens

    roots = [Path(d) for d in dirs if Path(d).is_dir()]
    used: set[Path] = set()
    for scenario_file in find_scenarios(roots):
        used.update(declared_goldens(scenario_file))
    unused: dict[Path, None] = {}
    for root in roots:
        for path in _golden_files(root):
            if path not in used and is_golden_file(path):
                unused[path] = None
    return sorted(unused)


def remove_goldens(paths: Iterable[Path]) -> list[Path]:
    """Delete the given goldens (only files of the golden format); returns
    those removed."""
    from shmpipeline.testing.golden import is_golden_file

    removed = []
    for path in paths:
        if path.is_file() and not path.is_symlink() and is_golden_file(path):
            path.unlink()
            removed.append(path)
    return removed
