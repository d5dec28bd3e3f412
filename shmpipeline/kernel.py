"""Kernel abstractions used by worker processes.

A kernel is one compute stage: it reads a trigger frame (plus the latest frames
of its auxiliary streams) and writes one output frame in place. Kernels are
classes so that configuration is validated once, before any process starts
(:meth:`Kernel.validate_config`), and so that per-frame work
(:meth:`Kernel.compute_into`) can reuse everything prepared in ``__init__``.

A kernel with several trigger inputs (``inputs:``) receives them as a tuple
of frames in ``inputs`` order; a kernel with several outputs (``outputs:``,
``output_arity``) implements :meth:`Kernel.compute_into_multiple`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernels._parameters import Parameter
from shmpipeline.kernels._validation import (
    check_arity,
    check_known_parameters,
    check_storage,
    check_streams_defined,
    error,
    spec_map,
)


def _cwd() -> Path:
    return Path.cwd().resolve()


@dataclass(frozen=True)
class KernelContext:
    """Static information available to a kernel instance.

    The runtime constructs one context per worker so kernels can inspect their
    validated configuration and the shared-memory specifications for the
    streams they read and write. ``shared_memory`` maps stream name to spec (a
    sequence of specs is accepted and turned into that mapping);
    ``config_base_dir`` is the directory relative paths in parameters are
    resolved against (the YAML file's directory, else the working directory).
    """

    config: KernelConfig
    shared_memory: Mapping[str, SharedMemoryConfig]
    config_base_dir: Path = field(default_factory=_cwd)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "shared_memory", spec_map(self.shared_memory)
        )
        object.__setattr__(self, "config_base_dir", Path(self.config_base_dir))

    @property
    def input_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Return trigger plus auxiliary stream specifications in config order."""
        return tuple(self.shared_memory[name] for name in self.config.all_inputs)

    @property
    def trigger_input_spec(self) -> SharedMemoryConfig:
        """Return the primary input stream specification."""
        return self.shared_memory[self.config.input]

    @property
    def trigger_input_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Return every trigger stream specification in ``inputs`` order."""
        return tuple(self.shared_memory[name] for name in self.config.trigger_inputs)

    @property
    def auxiliary_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Return auxiliary stream specifications in config order."""
        return tuple(self.shared_memory[name] for name in self.config.auxiliary_names)

    @property
    def auxiliary_specs_by_alias(self) -> dict[str, SharedMemoryConfig]:
        """Return auxiliary stream specifications keyed by alias."""
        return {b.alias: self.shared_memory[b.name] for b in self.config.auxiliary}

    @property
    def output_spec(self) -> SharedMemoryConfig:
        """Return the primary output stream specification."""
        return self.shared_memory[self.config.output]

    @property
    def output_specs(self) -> tuple[SharedMemoryConfig, ...]:
        """Return every output stream specification in ``outputs`` order."""
        return tuple(self.shared_memory[name] for name in self.config.all_outputs)


class Kernel(ABC):
    """Base class for compute kernels executed by the runtime.

    Custom kernels normally override :meth:`validate_config` when they need
    stage-specific parameter checks (calling ``super()`` first) and implement
    :meth:`compute_into` to write results into the provided output buffer
    (multi-output kernels implement :meth:`compute_into_multiple` instead).

    Class attributes:

    - ``kind``: the registry key, e.g. ``"cpu.scale"``.
    - ``storage``: ``"cpu"`` or ``"gpu"``; every bound stream must use it.
    - ``input_arity``: number of trigger inputs (``inputs:``): exact count,
      ``(min, max)`` or ``None`` for any number (default 1).
    - ``auxiliary_arity``: exact count, ``(min, max)`` (``max`` may be
      ``None``), or ``None`` for any number of auxiliary streams.
    - ``output_arity``: number of outputs (``outputs:``), same forms (default 1).
    - ``parameter_specs``: the declared parameters
      (:class:`~shmpipeline.kernels._parameters.Parameter`); when set,
      ``parameter_names`` is derived from it.
    - ``parameter_names``: when not ``None``, ``parameters`` keys outside this
      set are rejected (built-in kernels set it; ``None`` skips the check).
    - ``accepts_operation``: when false, a top-level ``operation`` is rejected.
    """

    kind: ClassVar[str] = "kernel.base"
    storage: ClassVar[str] = "cpu"
    input_arity: ClassVar[int | tuple[int, int | None] | None] = 1
    auxiliary_arity: ClassVar[int | tuple[int, int | None] | None] = 0
    output_arity: ClassVar[int | tuple[int, int | None] | None] = 1
    parameter_specs: ClassVar[tuple[Parameter, ...] | None] = None
    parameter_names: ClassVar[frozenset[str] | None] = None
    accepts_operation: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs = cls.__dict__.get("parameter_specs")
        if specs is not None and "parameter_names" not in cls.__dict__:
            cls.parameter_names = frozenset(spec.name for spec in specs)
        if "compute_into_multiple" in cls.__dict__ and getattr(
            cls.compute_into, "__isabstractmethod__", False
        ):
            # a multi-output kernel need not implement compute_into
            cls.compute_into = _no_single_output_compute

    def __init__(self, context: KernelContext) -> None:
        """Store validated kernel context and normalized parameters."""
        self.context = context
        self.config = context.config
        self.parameters: dict[str, Any] = dict(context.config.parameters or {})

    @classmethod
    def validate_config(
        cls,
        config: KernelConfig,
        shared_memory: Mapping[str, SharedMemoryConfig],
    ) -> None:
        """Validate arity and storage constraints before build.

        Raises :class:`~shmpipeline.errors.ConfigValidationError` whose message
        names the kernel and the field at fault.
        """
        specs = spec_map(shared_memory)
        check_streams_defined(config, specs)
        check_arity(cls, config)
        check_storage(cls, config, specs)
        if cls.parameter_names is not None:
            check_known_parameters(config, cls.parameter_names)
        if not cls.accepts_operation and config.operation is not None:
            raise error(
                config,
                "operation",
                f"kind {cls.kind!r} takes no 'operation' "
                "(only custom_operation kinds do)",
            )
        cls._validate_kind(config, specs)

    @classmethod
    def _validate_kind(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """The kind's own rules, after the generic checks above (none here;
        the built-in catalogs parse their settings in it)."""
        return None

    @abstractmethod
    def compute_into(
        self,
        trigger_input: Any,
        output: Any,
        auxiliary_inputs: Mapping[str, Any],
    ) -> None:
        """Compute into the provided reusable output buffer.

        ``trigger_input`` is the trigger frame, or a tuple of frames in
        ``inputs`` order for a kernel with several trigger inputs;
        ``auxiliary_inputs`` maps alias to the latest frame of that stream.
        Implementations must write every element of ``output`` and should not
        allocate per frame. A kernel that implements
        :meth:`compute_into_multiple` need not implement this method.
        """

    def compute_into_multiple(
        self,
        trigger_input: Any,
        outputs: Sequence[Any],
        auxiliary_inputs: Mapping[str, Any],
    ) -> None:
        """Compute into every output buffer (``outputs`` in ``outputs`` order).

        The runtime always calls this method; the default forwards the
        primary output to :meth:`compute_into`, so single-output kernels
        implement only that.
        """
        self.compute_into(trigger_input, outputs[0], auxiliary_inputs)

    def reset(self) -> None:
        """Forget internal state (integrators, history); default: nothing."""
        return None


def _no_single_output_compute(
    self: Kernel, trigger_input: Any, output: Any, auxiliary_inputs: Any
) -> None:
    """``compute_into`` of a kernel that implements only the multi-output call."""
    raise NotImplementedError(
        f"kernel kind {type(self).kind!r} computes through compute_into_multiple"
    )


__all__ = ["Kernel", "KernelContext"]
