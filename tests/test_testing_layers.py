"""The executor modules of shmpipeline.testing form layers: results <-
drive <- sources <- inline/replay, with no cycle and no private names
imported from one another (names are public in their home module)."""

from __future__ import annotations

import ast
from pathlib import Path

import shmpipeline.testing as testing

PACKAGE = Path(testing.__file__).resolve().parent
#: module -> the testing modules it may import (directly or lazily)
LAYERS = {
    "results": set(),
    "drive": {"results", "scenario"},
    "sources": {"drive", "fakes", "scenario"},
    "inline": {"drive", "results", "scenario", "sources"},
    "replay": {"drive", "results", "scenario", "sources"},
}


def _imports(module: str) -> list[tuple[str, list[str]]]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def test_executor_modules_import_only_lower_layers_and_public_names():
    for module, allowed in LAYERS.items():
        for imported, names in _imports(module):
            if imported == "shmpipeline.testing":
                targets = set(names)  # from shmpipeline.testing import fakes
            elif imported.startswith("shmpipeline.testing."):
                targets = {imported.split(".")[2]}
            else:
                targets = set()
            assert targets <= allowed | {"fakes"}, (module, imported, names)
            if imported.startswith("shmpipeline"):
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{module} imports private {private} from {imported}"
