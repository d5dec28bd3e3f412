"""Source and sink models: the manager-owned plugin entries of a pipeline.

:class:`SourceConfig` writes one stream (or several, one coordinated
generation at a time) from a manager thread; :class:`SinkConfig` consumes one
and may publish ``outputs``. Both are frozen, built validated by
``from_dict`` (the parsers live in :mod:`shmpipeline._config_parse`) and
re-exported by :mod:`shmpipeline.config`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from shmpipeline._yaml import plain
from shmpipeline.bindings import AuxiliaryAccess, AuxiliaryBinding

__all__ = ["EndpointConfig", "SinkConfig", "SourceConfig"]


@dataclass(frozen=True)
class EndpointConfig(AuxiliaryAccess):
    """What the source and sink configs share: the name, kind, stream,
    auxiliary bindings and parameters, and their rendering."""

    name: str
    kind: str
    stream: str
    auxiliary: tuple[AuxiliaryBinding, ...] = field(default_factory=tuple)
    parameters: dict[str, Any] = field(default_factory=dict)

    #: the entry's section, as the parser names it ("source" / "sink")
    section: ClassVar[str] = ""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Self:
        """Build a validated configuration from a mapping."""
        from shmpipeline._config_parse import endpoint_from_dict

        return endpoint_from_dict(raw, cls.section)  # type: ignore[return-value]

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping that ``from_dict`` reads back."""
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        out.update(self._stream_fields())
        if self.auxiliary:
            out["auxiliary"] = self.auxiliary_to_raw()
        if self.parameters:
            out["parameters"] = plain(self.parameters)
        out.update(self._timing_fields())
        return out

    def _stream_fields(self) -> dict[str, Any]:
        return {"stream": self.stream}

    def _timing_fields(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class SourceConfig(EndpointConfig):
    """One manager-owned source plugin: writes ``stream`` (or every stream of
    ``streams``, one coordinated generation at a time) from a manager thread.
    """

    poll_interval: float = 0.01
    read_timeout: float | None = None
    streams: tuple[str, ...] = field(default_factory=tuple)

    section: ClassVar[str] = "source"

    @property
    def output_streams(self) -> tuple[str, ...]:
        """Every stream this source publishes, in declaration order."""
        return self.streams if self.streams else (self.stream,)

    def _stream_fields(self) -> dict[str, Any]:
        if len(self.output_streams) > 1:
            return {"streams": list(self.output_streams)}
        return {"stream": self.stream}

    def _timing_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"poll_interval": self.poll_interval}
        if self.read_timeout is not None:
            out["read_timeout"] = self.read_timeout
        return out


@dataclass(frozen=True)
class SinkConfig(EndpointConfig):
    """One manager-owned sink plugin: consumes ``stream`` in a manager thread;
    a stateful sink may publish ``outputs``."""

    read_timeout: float = 1.0
    pause_sleep: float = 0.01
    consume_timeout: float | None = None
    outputs: tuple[str, ...] = field(default_factory=tuple)

    section: ClassVar[str] = "sink"

    @property
    def output_streams(self) -> tuple[str, ...]:
        """Streams this stateful sink may publish."""
        return self.outputs

    def _stream_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stream": self.stream}
        if self.outputs:
            out["outputs"] = list(self.outputs)
        return out

    def _timing_fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "read_timeout": self.read_timeout,
            "pause_sleep": self.pause_sleep,
        }
        if self.consume_timeout is not None:
            out["consume_timeout"] = self.consume_timeout
        return out
