"""Scenario files read without validating them.

Collection, listing and the requirement checks must look at a scenario file
before (or instead of) validating it: a GPU scenario is skipped where it
cannot even be validated (no torch), and a broken file is still listed so
that loading it reports the problem. These readers never raise and never
block (regular files only, through :mod:`shmpipeline.user_files`).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.scenario_matrix import expand_matrix, variant_file
from shmpipeline.user_files import read_user_text

__all__ = [
    "declared_goldens",
    "declared_name",
    "looks_like_scenario",
    "quick_load",
]


def quick_load(path: Path) -> Any:
    """The parsed YAML of a file, or ``None`` when it is not a readable
    regular file or does not parse (never blocks on a FIFO; no validation)."""
    try:
        text = read_user_text(path, what="scenario file", error=ScenarioError)
        return yaml.safe_load(text)
    except Exception:  # noqa: BLE001 - not a scenario we can list
        return None


def looks_like_scenario(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a readable YAML mapping with a top-level
    ``pipeline`` key (what collection and listing treat as a scenario)."""
    data = quick_load(Path(path))
    return isinstance(data, Mapping) and "pipeline" in data


def declared_name(path: Path) -> str | None:
    """The ``name`` a scenario file declares, or ``None``."""
    data = quick_load(path)
    if isinstance(data, Mapping) and isinstance(data.get("name"), str):
        return data["name"].strip()
    return None


def declared_goldens(path: str | PathLike[str]) -> tuple[Path, ...]:
    """The golden files a scenario file names (one per matrix combination),
    read without validating it; ``()`` when it cannot be read."""
    file_path = Path(path).resolve()
    raw = quick_load(file_path)
    if not isinstance(raw, Mapping):
        return ()
    try:
        variants = expand_matrix(raw) if raw.get("matrix") is not None else [("", raw)]
    except ScenarioError:
        return ()
    found: list[Path] = []
    for variant, variant_raw in variants:
        name = variant_raw.get("name")
        name = name.strip() if isinstance(name, str) else file_path.stem
        value = variant_raw.get("golden")
        value = value.strip() if isinstance(value, str) else f"{name}.golden.npz"
        found.append((file_path.parent / variant_file(value, variant)).resolve())
    return tuple(found)
