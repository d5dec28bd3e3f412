"""Import layering of the shmpipeline package, read with :mod:`ast` (no
import is executed):

(a) no import cycle among shmpipeline modules: none at all among the imports
    that run when a module is imported (module level, class bodies,
    ``if``/``try`` blocks), and none either once the imports inside functions
    are counted too (a deferred import hides a cycle, it does not remove it),
    except the model <-> parser pairs ALLOWED_DEFERRED_CYCLES names. Imports
    under ``if TYPE_CHECKING:`` never count.
(b) no module uses another module's private names: neither ``from X import
    _name`` nor ``X._name``. A private *module* (``_header.py``) may be
    imported from inside its own package, and its public names from anywhere.

(c) no module passes MAX_MODULE_LINES lines unless LONG_MODULES lists it with
    the reason its one concept needs the length (docs/ARCHITECTURE.md).

Known violations are listed in ALLOWED_CYCLES / ALLOWED_PRIVATE / LONG_MODULES
below, each with a comment. The lists may only shrink: the test also fails when
a listed violation no longer exists, so remove its entry when you fix it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "shmpipeline"
PACKAGE = "shmpipeline"

# Strongly connected components of the module-level import graph (each a
# cycle or several interlocked ones), as sorted module names. None today.
ALLOWED_CYCLES: set[tuple[str, ...]] = set()

# Components of the graph that also counts imports inside functions. Each is a
# model whose ``from_dict`` classmethod calls the parser that builds it: the
# parser imports the model at module level, the model the parser on call.
ALLOWED_DEFERRED_CYCLES: set[tuple[str, ...]] = {
    # PipelineConfig/KernelConfig/SharedMemoryConfig.from_dict (public API on
    # the models) -> the _config_parse package, which builds those models
    (
        "shmpipeline._config_parse",
        "shmpipeline._config_parse.endpoints",
        "shmpipeline._config_parse.fields",
        "shmpipeline._config_parse.kernels",
        "shmpipeline._config_parse.pipeline",
        "shmpipeline._config_parse.streams",
        "shmpipeline._config_parse.wiring",
        "shmpipeline.config",
        "shmpipeline.endpoint_config",
    ),
    # Scenario.from_dict and load_scenario -> scenario_parse, which builds Scenario
    ("shmpipeline.testing.scenario", "shmpipeline.testing.scenario_parse"),
}

# (importing module, "target module:private name")
ALLOWED_PRIVATE: set[tuple[str, str]] = set()


#: a module longer than this holds several concepts, as a rule: split it
MAX_MODULE_LINES = 600

# module -> why its one concept needs more than MAX_MODULE_LINES lines.
# None today (stream/stream.py was split: _attach, _mapping, _waiting).
LONG_MODULES: dict[str, str] = {}


# --- reading the package --------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules() -> dict[str, tuple[Path, ast.Module]]:
    modules = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        modules[module_name(path)] = (path, ast.parse(path.read_text(), str(path)))
    return modules


MODULES = package_modules()


def is_package(name: str) -> bool:
    return MODULES[name][0].name == "__init__.py"


def resolve_from(importer: str, module: str | None, level: int) -> str:
    """The absolute module named by ``from <level dots><module> import``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package(importer):
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(body: list[ast.stmt], *, deferred: bool = False) -> Iterator[ast.stmt]:
    """Statements executed when the module is imported (``deferred``: those
    inside function bodies too); never what stands under ``if TYPE_CHECKING:``."""
    for node in body:
        if not deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and is_type_checking(node.test):
            yield from import_nodes(node.orelse, deferred=deferred)
            continue
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                yield from import_nodes([child], deferred=deferred)
            elif isinstance(child, (ast.ExceptHandler, ast.match_case)):
                yield from import_nodes(child.body, deferred=deferred)


@dataclass(frozen=True)
class Imported:
    """One name an import statement binds, resolved to shmpipeline terms."""

    target: str  # the shmpipeline module the edge goes to
    name: str | None  # the name taken from it (``from X import name``), if any
    bound_module: str | None  # the module bound to a local name, if any
    local: str  # the local name bound


