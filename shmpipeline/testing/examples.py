"""The examples shipped with the package: scenarios, pipelines, a project.

An installed wheel carries them under ``shmpipeline/examples/``
(``scenarios/`` with their goldens and data, ``pipelines/``, the worked
``downstream_project/`` and its guide ``DOWNSTREAM.md``); a source checkout
has them where :data:`CHECKOUT_PATHS` says. Either way they are found here, so ``pytest --scenario ao_closed_loop`` and
``shmpipeline scenario run ao_closed_loop`` work in an empty directory:
scenario names are looked up in the user's own scenario directories first
and in the shipped ones after (:func:`match_with_shipped`).
``shmpipeline examples`` lists them and copies them somewhere to edit.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from shmpipeline.errors import ScenarioError

__all__ = [
    "CHECKOUT_PATHS",
    "Example",
    "copy_examples",
    "list_examples",
    "match_with_shipped",
    "shipped_path",
    "shipped_pipelines_dir",
    "shipped_scenarios_dir",
]


def _package_root() -> Path:
    import shmpipeline

    return Path(shmpipeline.__file__).resolve().parent


def _checkout_root() -> Path | None:
    root = _package_root().parent
    if (root / "pyproject.toml").is_file() and (root / "scenarios").is_dir():
        return root
    return None


#: shipped item -> where a source checkout keeps it (the wheel has each
#: under ``shmpipeline/examples/<item>``)
CHECKOUT_PATHS = {
    "scenarios": "scenarios",
    "pipelines": "examples",
    "downstream_project": "examples/downstream_project",
    "DOWNSTREAM.md": "docs/DOWNSTREAM.md",
}


def shipped_path(item: str) -> Path | None:
    """Where a shipped item (a key of :data:`CHECKOUT_PATHS`) is: in the
    installed package, else in the source checkout, else ``None``."""
    packaged = _package_root() / "examples" / item
    if packaged.exists():
        return packaged
    root = _checkout_root()
    if root is not None and (root / CHECKOUT_PATHS[item]).exists():
        return root / CHECKOUT_PATHS[item]
    return None


def shipped_scenarios_dir() -> Path | None:
    """The shipped scenario directory (``None`` when neither installed nor a
    checkout has one)."""
    return shipped_path("scenarios")


def shipped_pipelines_dir() -> Path | None:
    """The shipped example pipelines (``examples/`` in a checkout)."""
    return shipped_path("pipelines")


@dataclass(frozen=True)
class Example:
    """One shipped thing: a ``scenario``, a ``pipeline``, the downstream
    ``project`` or the ``guide``."""

    kind: str
    name: str
    path: Path
    description: str = ""


def _description(path: Path) -> str:
    from shmpipeline.testing.scenario_files import quick_load

    try:
        data = quick_load(path)
    except Exception:  # noqa: BLE001 - a listing never fails on one file
        return ""
    text = data.get("description") if isinstance(data, dict) else None
    if isinstance(text, str):
        return text.strip()
    try:
        first = path.read_text(encoding="utf-8").splitlines()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return ""
    return first.lstrip("# ").strip() if first.startswith("#") else ""


def list_examples() -> list[Example]:
    """Every shipped scenario and pipeline (scenarios first, by name), then
    the worked downstream project and its guide."""
    from shmpipeline.testing.scenario import find_scenarios

    found: list[Example] = []
    scenarios = shipped_scenarios_dir()
    if scenarios is not None:
        for path in find_scenarios([scenarios]):
            found.append(Example("scenario", path.stem, path, _description(path)))
    pipelines = shipped_pipelines_dir()
    if pipelines is not None:
        for path in sorted(pipelines.glob("*.yaml")):
            found.append(Example("pipeline", path.stem, path, _description(path)))
    project = shipped_path("downstream_project")
    if project is not None:
        found.append(
            Example(
                "project",
                "downstream_project",
                project,
                "a package with its own kernel, source, sink, scenarios and tests",
            )
        )
    guide = shipped_path("DOWNSTREAM.md")
    if guide is not None:
        found.append(
            Example(
                "guide", "DOWNSTREAM.md", guide, "writing and testing your own kinds"
            )
        )
    return found


def copy_examples(
    destination: str | PathLike[str], *, overwrite: bool = False
) -> list[Path]:
    """Copy what is shipped into ``destination`` (``scenarios/``,
    ``pipelines/``, ``downstream_project/``, ``DOWNSTREAM.md``); return the
    files written. Existing files are kept unless ``overwrite`` (raises
    :class:`ScenarioError` naming the first one otherwise)."""
    target = Path(destination)
    planned: list[tuple[Path, Path]] = []
    for item in CHECKOUT_PATHS:
        source = shipped_path(item)
        into = target / item
        if source is None:
            continue
        if source.is_file():
            planned.append((source, into))
            continue
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if (
                not path.is_file()
                or path.name.endswith(".obtained.npz")
                or any(
                    p.startswith(".")
                    or p in ("__pycache__", "build")
                    or p.endswith(".egg-info")
                    for p in relative.parts
                )
                or (item == "pipelines" and "downstream_project" in relative.parts)
            ):
                continue
            planned.append((path, into / relative))
    if not overwrite:
        for _, out in planned:
            if out.exists():
                raise ScenarioError(f"{out} already exists (pass --force to overwrite)")
    written = []
    for source_file, out in planned:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source_file, out)
        written.append(out)
    return written


def match_with_shipped(pattern: str, dirs: Iterable[str | PathLike[str]]) -> list[Path]:
    """:func:`~shmpipeline.testing.scenario.match_scenarios` over ``dirs``,
    then, when nothing there matches, over the shipped scenarios."""
    from shmpipeline.testing.scenario import match_scenarios

    dirs = [Path(d) for d in dirs]
    try:
        return match_scenarios(pattern, dirs)
    except ScenarioError as exc:
        shipped = shipped_scenarios_dir()
        resolved = {d.resolve() for d in dirs if d.exists()}
        if shipped is None or shipped.resolve() in resolved:
            raise
        try:
            return match_scenarios(pattern, [shipped])
        except ScenarioError:
            raise ScenarioError(
                f"{exc.message} (nor among the shipped examples in {shipped})"
            ) from None
