"""Release streams at teardown without noise, under the published names.

``close_stream(stream, unlink=...)`` and ``unlink_stream_name(name)`` are
what the published shmpipeline's scripts call; here they work on our
stream handles and segment names (:mod:`shmpipeline.stream`). A stream that
is already gone is not an error; a name that cannot be removed (another
user's segment, a directory planted under it) is logged, not raised, so one
bad name never aborts a teardown.
"""

from __future__ import annotations

import logging
from typing import Any

from shmpipeline import stream as streams

__all__ = ["close_stream", "unlink_stream_name"]

_log = logging.getLogger("shmpipeline.shm_cleanup")


def close_stream(stream: Any, *, unlink: bool) -> None:
    """Close ``stream``'s handle and, with ``unlink=True``, remove its segment,
    even when closing raises (the close error still propagates)."""
    if not unlink:
        stream.close()
        return
    try:
        stream.close()
    finally:
        try:
            stream.unlink()
        except OSError as exc:
            _log.warning("could not unlink stream %r: %s", stream.name, exc)


def unlink_stream_name(stream_name: str, *, namespace: str | None = None) -> bool:
    """Remove the segment of stream ``stream_name`` (in ``namespace``, default
    ``$SHMPIPELINE_NAMESPACE``); True if one was removed, False if there was
    none or it could not be removed (logged)."""
    try:
        return streams.unlink(stream_name, namespace=namespace)
    except OSError as exc:
        _log.warning("could not unlink stream %r: %s", stream_name, exc)
        return False
