"""The tables of source and sink kinds a :class:`KernelRegistry` holds.

One :class:`EndpointKinds` per role (``source``/``sink``): classes registered
directly, built-in lazy loaders (the module is imported on first use), and
entry points of the group ``shmpipeline.sources`` / ``shmpipeline.sinks``
loaded when a kind is not found otherwise. A broken plugin is reported
(``plugin_errors``, a ``RuntimeWarning``), never fatal.
"""

from __future__ import annotations

import functools
import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from shmpipeline._problems import did_you_mean
from shmpipeline.errors import ConfigValidationError

__all__ = [
    "SINK_ENTRY_POINT_GROUP",
    "SOURCE_ENTRY_POINT_GROUP",
    "EndpointKinds",
    "builtin_sinks",
    "builtin_sources",
]

SOURCE_ENTRY_POINT_GROUP = "shmpipeline.sources"
SINK_ENTRY_POINT_GROUP = "shmpipeline.sinks"


def _load_attr(module: str, name: str) -> type:
    return getattr(importlib.import_module(module), name)


def _loader(module: str, name: str) -> Callable[[], type]:
    # a partial of a module-level function pickles (registries go to workers)
    return functools.partial(_load_attr, module, name)


def builtin_sources() -> dict[str, Callable[[], type]]:
    """Lazy loaders of the built-in source kinds."""
    return {
        "synthetic.array": _loader("shmpipeline.sources.array_source", "SyntheticArraySource"),
        "synthetic.frame_set": _loader(
            "shmpipeline.sources.frame_set_source", "SyntheticFrameSetSource"
        ),
        # the hardware fakes (imported only when a pipeline names them)
        "fake.shack_hartmann": _loader(
            "shmpipeline.testing.fake_endpoints", "FakeShackHartmannSource"
        ),
        "fake.phase_screen": _loader(
            "shmpipeline.testing.fake_endpoints", "FakePhaseScreenSource"
        ),
    }


def builtin_sinks() -> dict[str, Callable[[], type]]:
    """Lazy loaders of the built-in sink kinds."""
    return {
        "null.sink": _loader("shmpipeline.sinks.null_sink", "NullSink"),
        "fake.deformable_mirror": _loader(
            "shmpipeline.testing.fake_endpoints", "FakeDeformableMirrorSink"
        ),
    }


class EndpointKinds:
    """Kind -> class table of one endpoint role."""

    def __init__(
        self,
        role: str,
        base: Callable[[], type],
        classes: dict[str, type] | None = None,
        lazy: dict[str, Callable[[], type]] | None = None,
    ) -> None:
        self.role = role
        self._base = base  # returns the base class (imported lazily)
        self._classes: dict[str, type] = dict(classes or {})
        self._lazy: dict[str, Callable[[], type]] = dict(lazy or {})
        self._pending: list[Any] = []
        self.errors: list[str] = []

    def copy(self) -> EndpointKinds:
        """An independent table with the same entries."""
        other = EndpointKinds(self.role, self._base, self._classes, self._lazy)
        other._pending = list(self._pending)
        other.errors = list(self.errors)
        return other

    def check_class(self, cls: Any) -> str:
        """The kind of an endpoint class (TypeError/ValueError when unusable)."""
        base = self._base()
        if not isinstance(cls, type) or not issubclass(cls, base):
            raise TypeError(f"{self.role} class must be a {base.__name__} subclass, got {cls!r}")
        kind = getattr(cls, "kind", None)
        if not isinstance(kind, str) or not kind.strip() or kind == base.kind:
            raise ValueError(f"{self.role} class {cls.__name__} must define a kind")
        return kind

    def add_entry_points(self, entry_points: Iterable[Any]) -> None:
        """Queue plugins to load on demand."""
        self._pending.extend(entry_points)

    def register(self, cls: type, *, replace: bool = False) -> None:
        """Register one class (``ValueError`` when the kind exists)."""
        kind = self.check_class(cls)
        if not replace and (kind in self._classes or kind in self._lazy):
            raise ValueError(
                f"{self.role} kind {kind!r} is already registered; pass "
                "replace=True to override"
            )
        self._classes[kind] = cls
        self._lazy.pop(kind, None)

    def get(self, kind: str) -> type:
        """The class of ``kind`` (ConfigValidationError naming close kinds)."""
        if kind in self._classes:
            return self._classes[kind]
        if kind in self._lazy:
            cls = self._lazy.pop(kind)()
            self._classes[kind] = cls
            return cls
        self._load_plugins()
        if kind in self._classes:
            return self._classes[kind]
        known = self.kinds()
        message = f"unknown {self.role} kind {kind!r}{did_you_mean(kind, known)}"
        message += f"; known: {', '.join(known) or 'none'}"
        if self.errors:
            message += f" ({len(self.errors)} plugin(s) failed to load: " + "; ".join(self.errors) + ")"
        raise ConfigValidationError(message)

    def kinds(self) -> tuple[str, ...]:
        """Every kind, sorted (loads pending plugins)."""
        self._load_plugins()
        return tuple(sorted({*self._classes, *self._lazy}))

    def _load_plugins(self) -> None:
        while self._pending:
            entry_point = self._pending.pop(0)
            label = f"{self.role} plugin {getattr(entry_point, 'name', '?')!r}"
            try:
                loaded = entry_point.load()
                if callable(loaded) and not isinstance(loaded, type):
                    loaded = loaded()
                classes = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
                for cls in classes:
                    kind = self.check_class(cls)
                    if self._classes.get(kind) is cls:
                        continue
                    if kind in self._classes or kind in self._lazy:
                        raise ValueError(f"kind {kind!r} is already registered")
                    self._classes[kind] = cls
            except Exception as exc:
                message = f"{label} failed to load: {type(exc).__name__}: {exc}"
                self.errors.append(message)
                warnings.warn(message, RuntimeWarning, stacklevel=3)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pending"] = []  # entry points are found again where needed
        return state
