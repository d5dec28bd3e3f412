"""Pipeline state model: the states of a manager and its legal transitions."""

from __future__ import annotations

from enum import Enum

from shmpipeline.errors import StateTransitionError


class PipelineState(str, Enum):  # noqa: UP042  (seed API: str + Enum)
    """States managed by :class:`shmpipeline.manager.PipelineManager`."""

    INITIALIZED = "initialized"
    BUILT = "built"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


S = PipelineState

#: operation -> (states it is allowed from, state it leads to).
#: ``shutdown`` is allowed from every state and leads to STOPPED;
#: ``fail`` is what a worker failure does to a running/paused pipeline.
TRANSITIONS: dict[str, tuple[frozenset[PipelineState], PipelineState]] = {
    "build": (frozenset({S.INITIALIZED}), S.BUILT),
    "start": (frozenset({S.BUILT}), S.RUNNING),
    "pause": (frozenset({S.RUNNING}), S.PAUSED),
    "resume": (frozenset({S.PAUSED}), S.RUNNING),
    "stop": (frozenset({S.RUNNING, S.PAUSED, S.FAILED}), S.BUILT),
    "fail": (frozenset({S.RUNNING, S.PAUSED}), S.FAILED),
    "shutdown": (frozenset(S), S.STOPPED),
}


def check_transition(state: PipelineState, operation: str) -> PipelineState:
    """Return the state ``operation`` leads to from ``state``, or raise a
    :class:`StateTransitionError` naming both."""
    allowed, target = TRANSITIONS[operation]
    if state not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise StateTransitionError(
            f"cannot {operation} a pipeline in state {state.value!r} "
            f"(allowed from: {names})"
        )
    return target


__all__ = ["PipelineState", "TRANSITIONS", "check_transition"]