def imports_of(importer: str, node: ast.stmt) -> list[Imported]:
    found = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if not alias.name.split(".")[0] == PACKAGE or alias.name not in MODULES:
                continue
            local = alias.asname or alias.name.split(".")[0]
            bound = alias.name if alias.asname else alias.name.split(".")[0]
            found.append(Imported(alias.name, None, bound, local))
    elif isinstance(node, ast.ImportFrom):
        source = resolve_from(importer, node.module, node.level)
        if source.split(".")[0] != PACKAGE or source not in MODULES:
            return found
        for alias in node.names:
            local = alias.asname or alias.name
            submodule = f"{source}.{alias.name}"
            if submodule in MODULES:
                found.append(Imported(submodule, None, submodule, local))
            else:
                found.append(Imported(source, alias.name, None, local))
    return found


def import_graph(*, deferred: bool = False) -> dict[str, set[str]]:
    """Module -> the shmpipeline modules it imports (``deferred``: counting
    the imports inside functions too)."""
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for importer, (_, tree) in MODULES.items():
        for node in import_nodes(tree.body, deferred=deferred):
            for imported in imports_of(importer, node):
                if imported.target != importer:
                    graph[importer].add(imported.target)
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """Tarjan's algorithm; components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: set[tuple[str, ...]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.add(tuple(sorted(component)))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_module_allowed(importer: str, module: str) -> bool:
    """A private module may be used from inside the package holding it."""
    parent = module.rsplit(".", 1)[0]
    return importer == parent or importer.startswith(parent + ".")


def private_uses() -> set[tuple[str, str]]:
    uses: set[tuple[str, str]] = set()
    for importer, (_, tree) in MODULES.items():
        aliases: dict[str, str] = {}  # local name -> shmpipeline module
        for node in ast.walk(tree):  # every import, functions included
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for imported in imports_of(importer, node):
                if imported.bound_module is not None:
                    aliases[imported.local] = imported.bound_module
                    last = imported.bound_module.rsplit(".", 1)[-1]
                    if (
                        isinstance(node, ast.ImportFrom)
                        and is_private(last)
                        and not private_module_allowed(importer, imported.bound_module)
                    ):
                        parent, _, last = imported.bound_module.rpartition(".")
                        uses.add((importer, f"{parent}:{last}"))
                elif is_private(imported.name or ""):
                    uses.add((importer, f"{imported.target}:{imported.name}"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute) or not is_private(node.attr):
                continue
            dotted = dotted_name(node.value)
            if dotted is None:
                continue
            head, *rest = dotted.split(".")
            if head not in aliases:
                continue
            module = ".".join([aliases[head], *rest])
            if module in MODULES and module != importer:
                if is_private(node.attr) and f"{module}.{node.attr}" in MODULES:
                    if private_module_allowed(importer, f"{module}.{node.attr}"):
                        continue
                uses.add((importer, f"{module}:{node.attr}"))
    return uses


def dotted_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = dotted_name(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


# --- the checks -----------------------------------------------------------------------


def test_the_reader_sees_the_package():
    assert "shmpipeline.stream.stream" in MODULES and "shmpipeline" in MODULES
    graph = import_graph()
    assert "shmpipeline.errors" in graph["shmpipeline.stream.stream"]


def test_no_import_cycles():
    cycles = strongly_connected(import_graph())
    new = sorted(cycles - ALLOWED_CYCLES)
    assert not new, (
        "import cycles among shmpipeline modules (move the shared part to a "
        f"module both can import, or import inside the function): {new}"
    )
    gone = sorted(ALLOWED_CYCLES - cycles)
    assert not gone, f"allowlisted cycles no longer exist; remove them: {gone}"


def test_no_import_cycles_through_deferred_imports():
    cycles = strongly_connected(import_graph(deferred=True))
    new = sorted(cycles - ALLOWED_DEFERRED_CYCLES)
    assert not new, (
        "import cycles once the imports inside functions count (move the shared "
        f"part to a module both can import at module level): {new}"
    )
    gone = sorted(ALLOWED_DEFERRED_CYCLES - cycles)
    assert not gone, f"allowlisted deferred cycles no longer exist; remove them: {gone}"


def test_no_private_names_from_other_modules():
    uses = private_uses()
    new = sorted(uses - ALLOWED_PRIVATE)
    assert not new, (
        "private names used across modules (give the helper a public name in "
        f"its home module): {new}"
    )
    gone = sorted(ALLOWED_PRIVATE - uses)
    assert not gone, f"allowlisted private uses no longer exist; remove them: {gone}"


def module_lengths() -> dict[str, int]:
    return {
        name: len(path.read_text().splitlines()) for name, (path, _) in MODULES.items()
    }


def test_no_module_is_too_long_unless_listed_with_a_reason():
    lengths = module_lengths()
    long = {name for name, count in lengths.items() if count > MAX_MODULE_LINES}
    new = sorted(f"{name} ({lengths[name]} lines)" for name in long - set(LONG_MODULES))
    assert not new, (
        f"modules over {MAX_MODULE_LINES} lines (split them into one module per "
        f"concept, or list one in LONG_MODULES with the reason): {new}"
    )
    gone = sorted(set(LONG_MODULES) - long)
    assert not gone, f"LONG_MODULES entries no longer over the limit; remove them: {gone}"
    assert all(reason.strip() for reason in LONG_MODULES.values())


# --- the checker itself, on small synthetic examples ----------------------------------


def test_tarjan_finds_cycles_and_ignores_chains():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert strongly_connected(graph) == {("a", "b", "c")}
    assert strongly_connected({"a": {"b"}, "b": set()}) == set()


def test_function_and_type_checking_imports_do_not_count():
    tree = ast.parse(
        "import os\n"
        "if TYPE_CHECKING:\n    import a\nelse:\n    import b\n"
        "def f():\n    import c\n"
        "class K:\n    import d\n"
        "try:\n    import e\nexcept ImportError:\n    import g\n"
    )
    names = [
        alias.name
        for node in import_nodes(tree.body)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert sorted(names) == ["b", "d", "e", "g", "os"]
    deferred = [
        alias.name
        for node in import_nodes(tree.body, deferred=True)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert sorted(deferred) == ["b", "c", "d", "e", "g", "os"]


def test_relative_imports_resolve():
    assert resolve_from("shmpipeline.stream.stream", "_segment", 1) == (
        "shmpipeline.stream._segment"
    )
    assert resolve_from("shmpipeline.stream", "_admin", 1) == (
        "shmpipeline.stream._admin"
    )
    assert resolve_from("shmpipeline.stream._admin", None, 2) == "shmpipeline"
    assert resolve_from("shmpipeline.stream._admin", "errors", 2) == (
        "shmpipeline.errors"
    )


def test_private_use_detection_on_a_fake_module(monkeypatch, tmp_path):
    fake = {
        "shmpipeline": "",
        "shmpipeline.a": "from shmpipeline.b import _x, y\n"
        "from shmpipeline import b as bee\n"
        "import shmpipeline.b\n"
        "def f():\n    return bee._z, shmpipeline.b._w, bee.__name__\n",
        "shmpipeline.b": "_x = y = _z = _w = 1\nimport shmpipeline.a\n",
        "shmpipeline.pkg": "from . import _inner\n",
        "shmpipeline.pkg._inner": "v = 1\n",
        "shmpipeline.c": "from shmpipeline.pkg import _inner\n"
        "from shmpipeline.pkg._inner import v\n",
    }
    modules = {}
    for name, text in fake.items():
        leaf = "__init__.py" if name in ("shmpipeline", "shmpipeline.pkg") else "m.py"
        modules[name] = (tmp_path / leaf, ast.parse(text))
    monkeypatch.setitem(globals(), "MODULES", modules)
    assert private_uses() == {
        ("shmpipeline.a", "shmpipeline.b:_x"),
        ("shmpipeline.a", "shmpipeline.b:_z"),
        ("shmpipeline.a", "shmpipeline.b:_w"),
        ("shmpipeline.c", "shmpipeline.pkg:_inner"),
    }
    assert strongly_connected(import_graph()) == {("shmpipeline.a", "shmpipeline.b")}
