"""Built-in sink plugins: ``null.sink``."""

from __future__ import annotations

from shmpipeline.sinks.null_sink import NullSink

__all__ = ["NullSink"]
