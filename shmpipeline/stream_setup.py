"""Creating a pipeline's streams at build(): lifecycle modes and initial values.

``mode`` of each stream:

=================  ========================================================
create_or_attach   create; if a live segment of that name exists, attach to
                   it when its layout matches, else replace it
create             create; a live segment of that name is an error
attach             attach to an existing segment (never create or replace)
replace            remove any existing segment and create a fresh one
=================  ========================================================

Streams this manager attached to (rather than created) are *external*: on
shutdown they are closed but not unlinked unless asked. ``initial`` values
are written into every stream that has one, every build, before any worker or
endpoint starts. Segment names use :attr:`SharedMemoryConfig.resource_name`
(the pipeline namespace), under the stream layer's namespace.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from shmpipeline.config import SharedMemoryConfig
from shmpipeline.errors import StreamExistsError, StreamLayoutError, StreamNotFoundError

__all__ = [
    "BuiltStream",
    "initial_array",
    "open_for_build",
    "resource_spec",
    "write_initial",
]

log = logging.getLogger("shmpipeline.streams")


def resource_spec(spec: SharedMemoryConfig) -> SharedMemoryConfig:
    """``spec`` named by its segment name (as workers and endpoints open it)."""
    if spec.namespace is None:
        return spec
    return replace(spec, name=spec.resource_name, namespace=None)


class BuiltStream:
    """A handle made at build() and whether this manager created it."""

    def __init__(self, handle: Any, owned: bool) -> None:
        self.handle = handle
        self.owned = owned


def open_for_build(spec: SharedMemoryConfig, namespace: str | None) -> BuiltStream:
    """Create or attach the stream of ``spec`` as its ``mode`` says."""
    from shmpipeline.stream import create_stream, open_stream

    target = resource_spec(spec)
    mode = spec.mode
    if mode == "attach":
        return BuiltStream(open_stream(target, namespace=namespace), owned=False)
    if mode == "replace":
        _remove_existing(target, namespace)
        return BuiltStream(create_stream(target, namespace=namespace), owned=True)
    try:
        return BuiltStream(create_stream(target, namespace=namespace), owned=True)
    except StreamExistsError:
        if mode == "create":
            raise
    try:
        return BuiltStream(open_stream(target, namespace=namespace), owned=False)
    except StreamLayoutError:
        log.info("stream %r exists with another layout: replacing it", spec.name)
        _remove_existing(target, namespace)
        return BuiltStream(create_stream(target, namespace=namespace), owned=True)


def _remove_existing(target: SharedMemoryConfig, namespace: str | None) -> None:
    from shmpipeline.stream import SharedStream

    try:
        existing = SharedStream.open(target.name, namespace=namespace)
    except StreamNotFoundError:
        return
    except StreamLayoutError:
        existing = None
    if existing is not None:
        existing.unlink()
        existing.close()


def initial_array(spec: SharedMemoryConfig) -> np.ndarray:
    """The frame ``spec.initial`` describes (deterministic for a seed)."""
    initial = spec.initial
    assert initial is not None
    pattern = initial["pattern"]
    dtype = np.dtype(spec.dtype)
    if pattern == "constant":
        return np.full(spec.shape, initial["value"], dtype=dtype)
    if pattern == "normal":
        out = np.random.default_rng(int(initial.get("seed", 0))).standard_normal(
            size=spec.shape, dtype=dtype
        )
        std = float(initial.get("std", 1.0))
        mean = float(initial.get("mean", 0.0))
        if std != 1.0:
            np.multiply(out, std, out=out)
        if mean != 0.0:
            np.add(out, mean, out=out)
        return out
    if pattern == "values":
        return np.asarray(initial["values"], dtype=dtype).reshape(spec.shape)
    if pattern == "identity":
        out = np.zeros(spec.shape, dtype=dtype)
        np.fill_diagonal(out, float(initial.get("scale", 1.0)))
        return out
    raise ValueError(f"unknown initial pattern {pattern!r}")  # pragma: no cover


def write_initial(spec: SharedMemoryConfig, handle: Any) -> None:
    """Publish ``spec.initial`` on ``handle`` (a no-op without one)."""
    if spec.initial is None:
        return
    frame = initial_array(spec)
    if spec.storage == "gpu":
        import torch

        handle.write(torch.as_tensor(frame))
    else:
        handle.write(frame)
