"""One way for the pytest plugin and the CLI to name the registry scenarios use.

Without a name, kinds resolve through the default registry: the built-in
kernels, sources and sinks plus every plugin installed under the entry-point
groups ``shmpipeline.kernels``, ``shmpipeline.sources`` and
``shmpipeline.sinks``. A prototype kind that is not installed can be
offered as ``MODULE:ATTRIBUTE`` (``--shmpipeline-registry`` /
the ``shmpipeline_registry`` ini key for pytest, ``--registry`` for
``shmpipeline scenario``): the attribute is a registry, or a callable
returning one (called once per process).
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from shmpipeline.errors import ConfigValidationError

__all__ = ["resolve_registry"]


def resolve_registry(spec: str | None) -> Any:
    """The registry ``spec`` names (``MODULE:ATTRIBUTE``), or ``None`` (the
    default registry) when ``spec`` is empty. Raises
    :class:`ConfigValidationError` with a one-line message for a name that
    does not import or is not a registry."""
    if spec is None or not str(spec).strip():
        return None
    return _resolve(str(spec).strip())


@functools.lru_cache(maxsize=8)
def _resolve(spec: str) -> Any:
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ConfigValidationError(
            f"registry {spec!r}: expected MODULE:ATTRIBUTE (a registry or a "
            "callable returning one)"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any import failure is reported
        raise ConfigValidationError(
            f"registry {spec!r}: cannot import {module_name}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigValidationError(
                f"registry {spec!r}: {module_name} has no attribute {attribute!r}"
            ) from None
    if not hasattr(target, "validate") and callable(target):
        try:
            target = target()
        except Exception as exc:  # noqa: BLE001
            raise ConfigValidationError(
                f"registry {spec!r}: calling it raised {type(exc).__name__}: {exc}"
            ) from None
    if not (hasattr(target, "validate") and hasattr(target, "create_from_context")):
        raise ConfigValidationError(
            f"registry {spec!r}: {type(target).__name__} is not a kernel registry"
        )
    return target
