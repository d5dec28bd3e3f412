"""Releasing streams by handle or by name, quietly (the published helpers)."""

from __future__ import annotations

from typing import Any

from shmpipeline.stream import unlink

__all__ = ["close_stream", "unlink_stream_name"]


def close_stream(stream: Any, *, unlink: bool) -> None:
    """Close ``stream``; with ``unlink`` first remove its segment (closing
    happens even when removing raised)."""
    if not unlink:
        stream.close()
        return
    try:
        stream.unlink()
    finally:
        stream.close()


def unlink_stream_name(stream_name: str, *, namespace: str | None = None) -> None:
    """Remove the segment of ``stream_name`` if there is one."""
    unlink(stream_name, namespace=namespace)
