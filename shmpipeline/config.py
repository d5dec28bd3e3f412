"""Immutable configuration models for shared-memory pipelines.

A pipeline file (YAML) or mapping has the lists ``shared_memory`` (the named
streams), ``kernels`` (compute stages), ``sources`` and ``sinks`` (plugins run
in manager threads), and an optional ``namespace`` (see
``docs/DOCUMENT_MODEL.md`` for every field). ``from_dict`` and ``from_yaml``
validate a document entry by entry (the parsers live in
:mod:`shmpipeline._config_parse`) and return these frozen dataclasses; the
plain constructors do not validate (they are for code that already holds
valid values, e.g. tests of one kernel). Rules across kernels (one producer
per stream) belong to the graph layer (:mod:`shmpipeline.graph`).

The source and sink models live in :mod:`shmpipeline.endpoint_config`, the
auxiliary bindings every node shares in :mod:`shmpipeline.bindings`; this
module re-exports them, so ``shmpipeline.config`` stays the one place to
import every model from.

Every problem is a :class:`~shmpipeline.errors.ConfigValidationError` whose
message names the entry and the field::

    kernels[2] 'scale_stage': input: undefined shared memory 'fram'
    shared_memory[0] 'frame': shape: dimension 1 must be a positive integer, got 2.7

Loaded from YAML, the error also carries ``path`` and ``line`` (the line of the
offending field, else of its entry). All problems are collected before raising:
``exc.message`` is the first, ``exc.errors`` lists all of them. Nothing but
``ConfigValidationError`` escapes ``from_dict``/``from_yaml``, whatever the
input, and every user value in a message is rendered bounded.

Accepted forms and decisions (compatible with the documents the published
``shmpipeline`` accepts, except where that package accepted nonsense):

- ``shape``: a non-empty list of positive integers (``4.0`` reads as ``4``);
  a bare positive integer ``n`` is accepted as ``[n]``. Other floats,
  strings, booleans and nested lists are rejected.
- ``dtype``: required; a numeric or bool NumPy dtype with an explicit width,
  spelled by name (``float32``, ``uint8``, ``bool``) or type code (``f4``,
  ``<i2``); ``float`` and ``double`` mean ``float64``. Other width-less
  aliases (``int``, ``f``...) are rejected because their width is
  platform-dependent; object, string, datetime, structured and non-native
  byte-order dtypes are rejected. Normalised to ``np.dtype``.
- ``storage``: ``cpu`` (default) or ``gpu``, case-insensitive. ``gpu_device``
  (``cuda`` or ``cuda:<n>``) is required for gpu streams and refused for cpu
  ones; ``cpu_mirror: true`` is only allowed on gpu streams.
- Stream names follow the stream layer's rule (letters, digits, ``_``, ``-``,
  ``.``; not starting with ``.`` or ``-``; at most 128 bytes). Names and kinds
  are stripped of surrounding blanks.
- ``auxiliary``: a list of stream names (alias = stream name) or an
  ``{alias: stream}`` mapping. Explicit aliases must be Python identifiers
  (they are names in ``custom_operation`` expressions), not keywords; no alias
  may be ``input``; aliases and bound streams are unique per kernel.
- timings (``read_timeout``, ``pause_sleep``, ``poll_interval``...): positive
  finite numbers.
- ``parameters``: a mapping with string keys (values are free; kernels check
  them, refusing unknown names). ``operation``: a non-empty string.
- An explicit ``null`` for an optional field means "use the default".
- Unknown keys are rejected at every level ("unsupported fields").
- YAML: duplicate keys are rejected; ``1e-3`` (no dot) loads as a float, not
  as the string YAML 1.1 would make of it; alias bombs are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from shmpipeline._problems import show
from shmpipeline._yaml import load_yaml_file, plain
from shmpipeline.bindings import AuxiliaryAccess, AuxiliaryBinding
from shmpipeline.endpoint_config import SinkConfig, SourceConfig
from shmpipeline.errors import ConfigValidationError

__all__ = [
    "SharedMemoryConfig",
    "AuxiliaryBinding",
    "SynchronizationConfig",
    "KernelConfig",
    "SourceConfig",
    "SinkConfig",
    "PipelineConfig",
]

#: lifecycle policies of a stream at build()
STREAM_MODES = ("create_or_attach", "create", "attach", "replace")
#: initializer patterns and the keys each accepts
INITIAL_PATTERNS = {
    "constant": ("pattern", "value"),
    "normal": ("pattern", "seed", "mean", "std"),
    "values": ("pattern", "values"),
    "identity": ("pattern", "scale"),
}
#: trigger policies of multi-input kernels
TRIGGER_POLICIES = ("any_new", "all_new")
#: synchronization modes and skew policies of multi-input kernels
SYNC_MODES = ("count", "matching_frame_id")
SYNC_ON_SKEW = ("drop_older",)


@dataclass(frozen=True)
class SharedMemoryConfig:
    """Configuration for one named shared-memory resource.

    A shared-memory record defines the storage backend, tensor shape, and
    dtype for one named stream in the pipeline graph. GPU streams also declare
    a CUDA device and optionally a CPU mirror for host-side readers.
    """

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    storage: str = "cpu"
    gpu_device: str | None = None
    cpu_mirror: bool | None = None
    #: accepted for the published documents; our futex wake-ups are always on,
    #: so it changes nothing here
    notify: bool | None = None
    #: what build() does when the segment exists (see STREAM_MODES)
    mode: str = "create_or_attach"
    #: value published at every build(): {"pattern": ..., ...} or None
    initial: dict[str, Any] | None = None
    #: the pipeline's namespace (scopes the segment name, not the stream name)
    namespace: str | None = field(default=None, repr=False)

    @property
    def resource_name(self) -> str:
        """The name the segment is claimed under: ``namespace.name`` (or
        ``name``); wiring, ``get_stream`` and messages keep using ``name``."""
        return self.name if self.namespace is None else f"{self.namespace}.{self.name}"

    def __post_init__(self) -> None:
        # Convenience normalisation for direct construction (never raises):
        # a list shape becomes a tuple, a dtype name an np.dtype.
        if isinstance(self.shape, list):
            object.__setattr__(self, "shape", tuple(self.shape))
        if isinstance(self.dtype, (str, type)):
            try:
                dtype = np.dtype(self.dtype)
            except (TypeError, ValueError):
                raise ConfigValidationError(
                    f"shared memory {self.name!r}: dtype: {show(self.dtype)} is "
                    "not a NumPy dtype"
                ) from None
            object.__setattr__(self, "dtype", dtype)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SharedMemoryConfig:
        """Build a validated shared-memory configuration from a mapping."""
        from shmpipeline._config_parse import parse_alone, parse_stream_entry

        return parse_alone(
            lambda problems: parse_stream_entry(raw, "shared_memory", (), problems)[0], "shared_memory"
        )

    @property
    def size(self) -> int:
        """Number of elements of one frame."""
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        """Bytes of one frame."""
        return self.size * np.dtype(self.dtype).itemsize

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (YAML/JSON friendly) that ``from_dict`` reads back."""
        out: dict[str, Any] = {
            "name": self.name,
            "shape": [int(dim) for dim in self.shape],
            "dtype": np.dtype(self.dtype).name,
            "storage": self.storage,
        }
        if self.gpu_device is not None:
            out["gpu_device"] = self.gpu_device
        if self.cpu_mirror is not None:
            out["cpu_mirror"] = self.cpu_mirror
        if self.notify is not None:
            out["notify"] = self.notify
        if self.mode != "create_or_attach":
            out["mode"] = self.mode
        if self.initial is not None:
            out["initial"] = plain(self.initial)
        return out


