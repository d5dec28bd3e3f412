"""shmpipeline.kernel_errors: the built-ins' message format for plugins."""

from __future__ import annotations

import pytest

from shmpipeline.config import (
    KernelConfig,
    SharedMemoryConfig,
    SinkConfig,
    SourceConfig,
)
from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernel_errors import (
    config_error,
    entry_label,
    parameter_error,
    parse_number,
)
from shmpipeline.registry import get_default_registry

KERNEL = KernelConfig("loop", "cpu.scale", "a", "b", parameters={"factor": "x"})
SOURCE = SourceConfig.from_dict({"name": "cam", "kind": "k", "stream": "s"})
SINK = SinkConfig.from_dict({"name": "dm", "kind": "k", "stream": "s"})


def test_labels_follow_the_config_role():
    assert [entry_label(c) for c in (KERNEL, SOURCE, SINK)] == [
        "kernel 'loop'", "source 'cam'", "sink 'dm'"]


def test_errors_are_returned_in_the_one_line_format():
    error = parameter_error(KERNEL, "gain", "must be in (0, 1], got 2")
    assert isinstance(error, ConfigValidationError)
    assert str(error) == "kernel 'loop': parameters.gain: must be in (0, 1], got 2"
    assert str(config_error(SOURCE, "auxiliary.surface", "bad")) == (
        "source 'cam': auxiliary.surface: bad")
    assert str(config_error(SINK, None, "bad")) == "sink 'dm': bad"


def test_parse_helpers_raise_what_the_built_in_kinds_raise():
    with pytest.raises(ConfigValidationError) as ours:
        parse_number(KERNEL, "factor")
    specs = {n: SharedMemoryConfig.from_dict({"name": n, "shape": [2], "dtype": "float32"})
             for n in ("a", "b")}
    with pytest.raises(ConfigValidationError) as builtin:
        get_default_registry().validate(KERNEL, specs)
    assert str(ours.value) == "kernel 'loop': parameters.factor: must be a real number, got 'x'"
    assert str(builtin.value).startswith("kernel 'loop': parameters.factor:")


def test_a_worker_failure_keeps_its_summary_apart_from_the_traceback():
    from shmpipeline import events
    from shmpipeline.errors import KernelExecutionError, WorkerProcessError

    try:
        raise ValueError("calibration lost\n\nsecond paragraph")
    except ValueError as error:
        event = events.failed("boom", "compute", error)
    exc = events.to_exception(event)
    assert isinstance(exc, KernelExecutionError)
    # the message itself may hold blank lines: the summary is not a split
    assert exc.summary == (
        "kernel 'boom' failed while computing a frame: "
        "ValueError: calibration lost\n\nsecond paragraph"
    )
    assert str(exc).startswith(exc.summary + "\n\nworker traceback:\n")
    assert exc.traceback and "Traceback (most recent call last)" in exc.traceback
    assert WorkerProcessError("pool closed").summary == "pool closed"
