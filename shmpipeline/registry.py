"""Kernel registry used by the manager and worker runtime.

A registry maps a kernel ``kind`` (``"cpu.scale"``) to its class. Entries are
either classes or *lazy* loaders (zero-argument callables returning the class)
so that resolving one kind imports only that kernel's module: GPU kinds import
torch only when one is actually used, and a worker process imports just the
kernel it runs.

The default registry (:func:`get_default_registry`) holds every built-in CPU
kind, a lazy ``gpu.*`` twin of each, and third-party kernels advertised by
installed distributions under the entry-point group ``shmpipeline.kernels``.
An entry point loads a :class:`~shmpipeline.kernel.Kernel` subclass, a list of
them, or a callable returning either; plugins are imported only when a kind
is not found among the built-ins, or when :meth:`KernelRegistry.kinds` is
called. A plugin that fails to import is reported (a ``RuntimeWarning`` and
:attr:`KernelRegistry.plugin_errors`), never crashes the registry.

The built-in kind table, the loaders and the entry-point discovery live in
:mod:`shmpipeline.kernel_loading` (``BUILTIN_KERNELS``,
``builtin_lazy_kernels`` and ``discover_entry_points`` are re-exported here);
this module holds the lookup, the suggestions for unknown kinds, plugin
loading on demand, registration and validation.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.endpoint_registry import (
    SINK_ENTRY_POINT_GROUP,
    SOURCE_ENTRY_POINT_GROUP,
    EndpointKinds,
    builtin_sinks,
    builtin_sources,
)
from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernel import Kernel, KernelContext
from shmpipeline.kernel_loading import (
    BUILTIN_KERNELS,
    ENTRY_POINT_GROUP,
    builtin_lazy_kernels,
    check_kernel_class,
    discover_entry_points,
    entry_point_label,
)
from shmpipeline.kernels._validation import spec_map


def _closest_kinds(kind: str, known: Iterable[str], n: int = 4) -> list[str]:
    """Known kinds most similar to ``kind``, best first; a bare name
    (``scale``) ranks its exact ``<storage>.scale`` kinds first."""
    scored = []
    for candidate in known:
        ratio = difflib.SequenceMatcher(None, kind, candidate).ratio()
        if "." not in kind and candidate.split(".", 1)[-1] == kind:
            ratio = 2.0
        if ratio >= 0.5:
            scored.append((-ratio, candidate))
    return [candidate for _, candidate in sorted(scored)[:n]]


# --- registry ------------------------------------------------------------------


class KernelRegistry:
    """Resolve kernel kinds to implementation classes.

    Registries are the extension point for third-party kernels. The default
    registry contains the built-in CPU kernels and lazily loads GPU kernels
    when the optional torch dependency is available.
    """

    def __init__(
        self,
        kernels: Mapping[str, type[Kernel]],
        lazy_kernels: Mapping[str, Callable[[], type[Kernel]]] | None = None,
        *,
        sources: Mapping[str, type] | None = None,
        lazy_sources: Mapping[str, Callable[[], type]] | None = None,
        sinks: Mapping[str, type] | None = None,
        lazy_sinks: Mapping[str, Callable[[], type]] | None = None,
    ) -> None:
        """Store a static mapping of registered kernel implementations (and
        of source and sink plugins)."""
        self._sources = EndpointKinds(
            "source", _source_base, dict(sources or {}), dict(lazy_sources or {})
        )
        self._sinks = EndpointKinds(
            "sink", _sink_base, dict(sinks or {}), dict(lazy_sinks or {})
        )
        self._kernels: dict[str, type[Kernel]] = {}
        for kind, kernel_cls in dict(kernels).items():
            check_kernel_class(kernel_cls)
            self._kernels[str(kind)] = kernel_cls
        self._lazy: dict[str, Callable[[], type[Kernel]]] = dict(lazy_kernels or {})
        # loaders of the lazy kinds loaded since, so a pickled registry (sent
        # to every worker) ships loaders, not classes: a cpu worker must not
        # import torch because its parent validated a gpu kind
        self._loaded_lazy: dict[str, Callable[[], type[Kernel]]] = {}
        self._pending_plugins: list[Any] = []
        self._plugin_errors: list[str] = []

    # lookup -------------------------------------------------------------------

    def get(self, kind: str) -> type[Kernel]:
        """Return the implementation class for a kernel kind.

        Raises :class:`ConfigValidationError` for an unknown kind (naming the
        closest known kinds) or a kind whose module cannot be loaded (a GPU
        kind without torch says how to install it).
        """
        if not isinstance(kind, str):
            raise ConfigValidationError(f"kernel kind must be a string, got {kind!r}")
        kernel_cls = self._kernels.get(kind)
        if kernel_cls is not None:
            return kernel_cls
        if kind in self._lazy:
            return self._load_lazy(kind)
        if self._pending_plugins:
            named = [ep for ep in self._pending_plugins if ep.name == kind]
            for entry_point in named:
                self._load_plugin(entry_point)
            if kind not in self._kernels:
                self._load_all_plugins()
            if kind in self._kernels:
                return self._kernels[kind]
            if kind in self._lazy:
                return self._load_lazy(kind)
        raise ConfigValidationError(self._unknown_message(kind))

    def kinds(self) -> tuple[str, ...]:
        """Return registered kernel kinds in sorted order (imports plugins,
        never the lazily registered built-ins)."""
        self._load_all_plugins()
        return tuple(sorted({*self._kernels, *self._lazy}))

    @property
    def plugin_errors(self) -> tuple[str, ...]:
        """Problems met while loading entry-point plugins, one line each."""
        return tuple(self._plugin_errors)

    def _load_lazy(self, kind: str) -> type[Kernel]:
        loader = self._lazy[kind]
        try:
            kernel_cls = loader()
        except ConfigValidationError:
            raise
        except Exception as exc:
            raise ConfigValidationError(
                f"kernel kind {kind!r} failed to load: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            check_kernel_class(kernel_cls)
        except (TypeError, ValueError) as exc:
            raise ConfigValidationError(
                f"kernel kind {kind!r} is unusable: {exc}"
            ) from None
        self._kernels[kind] = kernel_cls
        self._loaded_lazy[kind] = self._lazy.pop(kind, loader)
        return kernel_cls

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        loaded = state.pop("_loaded_lazy", {})
        state["_kernels"] = {k: v for k, v in self._kernels.items() if k not in loaded}
        state["_lazy"] = {**loaded, **self._lazy}
        state["_loaded_lazy"] = {}
        return state

    def _unknown_message(self, kind: str) -> str:
        known = sorted({*self._kernels, *self._lazy})
        close = _closest_kinds(kind, known)
        message = f"unknown kernel kind {kind!r}"
        if close:
            message += f"; closest known kinds: {', '.join(close)}"
        else:
            message += (
                f"; {len(known)} kinds are known (list them with 'shmpipeline kinds')"
            )
        if self._plugin_errors:
            message += (
                f" ({len(self._plugin_errors)} kernel plugin(s) failed to load: "
                + "; ".join(self._plugin_errors)
                + ")"
            )
        return message

    # plugins ------------------------------------------------------------------

    def _add_entry_points(self, entry_points: Iterable[Any]) -> None:
        """Queue entry points to load on demand (see module docstring)."""
        self._pending_plugins.extend(entry_points)

    def _load_all_plugins(self) -> None:
        while self._pending_plugins:
            self._load_plugin(self._pending_plugins[0])

    def _load_plugin(self, entry_point: Any) -> None:
        if entry_point in self._pending_plugins:
            self._pending_plugins.remove(entry_point)
        label = entry_point_label(entry_point)
        try:
            loaded = entry_point.load()
            if callable(loaded) and not isinstance(loaded, type):
                loaded = loaded()
        except Exception as exc:
            self._plugin_error(f"{label} failed to load: {type(exc).__name__}: {exc}")
            return
        classes = list(loaded) if isinstance(loaded, (list, tuple)) else [loaded]
        for kernel_cls in classes:
            try:
                kind = check_kernel_class(kernel_cls)
            except (TypeError, ValueError) as exc:
                self._plugin_error(f"{label}: {exc}")
                continue
            if self._kernels.get(kind) is kernel_cls:
                continue
            if kind in self._kernels or kind in self._lazy:
                self._plugin_error(
                    f"{label}: kind {kind!r} is already registered; the plugin's "
                    f"{kernel_cls.__name__} is ignored"
                )
                continue
            self._kernels[kind] = kernel_cls

    def _plugin_error(self, message: str) -> None:
        self._plugin_errors.append(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    # registration ---------------------------------------------------------------

    def register(self, kernel_cls: type[Kernel], *, replace: bool = False) -> None:
        """Register one kernel implementation class on this registry.

        Raises ``ValueError`` when the kind exists and ``replace`` is false,
        ``TypeError`` when ``kernel_cls`` is not a concrete Kernel subclass.
        """
        kind = check_kernel_class(kernel_cls)
        if not replace and (kind in self._kernels or kind in self._lazy):
            raise ValueError(
                f"kernel kind {kind!r} is already registered; pass replace=True to override"
            )
        self._kernels[kind] = kernel_cls
        self._lazy.pop(kind, None)
        self._loaded_lazy.pop(kind, None)

    def extended(
        self,
        *kernel_classes: type[Kernel],
        replace: bool = False,
        sources: Iterable[type] = (),
        sinks: Iterable[type] = (),
    ) -> KernelRegistry:
        """Return a new registry extended with additional kernel (and source,
        sink) classes (this registry is left unchanged)."""
        registry = KernelRegistry(self._kernels, self._lazy)
        registry._loaded_lazy = dict(self._loaded_lazy)
        registry._pending_plugins = list(self._pending_plugins)
        registry._plugin_errors = list(self._plugin_errors)
        registry._sources = self._sources.copy()
        registry._sinks = self._sinks.copy()
        for kernel_cls in kernel_classes:
            registry.register(kernel_cls, replace=replace)
        for source_cls in sources:
            registry.register_source(source_cls, replace=replace)
        for sink_cls in sinks:
            registry.register_sink(sink_cls, replace=replace)
        return registry

    def extended_sources(self, *classes: type, replace: bool = False) -> KernelRegistry:
        """A new registry with these source classes added."""
        return self.extended(sources=classes, replace=replace)

    def extended_sinks(self, *classes: type, replace: bool = False) -> KernelRegistry:
        """A new registry with these sink classes added."""
        return self.extended(sinks=classes, replace=replace)

    # sources and sinks -----------------------------------------------------------

    def source_kinds(self) -> tuple[str, ...]:
        """Registered source kinds, sorted."""
        return self._sources.kinds()

    def sink_kinds(self) -> tuple[str, ...]:
        """Registered sink kinds, sorted."""
        return self._sinks.kinds()

    def get_source(self, kind: str) -> type:
        """The class of a source kind (ConfigValidationError when unknown)."""
        return self._sources.get(kind)

    def get_sink(self, kind: str) -> type:
        """The class of a sink kind (ConfigValidationError when unknown)."""
        return self._sinks.get(kind)

    def register_source(self, source_cls: type, *, replace: bool = False) -> None:
        """Register a :class:`~shmpipeline.source.Source` subclass."""
        self._sources.register(source_cls, replace=replace)

    def register_sink(self, sink_cls: type, *, replace: bool = False) -> None:
        """Register a :class:`~shmpipeline.sink.Sink` subclass."""
        self._sinks.register(sink_cls, replace=replace)

    def validate_source(
        self, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Validate one source against the stream definitions."""
        _validated_endpoint(self._sources, config, spec_map(shared_memory))

    def validate_sink(
        self, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Validate one sink against the stream definitions."""
        _validated_endpoint(self._sinks, config, spec_map(shared_memory))

    def create_source(
        self,
        config: Any,
        shared_memory: Mapping[str, SharedMemoryConfig],
        streams: Mapping[str, Any] | None = None,
        *,
        config_base_dir: Any = None,
    ) -> Any:
        """Validate and instantiate a source (``streams``: handles by name,
        for its auxiliaries)."""
        from shmpipeline.source import SourceContext

        return self._create_endpoint(
            self._sources, SourceContext, config, shared_memory, streams,
            config_base_dir,
        )

    def create_sink(
        self,
        config: Any,
        shared_memory: Mapping[str, SharedMemoryConfig],
        streams: Mapping[str, Any] | None = None,
        *,
        config_base_dir: Any = None,
    ) -> Any:
        """Validate and instantiate a sink (``streams``: handles by name, for
        its auxiliaries)."""
        from shmpipeline.sink import SinkContext

        return self._create_endpoint(
            self._sinks, SinkContext, config, shared_memory, streams,
            config_base_dir,
        )

    @staticmethod
    def _create_endpoint(
        table: EndpointKinds, context_cls: Any, config: Any,
        shared_memory: Mapping[str, SharedMemoryConfig],
        streams: Mapping[str, Any] | None, config_base_dir: Any,
    ) -> Any:
        specs = spec_map(shared_memory)
        cls = _validated_endpoint(table, config, specs)
        auxiliary = (
            {b.alias: streams[b.name] for b in config.auxiliary} if streams else {}
        )
        return cls(
            context_cls(
                config=config, shared_memory=specs,
                config_base_dir=_base_dir(config_base_dir), auxiliary_streams=auxiliary,
            )
        )

    # validation and creation -------------------------------------------------

    def validate(
        self,
        config: KernelConfig,
        shared_memory: Mapping[str, SharedMemoryConfig],
    ) -> None:
        """Validate one kernel binding against shared-memory definitions.

        Every problem, including an exception escaping a third-party
        ``validate_config``, is a :class:`ConfigValidationError` naming the
        kernel.
        """
        self._validated_class(config, shared_memory)

    def create(
        self,
        config: KernelConfig,
        shared_memory: Mapping[str, SharedMemoryConfig],
        *,
        config_base_dir: str | PathLike[str] | None = None,
    ) -> Kernel:
        """Instantiate a kernel after validation; its context's
        ``config_base_dir`` is ``config_base_dir`` (resolved; default: the
        working directory), where relative paths in its parameters start."""
        return self.create_from_context(
            KernelContext(config, shared_memory, config_base_dir=_base_dir(config_base_dir))
        )

    def create_from_context(self, context: KernelContext) -> Kernel:
        """Validate ``context.config`` and instantiate its kernel with this
        exact context (lets the caller set ``config_base_dir``)."""
        kernel_cls = self._validated_class(context.config, context.shared_memory)
        return kernel_cls(context)

    def _validated_class(
        self, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> type[Kernel]:
        name = getattr(config, "name", "?")
        shared_memory = spec_map(shared_memory)
        try:
            kernel_cls = self.get(config.kind)
        except ConfigValidationError as exc:
            raise ConfigValidationError(
                f"kernel {name!r}: kind: {exc.message}"
            ) from None
        try:
            kernel_cls.validate_config(config, shared_memory)
        except ConfigValidationError as exc:
            if f"kernel {name!r}" in exc.message:
                raise
            raise ConfigValidationError(f"kernel {name!r}: {exc.message}") from exc
        except Exception as exc:
            raise ConfigValidationError(
                f"kernel {name!r}: kind {config.kind!r}: validate_config raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        return kernel_cls


def _source_base() -> type:
    from shmpipeline.source import Source

    return Source


def _sink_base() -> type:
    from shmpipeline.sink import Sink

    return Sink


def _validated_endpoint(
    table: EndpointKinds, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]
) -> type:
    """The class of ``config.kind`` after its ``validate_config`` passed;
    every problem a ConfigValidationError naming the endpoint."""
    label = f"{table.role} {getattr(config, 'name', '?')!r}"
    try:
        cls = table.get(config.kind)
    except ConfigValidationError as exc:
        raise ConfigValidationError(f"{label}: kind: {exc.message}") from None
    try:
        cls.validate_config(config, shared_memory)
    except ConfigValidationError as exc:
        if label in exc.message:
            raise
        raise ConfigValidationError(f"{label}: {exc.message}") from exc
    except Exception as exc:
        raise ConfigValidationError(
            f"{label}: kind {config.kind!r}: validate_config raised "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    return cls


def _build_default_registry() -> KernelRegistry:
    registry = KernelRegistry(
        {}, builtin_lazy_kernels(), lazy_sources=builtin_sources(),
        lazy_sinks=builtin_sinks(),
    )
    registry._add_entry_points(discover_entry_points())
    registry._sources.add_entry_points(discover_entry_points(SOURCE_ENTRY_POINT_GROUP))
    registry._sinks.add_entry_points(discover_entry_points(SINK_ENTRY_POINT_GROUP))
    return registry


_DEFAULT_REGISTRY: KernelRegistry | None = None


def get_default_registry() -> KernelRegistry:
    """Return the built-in kernel registry (one shared instance per process,
    built on first call)."""
    global _DEFAULT_REGISTRY
    if _DEFAULT_REGISTRY is None:
        _DEFAULT_REGISTRY = _build_default_registry()
    return _DEFAULT_REGISTRY


__all__ = [
    "BUILTIN_KERNELS",
    "ENTRY_POINT_GROUP",
    "SINK_ENTRY_POINT_GROUP",
    "SOURCE_ENTRY_POINT_GROUP",
    "KernelRegistry",
    "builtin_lazy_kernels",
    "discover_entry_points",
    "get_default_registry",
]


def _base_dir(config_base_dir: str | PathLike[str] | None) -> Path:
    """Where a created node's relative paths start: ``config_base_dir``
    (resolved), else the working directory."""
    return (Path.cwd() if config_base_dir is None else Path(config_base_dir)).resolve()