#: default sleep between trigger polls of a multi-input kernel (seconds)
DEFAULT_POLL_INTERVAL = 1e-5


@dataclass(frozen=True)
class SynchronizationConfig:
    """How a multi-input kernel pairs up its trigger inputs.

    ``mode='count'`` fires on publication counts alone (the trigger policy
    decides when). ``mode='matching_frame_id'`` also requires every trigger's
    latest frame to carry the same ``frame_id`` token, so a fan-in only
    combines frames of one generation; when branches skew, ``on_skew``
    (``drop_older``) skips the lagging generations, at most
    ``max_skew_generations`` behind the newest, and ``max_wait_s`` (alias
    ``timeout``; ``None``: wait as long as it takes) bounds how long a dead
    branch can stall the kernel.
    """

    mode: str = "count"
    on_skew: str = "drop_older"
    max_skew_generations: int = 16
    max_wait_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that the ``synchronization`` field reads back."""
        out: dict[str, Any] = {
            "mode": self.mode,
            "on_skew": self.on_skew,
            "max_skew_generations": self.max_skew_generations,
        }
        if self.max_wait_s is not None:
            out["max_wait_s"] = self.max_wait_s
        return out


@dataclass(frozen=True)
class KernelConfig(AuxiliaryAccess):
    """Configuration for one compute kernel in the pipeline.

    Each kernel consumes one trigger input stream, may read zero or more
    auxiliary streams (their latest frames, by alias), and writes one output
    stream. ``kind`` resolves through the active
    :class:`shmpipeline.registry.KernelRegistry`.
    """

    name: str
    kind: str
    input: str
    output: str
    auxiliary: tuple[AuxiliaryBinding, ...] = field(default_factory=tuple)
    operation: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    read_timeout: float = 1.0
    pause_sleep: float = 0.01
    poll_interval: float = DEFAULT_POLL_INTERVAL
    outputs: tuple[str, ...] = field(default_factory=tuple)
    inputs: tuple[str, ...] = field(default_factory=tuple)
    trigger_policy: str = "any_new"
    synchronization: SynchronizationConfig | None = None
    propagate_frame_id: bool = False

    def __post_init__(self) -> None:
        # direct construction: lists become tuples; the primary names follow
        # the lists when only those were given meaningfully
        for name in ("inputs", "outputs"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> KernelConfig:
        """Build a validated kernel configuration from a mapping.

        Checks the kernel's own fields and bindings; whether the streams exist
        is a pipeline-level check (:meth:`PipelineConfig.from_dict`).
        """
        from shmpipeline._config_parse import parse_alone, parse_kernel_entry

        return parse_alone(
            lambda problems: parse_kernel_entry(raw, "kernel", (), problems)[0], "kernel"
        )

    @property
    def all_inputs(self) -> tuple[str, ...]:
        """Return the trigger inputs followed by ordered auxiliary streams."""
        return (*self.trigger_inputs, *self.auxiliary_names)

    @property
    def trigger_inputs(self) -> tuple[str, ...]:
        """Every trigger stream in declaration order (``(input,)`` for one)."""
        return self.inputs if self.inputs else (self.input,)

    @property
    def all_outputs(self) -> tuple[str, ...]:
        """Every output stream in declaration order (``(output,)`` for one);
        the primary ``output`` is always the first."""
        return self.outputs if self.outputs else (self.output,)

    @property
    def requires_matching_frame_id(self) -> bool:
        """Whether the kernel only combines trigger frames of one frame_id."""
        return (
            self.synchronization is not None
            and self.synchronization.mode == "matching_frame_id"
        )

    @property
    def tracks_frame_id(self) -> bool:
        """Whether the worker reads (and so may forward) frame_id tokens."""
        return self.propagate_frame_id or self.requires_matching_frame_id

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that ``from_dict`` reads back.

        ``auxiliary`` is written as a list of names when every alias equals
        its stream name, else as an ``{alias: stream}`` mapping.
        """
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if len(self.trigger_inputs) > 1:
            out["inputs"] = list(self.trigger_inputs)
        else:
            out["input"] = self.input
        if len(self.all_outputs) > 1:
            out["outputs"] = list(self.all_outputs)
        else:
            out["output"] = self.output
        if self.auxiliary:
            out["auxiliary"] = self.auxiliary_to_raw()
        if self.operation is not None:
            out["operation"] = self.operation
        if self.parameters:
            out["parameters"] = plain(self.parameters)
        out["read_timeout"] = self.read_timeout
        out["pause_sleep"] = self.pause_sleep
        if self.poll_interval != DEFAULT_POLL_INTERVAL:
            out["poll_interval"] = self.poll_interval
        default_policy = "all_new" if len(self.trigger_inputs) > 1 else "any_new"
        if self.trigger_policy != default_policy:
            out["trigger_policy"] = self.trigger_policy
        if self.synchronization is not None:
            out["synchronization"] = self.synchronization.to_dict()
        if self.propagate_frame_id:
            out["propagate_frame_id"] = True
        return out


