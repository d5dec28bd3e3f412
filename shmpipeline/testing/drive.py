"""The lockstep loop both executors share, and the helpers it needs.

For ``k`` in ``range(frames)``: compute frame ``k`` of every per-frame source
(closed-loop fakes read the command stream after frame ``k - 1``), write
the ones that delivered a frame, let the executor carry the frame through
the graph, then copy the captured streams into row ``k``. The real pipeline
(:mod:`~shmpipeline.testing.replay`) and the inline reference
(:mod:`~shmpipeline.testing.inline`) differ only in how they write, step,
read and capture: the :class:`LockstepExecutor` protocol.

When no source reads the pipeline back (no closed loop) and the executor's
graph runs elsewhere (``overlaps``: the worker processes), frame ``k + 1``
of the sources is computed while frame ``k`` goes through the graph, in the
same order as always, so the values are the same; the round trip is then
taken from the outputs' publish time (:meth:`LockstepExecutor.published_ns`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from shmpipeline.testing.results import FailureInfo

__all__ = [
    "LockstepExecutor",
    "LockstepRun",
    "host_array",
    "run_lockstep",
]


class LockstepExecutor(Protocol):
    """What :func:`run_lockstep` drives."""

    #: whether the graph runs outside this process (so the loop may compute
    #: the next open-loop source frames while :meth:`step` waits)
    overlaps: bool

    def published_ns(self) -> int:
        """``CLOCK_MONOTONIC`` ns by which the last :meth:`step`'s outputs
        were all published (0: unknown); asked only when ``overlaps``."""

    def write(self, stream: str, frame: Any, k: int) -> None:
        """Write frame ``k`` of a per-frame source."""

    def read(self, stream: str) -> np.ndarray:
        """A host copy of a stream's current value (closed-loop sources)."""

    def step(self, written: frozenset[str], k: int) -> FailureInfo | None:
        """Carry frame ``k`` of the streams ``written`` through the graph;
        the failure that ended the run, if any."""

    def capture(self, stream: str, row: np.ndarray) -> None:
        """Copy a stream's current value into ``row``."""


@dataclass
class LockstepRun:
    """What :func:`run_lockstep` observed."""

    completed: int = 0
    dropped: list[int] = field(default_factory=list)
    round_trips_ns: list[int] = field(default_factory=list)
    failure: FailureInfo | None = None


def run_lockstep(
    executor: LockstepExecutor,
    plan: Any,
    frames: int,
    captures: Mapping[str, np.ndarray],
) -> LockstepRun:
    """The one lockstep loop (see the module docstring). ``plan`` is the
    scenario's :class:`~shmpipeline.testing.sources.SourcePlan`; ``captures``
    maps each captured stream to its ``(frames, *shape)`` array."""
    run = LockstepRun()
    clock = time.monotonic_ns
    # without a closed loop the sources never read the pipeline: frame k + 1
    # can be computed while frame k is in flight
    ahead = executor.overlaps and not plan.command_streams
    upcoming = plan.frames(0, executor.read) if ahead and frames else None
    for k in range(frames):
        frames_k = upcoming if ahead else plan.frames(k, executor.read)
        written = [name for name in plan.per_frame if frames_k[name] is not None]
        if len(written) < len(plan.per_frame):
            run.dropped.append(k)
        began = clock()
        for name in written:
            executor.write(name, frames_k[name], k)
        if ahead and k + 1 < frames:
            upcoming = plan.frames(k + 1, executor.read)
        failure = executor.step(frozenset(written), k)
        if failure is not None:
            run.failure = failure
            break
        if written:
            done = clock()
            if ahead:  # the publish time, not when this loop got to look
                done = min(done, max(executor.published_ns(), began))
            run.round_trips_ns.append(done - began)
        for name, array in captures.items():
            executor.capture(name, array[k])
        run.completed = k + 1
    return run


def host_array(value: Any) -> np.ndarray:
    """A host ndarray view/copy of a frame (tensor or array)."""
    if isinstance(value, np.ndarray):
        return value
    detach = getattr(value, "detach", None)
    if detach is not None:
        return detach().cpu().numpy()
    return np.asarray(value)
