"""Shared base of the built-in kernel catalogs (``cpu.*`` and ``gpu.*``).

A catalog kernel puts every check and every parameter parse in one
classmethod, :meth:`CatalogKernel._settings`, which validation
(``validate_config``, through :meth:`CatalogKernel._validate_kind`) and
``__init__`` both call, so a kernel never runs with parameters its
validation did not see. A backend adds its own limits after the settings
(the GPU's dtype limits). Built-in
kernels reject parameters they do not read and a top-level ``operation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernel import Kernel, KernelContext
from shmpipeline.kernels._ops import ArrayOps


class CatalogKernel(Kernel):
    """A built-in kernel: settings parsed once by :meth:`_settings`
    (``self.settings``), auxiliary aliases in config order
    (``self.auxiliary_aliases``)."""

    parameter_names: ClassVar[frozenset[str] | None] = frozenset()
    accepts_operation: ClassVar[bool] = False
    #: the backend's in-place array calls (NumPy's or torch's)
    ops: ClassVar[ArrayOps]

    def __init__(self, context: KernelContext) -> None:
        super().__init__(context)
        self.settings = type(self)._settings(context.config, context.shared_memory)
        self.auxiliary_aliases = tuple(b.alias for b in context.config.auxiliary)

    @classmethod
    def _validate_kind(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """The kind's settings (a backend adds its limits on them)."""
        cls._settings(config, shared_memory)

    @classmethod
    def _settings(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> Any:
        """Validate kernel-specific rules; return the parsed settings."""
        return None

    def only_auxiliary(self, auxiliary_inputs: Mapping[str, Any]) -> Any:
        """The frame of the kernel's one auxiliary stream."""
        return auxiliary_inputs[self.auxiliary_aliases[0]]


__all__ = ["CatalogKernel"]
