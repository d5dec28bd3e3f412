"""Walk the seed API page (tests/data/seed-api.txt) and check that
every class, function, method and property it names exists with the
documented parameters, in order, with the documented defaults. Extra
trailing parameters are allowed only when they have defaults (calls written
against the seed API keep working)."""

from __future__ import annotations

import enum
import importlib
import inspect
import re
from pathlib import Path

import pytest

SEED = Path(__file__).parent / "data" / "seed-api.txt"

CLASS = re.compile(r"^class (shmpipeline(?:\.\w+)+)\((.*)\)\[source\]$")
FUNC = re.compile(r"^(shmpipeline(?:\.\w+)+)\((.*)\)\[source\]$")
METHOD = re.compile(r"^(?:classmethod |abstractmethod )*(\w+)\((.*)\)\[source\]$")
PROPERTY = re.compile(r"^property (\w+)")


def _entries():
    current = None
    for line in SEED.read_text().splitlines():
        line = line.strip()
        if m := CLASS.match(line):
            current = m.group(1)
            yield ("class", current, m.group(2))
        elif m := FUNC.match(line):
            current = None
            yield ("function", m.group(1), m.group(2))
        elif (m := METHOD.match(line)) and current:
            yield ("method", f"{current}.{m.group(1)}", m.group(2))
        elif (m := PROPERTY.match(line)) and current:
            yield ("property", f"{current}.{m.group(1)}", "")


ENTRIES = list(_entries())


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = inspect.getattr_static(obj, attr) if isinstance(obj, type) else getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _documented(params: str) -> list[tuple[str, str | None]]:
    out = []
    for raw in [p.strip() for p in params.split(",") if p.strip()]:
        if raw == "*":
            out.append(("*", None))
            continue
        name, _, default = raw.partition("=")
        out.append((name.lstrip("*"), default or None))
    return out


def test_seed_page_parsed():
    kinds = {k for k, _, _ in ENTRIES}
    assert kinds == {"class", "function", "method", "property"}
    assert len(ENTRIES) > 60


@pytest.mark.parametrize("kind,dotted,params", ENTRIES, ids=[e[1] for e in ENTRIES])
def test_seed_name_exists_with_signature(kind, dotted, params):
    obj = _resolve(dotted)
    if kind == "property":
        assert isinstance(obj, property), f"{dotted} is not a property"
        return
    if isinstance(obj, type) and issubclass(obj, enum.Enum):
        return  # an Enum's call signature is the enum machinery's, (*values)
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    signature = inspect.signature(obj)
    actual = [p for p in signature.parameters.values() if p.name not in ("self", "cls")]
    documented = [d for d in _documented(params) if d[0] != "*"]
    names = [p.name for p in actual]
    assert names[: len(documented)] == [d[0] for d in documented], (
        f"{dotted}: documented {[d[0] for d in documented]}, found {names}"
    )
    for param, (_, default) in zip(actual, documented, strict=False):
        if default is None:
            continue
        if default == "<factory>":
            continue
        assert param.default is not inspect.Parameter.empty, f"{dotted}: {param.name} lost its default"
        assert repr(param.default) == default or str(param.default) == default, (
            f"{dotted}: {param.name} default {param.default!r}, documented {default}"
        )
    for extra in actual[len(documented):]:
        assert extra.default is not inspect.Parameter.empty or extra.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ), f"{dotted}: extra parameter {extra.name} has no default"
    # keyword-only markers of the seed are honoured
    if "*" in [d[0] for d in _documented(params)]:
        star = [d[0] for d in _documented(params)].index("*")
        for param in actual[star:len(documented)]:
            assert param.kind is inspect.Parameter.KEYWORD_ONLY, f"{dotted}: {param.name} must be keyword-only"
