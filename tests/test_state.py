"""The state table: every (state, operation) pair is either the documented
transition or a StateTransitionError naming the state."""

import pytest

from shmpipeline.errors import StateTransitionError
from shmpipeline.placement import NoPlacement, RoundRobinPlacement
from shmpipeline.state import PipelineState as S
from shmpipeline.state import check_transition

EXPECTED = {
    ("build", S.INITIALIZED): S.BUILT,
    ("start", S.BUILT): S.RUNNING,
    ("pause", S.RUNNING): S.PAUSED,
    ("resume", S.PAUSED): S.RUNNING,
    ("stop", S.RUNNING): S.BUILT,
    ("stop", S.PAUSED): S.BUILT,
    ("stop", S.FAILED): S.BUILT,
    ("fail", S.RUNNING): S.FAILED,
    ("fail", S.PAUSED): S.FAILED,
    **{("shutdown", s): S.STOPPED for s in S},
}


@pytest.mark.parametrize("operation", ["build", "start", "pause", "resume", "stop", "fail", "shutdown"])
@pytest.mark.parametrize("state", list(S))
def test_transition_table(operation, state):
    expected = EXPECTED.get((operation, state))
    if expected is None:
        with pytest.raises(StateTransitionError, match=f"'{state.value}'"):
            check_transition(state, operation)
    else:
        assert check_transition(state, operation) is expected


def test_state_is_a_json_friendly_string():
    assert S.RUNNING == "running" and str(S.PAUSED) == "paused"


def test_round_robin_placement_cycles_over_cpus():
    assert RoundRobinPlacement(cpus=(2, 5))(["a", "b", "c"]) == [2, 5, 2]
    assert NoPlacement()(["a", "b"]) == [None, None]
    slots = RoundRobinPlacement()(list(range(4)))
    assert len(slots) == 4
