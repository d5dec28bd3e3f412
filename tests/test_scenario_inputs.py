"""Scenario input kinds (shmpipeline.testing.inputs): each kind builds its
own frame source, so the source plan and both executors take a new kind
without being edited."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.inline import run_inline
from shmpipeline.testing.inputs import INPUT_KINDS, InputSpec
from shmpipeline.testing.scenario import Scenario
from shmpipeline.testing.sources import FrameSource, SourcePlan

STREAMS = {"x": [3], "matrix": [2, 3], "offset": [2], "y": [2]}
AFFINE = {  # y = matrix @ x + offset, x triggering
    "name": "affine",
    "kind": "cpu.affine_transform",
    "input": "x",
    "output": "y",
    "auxiliary": {"matrix": "matrix", "offset": "offset"},
}
PIPELINE = {
    "shared_memory": [
        {"name": name, "shape": shape, "dtype": "float32"}
        for name, shape in STREAMS.items()
    ],
    "kernels": [AFFINE],
}


class _Countdown(FrameSource):
    """Frame ``k`` is ``start - k`` everywhere; frames after ``start`` dropped."""

    def __init__(self, start: int, shape: tuple[int, ...], dtype: Any) -> None:
        self.start, self.shape, self.dtype = start, shape, dtype

    def frame(self, k: int, command: np.ndarray | None) -> np.ndarray | None:
        if k > self.start:
            return None
        return np.full(self.shape, self.start - k, dtype=self.dtype)


@dataclass(frozen=True)
class CountdownInput(InputSpec):
    """An input kind the package does not know, defined only here."""

    start: int = 3

    def describe(self) -> dict[str, Any]:
        return {"countdown": self.start}

    def frame_source(self, stream: Any) -> FrameSource:
        return _Countdown(self.start, tuple(stream.shape), stream.dtype)


def _scenario(**inputs: Any) -> Scenario:
    return Scenario.from_dict(
        {
            "name": "kinds",
            "pipeline": PIPELINE,
            "frames": 4,
            "inputs": {
                "x": {"synthetic": "ramp"},
                "matrix": {"constant": 1.0},
                "offset": {"constant": 0.5},
                **inputs,
            },
        }
    )


def test_a_new_kind_reaches_the_plan_and_the_executor_through_its_own_source():
    parsed = _scenario()
    static = tuple(spec for spec in parsed.inputs if not spec.per_frame)
    scenario = replace(parsed, inputs=(CountdownInput("x", start=2), *static))
    plan = SourcePlan(scenario)
    assert plan.per_frame == ("x",) and sorted(plan.static) == ["matrix", "offset"]
    assert plan.command_streams == () and plan.delay(0) == 0.0
    assert [plan.frames(k)["x"] is None for k in range(4)] == [
        False,
        False,
        False,
        True,
    ]
    assert plan.frames(1)["x"].tolist() == [1.0] * 3
    result = run_inline(scenario)
    assert result.failure is None
    # y = ones(2, 3) @ (2 - k) + 0.5; frame 3 dropped: nothing ran, y kept
    assert result.dropped_frames == (3,)
    assert result.captures["y"][:, 0].tolist() == [6.5, 3.5, 0.5, 0.5]


def test_static_and_per_frame_kinds_split_by_per_frame():
    scenario = _scenario()
    plan = SourcePlan(scenario)
    assert plan.per_frame == ("x",)
    assert list(plan.static) == ["matrix", "offset"]
    static = plan.static["offset"]
    assert static.dtype == np.float32 and static.tolist() == [0.5, 0.5]
    assert static is scenario.inputs_by_stream["offset"].value  # written as parsed


def test_every_registered_kind_is_named_when_an_entry_has_none():
    with pytest.raises(ScenarioError) as info:
        _scenario(offset={"nothing": 1})
    assert list(INPUT_KINDS) == ["synthetic", "fake", "constant", "file", "calibrate"]
    assert "inputs.offset: needs exactly one of " + ", ".join(INPUT_KINDS) in str(
        info.value
    )
