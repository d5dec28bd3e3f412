"""Source frames of a scenario, computed the same way for every executor.

:class:`SourcePlan` turns a scenario's ``inputs`` into frames: static frames
written once before start, and frame ``k`` of every per-frame input
(synthetic pattern or hardware fake). The lockstep replay and the inline
reference executor both draw their inputs from here, which is what makes
their captures comparable bit for bit.

Closed loops: a fake input with ``command: STREAM`` computes frame ``k``
from that stream's value after frame ``k - 1``; the executor passes a
``read(stream)`` callable giving the current value. A fake may also drop a
frame (its ``frame`` returns ``None``): nothing is written for that source
at step ``k``, and nothing downstream of it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.scenario import (
    FakeInput,
    Scenario,
    StaticInput,
    SyntheticInput,
)

__all__ = ["FRAME_ID_OFFSET", "SourcePlan", "check_fake", "frame_id", "write_order"]

#: Frame ``k`` (0-based) is published with frame id ``k + FRAME_ID_OFFSET``,
#: so frame id 0 keeps meaning "nothing written yet" (as in
#: :mod:`shmpipeline.synthetic`).
FRAME_ID_OFFSET = 1


def frame_id(k: int) -> int:
    """The frame id frame ``k`` is published with."""
    return k + FRAME_ID_OFFSET


Reader = Callable[[str], np.ndarray]


class _FakeSource:
    """A fake behind one uniform call: ``frame(k, command) -> array | None``."""

    def __init__(self, spec: FakeInput) -> None:
        from shmpipeline.testing import fakes

        self.spec = spec
        self.fake = fakes.build_fake(spec.kind, dict(spec.params), seed=spec.seed)

    def frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None:
        fake = self.fake
        if command is not None:
            return fake.frame(k, command=command)
        return fake.frame(k)

    def delay(self, k: int) -> float:
        """Extra latency (seconds) the device adds before delivering frame
        ``k`` (fault injection); 0 when the fake has no jitter."""
        delay = getattr(self.fake, "delay", None)
        if delay is None:
            return 0.0
        value = delay(k)
        return float(value) if value else 0.0


def check_fake(
    spec: FakeInput, stream: Any, streams: Mapping[str, Any]
) -> tuple[str, str] | None:
    """Build the fake of ``spec`` and check it fits ``stream``; return
    ``(field, message)`` for the first problem, else ``None``."""
    try:
        from shmpipeline.testing import fakes
    except ImportError as exc:  # pragma: no cover - fakes ship with the package
        return "fake", f"hardware fakes unavailable: {exc}"
    try:
        source = _FakeSource(spec)
    except Exception as exc:  # noqa: BLE001 - any construction problem is bad input
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return "fake", message
    if spec.command is not None:
        command_spec = streams[spec.command]
        command = np.zeros(command_spec.shape, dtype=command_spec.dtype)
    else:
        command = None
    try:
        frame = source.frame(0, command)
    except Exception as exc:  # noqa: BLE001
        field = "command" if spec.command is not None else "fake"
        return field, f"{type(exc).__name__}: {exc}"
    del fakes
    if frame is None:
        return None
    frame = np.asarray(frame)
    if tuple(frame.shape) != tuple(stream.shape):
        return (
            "fake",
            f"fake {spec.kind!r} makes frames of shape {tuple(frame.shape)}, the "
            f"stream is {tuple(stream.shape)}",
        )
    if not np.can_cast(frame.dtype, stream.dtype, "same_kind"):
        return (
            "fake",
            f"fake {spec.kind!r} makes {frame.dtype} frames, the stream is "
            f"{np.dtype(stream.dtype)}",
        )
    return None


def write_order(config: Any, sources: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Order in which the per-frame ``sources`` are written at each step.

    A source read as an auxiliary by a kernel that another source triggers
    (directly or downstream) is written before that other source, so the
    kernel reads its frame ``k`` (external sources have no producer a
    lockstep worker could wait on). Ties go by name. When two sources each
    feed, as an auxiliary, a kernel the other one triggers, no order works:
    :class:`~shmpipeline.errors.ScenarioError` names them.
    """
    from shmpipeline.testing.drive import triggered_kernels

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
        self._synthetic: dict[str, Any] = {}
        self._fakes: dict[str, _FakeSource] = {}
        per_frame: list[str] = []
        for spec in scenario.inputs:
            if isinstance(spec, StaticInput):
                self.static[spec.stream] = spec.value
                continue
            per_frame.append(spec.stream)
            if isinstance(spec, SyntheticInput):
                from shmpipeline.synthetic import SyntheticPatternGenerator

                stream = specs[spec.stream]
                # Frames are computed on the host (GPU streams get them
                # uploaded), so CPU and GPU runs see identical inputs.
                self._synthetic[spec.stream] = SyntheticPatternGenerator(
                    spec.config, shape=stream.shape, dtype=stream.dtype, storage="cpu"
                )
            elif isinstance(spec, FakeInput):
                self._fakes[spec.stream] = _FakeSource(spec)
            else:  # pragma: no cover - the scenario parser makes only these
                raise TypeError(f"unknown input {spec!r}")
        self.per_frame: tuple[str, ...] = write_order(config, per_frame)
        self._commands = {
            name: source.spec.command
            for name, source in self._fakes.items()
            if source.spec.command is not None
        }
        self._dtypes = {name: np.dtype(specs[name].dtype) for name in self.per_frame}

    @property
    def command_streams(self) -> tuple[str, ...]:
        """Streams read back as fake commands (closed loops)."""
        return tuple(sorted(set(self._commands.values())))

    def frames(
        self, k: int, read: Reader | None = None
    ) -> dict[str, np.ndarray | None]:
        """Frame ``k`` of every per-frame source (``None``: dropped).

        ``read(stream)`` must return a stream's current value (after frame
        ``k - 1``); it is called only for the command streams of closed-loop
        fakes.
        """
        out: dict[str, np.ndarray | None] = {}
        for name in self.per_frame:
            generator = self._synthetic.get(name)
            if generator is not None:
                out[name] = generator.frame(k)
                continue
            command_stream = self._commands.get(name)
            command = None
            if command_stream is not None:
                if read is None:
                    raise ValueError(
                        f"input {name!r} closes a loop through {command_stream!r}: "
                        "a read callable is required"
                    )
                command = read(command_stream)
            frame = self._fakes[name].frame(k, command)
            if frame is not None:
                frame = np.asarray(frame)
                if frame.dtype != self._dtypes[name]:
                    frame = frame.astype(self._dtypes[name])
            out[name] = frame
        return out

    def delay(self, k: int) -> float:
        """Largest device latency (seconds) the fakes add to frame ``k``."""
        return max((source.delay(k) for source in self._fakes.values()), default=0.0)
