"""Auxiliary bindings: how a kernel, source or sink names the streams it
reads besides its trigger.

:class:`AuxiliaryBinding` binds one alias (a name in ``custom_operation``
expressions, a key of ``auxiliary_inputs``) to a stream; every node config
offers the views of :class:`AuxiliaryAccess` over its ``auxiliary`` tuple.
Both are re-exported by :mod:`shmpipeline.config`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AuxiliaryAccess", "AuxiliaryBinding"]


@dataclass(frozen=True)
class AuxiliaryBinding:
    """Bind one kernel-local auxiliary alias to a shared-memory stream."""

    alias: str
    name: str


class AuxiliaryAccess:
    """The auxiliary-binding views every node config (kernel, source, sink)
    offers over its ``auxiliary`` tuple."""

    auxiliary: tuple[AuxiliaryBinding, ...]

    @property
    def auxiliary_names(self) -> tuple[str, ...]:
        """Return auxiliary shared-memory names in config order."""
        return tuple(b.name for b in self.auxiliary)

    @property
    def auxiliary_aliases(self) -> tuple[str, ...]:
        """Return auxiliary aliases in config order."""
        return tuple(b.alias for b in self.auxiliary)

    @property
    def auxiliary_by_alias(self) -> dict[str, str]:
        """Return auxiliary bindings keyed by expression alias."""
        return {b.alias: b.name for b in self.auxiliary}

    def auxiliary_to_raw(self) -> list[str] | dict[str, str]:
        """The YAML form: a list of names when every alias equals its stream
        name, else an ``{alias: stream}`` mapping."""
        if all(b.alias == b.name for b in self.auxiliary):
            return [b.name for b in self.auxiliary]
        return {b.alias: b.name for b in self.auxiliary}
