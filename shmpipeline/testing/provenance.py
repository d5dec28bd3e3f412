"""Which installed distributions provided the kernel kinds of a pipeline.

A golden records, per kernel kind its pipeline uses, the distribution (and
version) the kind's class came from: shmpipeline itself for the built-ins, a
plugin's distribution otherwise. When a comparison fails, the recorded
versions are compared with the installed ones, so the report can say "kind
acme.filter: acme-kernels 1.0 -> 1.2 since recording".
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["kind_distributions", "version_changes"]


@functools.cache
def _packages() -> Mapping[str, list[str]]:
    return metadata.packages_distributions()


def _distribution_of(module: str) -> tuple[str | None, str | None]:
    top = module.split(".", 1)[0]
    names = _packages().get(top) or ([top] if top == "shmpipeline" else [])
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None, None


def kind_distributions(pipeline: Any, registry: KernelRegistry | None = None) -> dict[str, Any]:
    """``{kind: {"distribution": NAME, "version": V, "module": M}}`` for every
    kernel kind of ``pipeline`` (``None`` where no installed distribution
    ships the module, e.g. a class defined in a test file)."""
    if registry is None:
        from shmpipeline.registry import get_default_registry

        registry = get_default_registry()
    found: dict[str, Any] = {}
    for kernel in pipeline.kernels:
        if kernel.kind in found:
            continue
        try:
            module = registry.get(kernel.kind).__module__
        except Exception:  # noqa: BLE001 - provenance never fails a recording
            module = None
        name, version = _distribution_of(module) if module else (None, None)
        found[kernel.kind] = {
            "distribution": name,
            "version": version,
            "module": module,
        }
    return dict(sorted(found.items()))


def version_changes(recorded: Any, current: Mapping[str, Any]) -> list[str]:
    """One line per kind whose providing distribution or version differs
    between a golden's recorded ``kinds`` metadata and ``current``."""
    if not isinstance(recorded, Mapping):
        return []
    lines: list[str] = []
    for kind, now in current.items():
        before = recorded.get(kind)
        if not isinstance(before, Mapping):
            continue
        was = (before.get("distribution"), before.get("version"))
        is_ = (now.get("distribution"), now.get("version"))
        if None in (was[0], is_[0]):
            continue  # provenance unknown on one side: nothing to compare
        if was != is_:
            lines.append(f"kind {kind}: {_show(was)} when recorded, {_show(is_)} now")
    return lines


def _show(pair: tuple[Any, Any]) -> str:
    name, version = pair
    if name is None:
        return "no distribution"
    return f"{name} {version}"