@dataclass(frozen=True)
class PipelineConfig:
    """Complete pipeline configuration loaded from YAML or a mapping.

    The object used by the CLI and :class:`shmpipeline.manager.PipelineManager`:
    the named stream definitions and the ordered kernel stages between them.
    ``source_path`` is the YAML file it came from (``None`` for a mapping); it
    is metadata, not compared and not serialised.
    """

    shared_memory: tuple[SharedMemoryConfig, ...]
    kernels: tuple[KernelConfig, ...]
    source_path: Path | None = field(default=None, compare=False, repr=False)
    sources: tuple[SourceConfig, ...] = field(default_factory=tuple)
    sinks: tuple[SinkConfig, ...] = field(default_factory=tuple)
    namespace: str | None = None
    #: directory plugin parameters resolve against (metadata, not serialised)
    base_path: Path | None = field(default=None, compare=False, repr=False)
    # the parts this object held when from_dict validated them; a copy with
    # other parts (dataclasses.replace) is no longer known to be valid
    _validated_parts: tuple[Any, ...] | None = field(
        default=None, init=False, compare=False, repr=False
    )

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, base_path: str | PathLike[str] | None = None
    ) -> PipelineConfig:
        """Create a validated pipeline configuration from a plain mapping.

        ``base_path`` is where plugin parameters resolve (default: the
        current directory now). Raises :class:`ConfigValidationError` listing
        every problem found.
        """
        from shmpipeline._config_parse import parse_pipeline_checked, raise_problems

        parsed = parse_pipeline_checked(raw)
        raise_problems(parsed.problems)
        base = Path.cwd() if base_path is None else Path(base_path).expanduser()
        config = parsed.config(base.resolve())
        assert config is not None
        return config._mark_validated()

    @classmethod
    def from_yaml(cls, path: str | PathLike[str]) -> PipelineConfig:
        """Load and validate a pipeline configuration from a YAML file.

        Errors carry the file path and the line of the offending entry/field.
        """
        from shmpipeline._config_parse import parse_pipeline_checked, raise_problems

        raw, display, file_path = load_yaml_file(path)
        parsed = parse_pipeline_checked(raw)
        raise_problems(parsed.problems, raw, display)
        try:
            resolved = file_path.resolve()
        except (OSError, RuntimeError):
            resolved = file_path.absolute()
        config = parsed.config(resolved.parent)
        assert config is not None
        return replace(config, source_path=resolved)._mark_validated()

    def _mark_validated(self) -> PipelineConfig:
        object.__setattr__(self, "_validated_parts", self._parts())
        return self

    def _parts(self) -> tuple[Any, ...]:
        return (self.shared_memory, self.kernels, self.sources, self.sinks)

    @property
    def validated(self) -> bool:
        """Whether this object came out of ``from_dict``/``from_yaml`` unchanged
        (so its entries need no second check; hand-built configs do)."""
        parts = self._validated_parts
        return parts is not None and all(
            a is b for a, b in zip(parts, self._parts(), strict=True)
        )

    @property
    def shared_memory_by_name(self) -> dict[str, SharedMemoryConfig]:
        """Return shared-memory definitions keyed by name."""
        return {s.name: s for s in self.shared_memory}

    @property
    def kernels_by_name(self) -> dict[str, KernelConfig]:
        """Return kernel configurations keyed by name."""
        return {k.name: k for k in self.kernels}

    @property
    def base_dir(self) -> Path:
        """Directory that relative paths in parameters are resolved against:
        the YAML file's directory, else ``base_path``, else the current
        working directory."""
        if self.source_path is not None:
            return Path(self.source_path).parent
        if self.base_path is not None:
            return Path(self.base_path)
        return Path.cwd().resolve()

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that ``from_dict`` reads back to an equal config."""
        out: dict[str, Any] = {
            "shared_memory": [s.to_dict() for s in self.shared_memory],
            "kernels": [k.to_dict() for k in self.kernels],
        }
        if self.sources:
            out["sources"] = [e.to_dict() for e in self.sources]
        if self.sinks:
            out["sinks"] = [e.to_dict() for e in self.sinks]
        if self.namespace is not None:
            out["namespace"] = self.namespace
        return out

    @property
    def sources_by_name(self) -> dict[str, SourceConfig]:
        """Source configurations keyed by name."""
        return {e.name: e for e in self.sources}

    @property
    def sinks_by_name(self) -> dict[str, SinkConfig]:
        """Sink configurations keyed by name."""
        return {e.name: e for e in self.sinks}


