"""Stream names: namespaces and POSIX shm segment names.

Segment name: ``shmp.<namespace>.<name>`` (``shmp.<name>`` without one).
Namespaces (letters, digits, ``_``, ``-``) keep parallel test runs apart; the
default namespace is ``$SHMPIPELINE_NAMESPACE``, read at call time so a test
runner sets it once and every spawned worker inherits it.
"""

from __future__ import annotations

import os
import re
from typing import Any

from ..errors import StreamLayoutError
from . import _header as H

__all__ = [
    "NAMESPACE_ENV",
    "PREFIX",
    "current_namespace",
    "resolve_namespace",
    "check_name",
    "make_segment_name",
    "segment_name",
]

NAMESPACE_ENV = "SHMPIPELINE_NAMESPACE"
PREFIX = "shmp"

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_\-]+\Z")
_MAX_SEGMENT_NAME = 255  # NAME_MAX of /dev/shm


def current_namespace() -> str | None:
    """The namespace from ``$SHMPIPELINE_NAMESPACE`` now (None if unset/empty)."""
    value = os.environ.get(NAMESPACE_ENV)
    return value or None


def resolve_namespace(namespace: str | None) -> str | None:
    """Validate ``namespace`` (None: the environment's; "" or unset: none)."""
    if namespace is None:
        namespace = current_namespace()
    if namespace is None or namespace == "":
        return None
    return _check_text(
        namespace,
        "stream namespace",
        _NAMESPACE_RE,
        "use letters, digits, '_' and '-' only",
        H.NAMESPACE_LEN,
    )


def check_name(name: Any) -> str:
    """Validate a stream name; return it."""
    return _check_text(
        name,
        "stream name",
        _NAME_RE,
        "use letters, digits, '_', '-' and '.', not starting with '.' or '-'",
        H.NAME_LEN,
    )


def _check_text(value: Any, what: str, pattern: re.Pattern, rule: str, limit: int) -> str:
    """``value`` when it is a string matching ``pattern`` (``rule`` says the
    pattern in words) of at most ``limit`` UTF-8 bytes (the header field)."""
    if not isinstance(value, str) or not pattern.match(value):
        raise StreamLayoutError(f"invalid {what} {value!r}: {rule}")
    if len(value.encode()) > limit:
        raise StreamLayoutError(f"invalid {what} {value!r}: longer than {limit} bytes")
    return value


def make_segment_name(name: str, namespace: str | None) -> str:
    """Segment name of an already validated name and resolved namespace."""
    seg = f"{PREFIX}.{name}" if namespace is None else f"{PREFIX}.{namespace}.{name}"
    if len(seg) > _MAX_SEGMENT_NAME:
        raise StreamLayoutError(
            f"stream name {name!r} with namespace {namespace!r} is too long "
            f"for a shared-memory segment name ({len(seg)} > {_MAX_SEGMENT_NAME})"
        )
    return seg


def segment_name(name: str, namespace: str | None = None) -> str:
    """The POSIX shm segment name of stream ``name``: ``shmp.<namespace>.<name>``
    (``shmp.<name>`` without a namespace). ``namespace=None`` reads
    ``$SHMPIPELINE_NAMESPACE`` now."""
    return make_segment_name(check_name(name), resolve_namespace(namespace))
