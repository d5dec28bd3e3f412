"""Source frames of a scenario, computed the same way for every executor.

:class:`SourcePlan` turns a scenario's ``inputs`` into frames: static frames
written once before start, and frame ``k`` of every per-frame input. Each
input kind builds its own :class:`FrameSource`
(:meth:`~shmpipeline.testing.inputs.InputSpec.frame_source`), so the plan
knows no kind by name. The lockstep replay and the inline reference executor
both draw their inputs from here, which is what makes their captures
comparable bit for bit.

Closed loops: an input whose frame source has a ``command`` stream (a fake
with ``command: STREAM``) computes frame ``k`` from that stream's value after
frame ``k - 1``; the executor passes a ``read(stream)`` callable giving the
current value. A source may also drop a frame (``None``): nothing is written
for that source at step ``k``, and nothing downstream of it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np

from shmpipeline.errors import ScenarioError
from shmpipeline.graph import triggered_kernels

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.config import PipelineConfig
    from shmpipeline.testing.scenario import Scenario

__all__ = ["FRAME_ID_OFFSET", "FrameSource", "SourcePlan", "frame_id", "write_order"]

#: Frame ``k`` (0-based) is published with frame id ``k + FRAME_ID_OFFSET``,
#: so frame id 0 keeps meaning "nothing written yet" (as in
#: :mod:`shmpipeline.synthetic`).
FRAME_ID_OFFSET = 1


def frame_id(k: int) -> int:
    """The frame id frame ``k`` is published with."""
    return k + FRAME_ID_OFFSET


Reader = Callable[[str], np.ndarray]


class FrameSource(Protocol):
    """What an executor draws one input's frames from.

    ``command`` names the stream whose value after frame ``k - 1`` frame
    ``k`` is computed from (a closed loop), or is ``None``; ``frame`` returns
    frame ``k`` in the stream's dtype, or ``None`` for a dropped frame;
    ``delay`` is the latency (seconds) the device adds before frame ``k``.
    The input kinds (:mod:`~shmpipeline.testing.inputs`) build one each and
    subclass this to inherit the defaults: no command, no delay.
    """

    command: str | None = None

    def frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None: ...

    def delay(self, k: int) -> float:
        """Seconds the device adds before frame ``k`` (none by default)."""
        return 0.0


def write_order(
    config: PipelineConfig, sources: list[str] | tuple[str, ...]
) -> tuple[str, ...]:
    """Order in which the per-frame ``sources`` are written at each step.

    A source read as an auxiliary by a kernel that another source triggers
    (directly or downstream) is written before that other source, so the
    kernel reads its frame ``k`` (external sources have no producer a
    lockstep worker could wait on). Ties go by name. When two sources each
    feed, as an auxiliary, a kernel the other one triggers, no order works:
    :class:`~shmpipeline.errors.ScenarioError` names them.
    """
    kernels = config.kernels_by_name
    before: dict[str, dict[str, str]] = {name: {} for name in sources}
    for source in sources:
        for kernel in triggered_kernels(config, [source]):
            for aux in kernels[kernel].auxiliary_names:
                if aux in before and aux != source:
                    before[source].setdefault(aux, kernel)
    order: list[str] = []
    remaining = sorted(sources)
    while remaining:
        ready = [name for name in remaining if set(before[name]) <= set(order)]
        if not ready:
            raise ScenarioError(_conflict(before, remaining))
        order.append(ready[0])
        remaining.remove(ready[0])
    return tuple(order)


def _conflict(before: dict[str, dict[str, str]], remaining: list[str]) -> str:
    """Name one cycle of sources that must each be written before the next.

    Every source left in ``remaining`` waits for another one still there, so
    following "must be written after" from any of them closes a cycle; a
    two-source cycle and a longer one are described the same way.
    """
    pending = set(remaining)
    path = [remaining[0]]
    while True:
        current = path[-1]
        after = min(name for name in before[current] if name in pending)
        if after in path:
            cycle = path[path.index(after) :]
            break
        path.append(after)
    links = [
        (source, cycle[(i + 1) % len(cycle)], before[source][cycle[(i + 1) % len(cycle)]])
        for i, source in enumerate(cycle)
    ]
    if len(cycle) == 2:
        (first, second, reader), (_, _, back) = links
        return (
            f"inputs: sources {first!r} and {second!r} cannot both be "
            f"replayed deterministically: kernel {reader!r} (triggered "
            f"by {first!r}) reads {second!r} as an auxiliary and kernel "
            f"{back!r} (triggered by {second!r}) reads {first!r}; make "
            "one of them a static input (constant or file)"
        )
    names = ", ".join(repr(name) for name in cycle[:-1]) + f" and {cycle[-1]!r}"
    reads = "; ".join(
        f"kernel {reader!r} (triggered by {source!r}) reads {aux!r}"
        for source, aux, reader in links
    )
    return (
        f"inputs: sources {names} cannot all be replayed deterministically, "
        f"each waits for the next as an auxiliary: {reads}; make one of them "
        "a static input (constant or file)"
    )


class SourcePlan:
    """Every input of one scenario, ready to produce frame ``k``.

    ``static`` maps stream -> frame written once before start;
    ``per_frame`` lists the streams written every step, in an order where
    every source a kernel reads as an auxiliary is written before the source
    triggering that kernel (so it sees their frame ``k``).
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        config = scenario.pipeline
        specs = config.shared_memory_by_name
        self.static: dict[str, np.ndarray] = {}
        self._sources: dict[str, FrameSource] = {}
        for spec in scenario.inputs:
            source = spec.frame_source(specs[spec.stream])
            if spec.per_frame:
                self._sources[spec.stream] = source
            else:
                self.static[spec.stream] = source.frame(0, None)
        self.per_frame: tuple[str, ...] = write_order(config, list(self._sources))

    @property
    def command_streams(self) -> tuple[str, ...]:
        """Streams read back as commands (closed loops)."""
        commands = {source.command for source in self._sources.values()}
        return tuple(sorted(commands - {None}))

    def frames(
        self, k: int, read: Reader | None = None
    ) -> dict[str, np.ndarray | None]:
        """Frame ``k`` of every per-frame source (``None``: dropped).

        ``read(stream)`` must return a stream's current value (after frame
        ``k - 1``); it is called only for the command streams of closed
        loops.
        """
        out: dict[str, np.ndarray | None] = {}
        for name in self.per_frame:
            source = self._sources[name]
            command = None
            if source.command is not None:
                if read is None:
                    raise ValueError(
                        f"input {name!r} closes a loop through {source.command!r}: "
                        "a read callable is required"
                    )
                command = read(source.command)
            out[name] = source.frame(k, command)
        return out

    def delay(self, k: int) -> float:
        """Largest device latency (seconds) the sources add to frame ``k``."""
        return max((source.delay(k) for source in self._sources.values()), default=0.0)
