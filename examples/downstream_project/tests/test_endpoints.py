"""acme.ramp and acme.text_log, found by entry point and run for real."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from shmpipeline.config import PipelineConfig, SharedMemoryConfig, SinkConfig
from shmpipeline.errors import ConfigValidationError
from shmpipeline.registry import get_default_registry

HERE = Path(__file__).resolve().parents[1]


def test_entry_points_register_the_endpoints():
    registry = get_default_registry()
    assert "acme.ramp" in registry.source_kinds()
    assert "acme.text_log" in registry.sink_kinds()


def test_bad_sink_parameters_name_the_sink_and_field():
    specs = {"s": SharedMemoryConfig.from_dict({"name": "s", "shape": [2], "dtype": "float32"})}
    config = SinkConfig.from_dict({"name": "log", "kind": "acme.text_log", "stream": "s",
                                   "parameters": {"path": ""}})
    with pytest.raises(ConfigValidationError, match=r"sink 'log': parameters.path: must be"):
        get_default_registry().validate_sink(config, specs)


def test_ramp_through_the_kernel_into_the_log(pipeline_manager, tmp_path):
    shutil.copy(HERE / "pipelines" / "ramp_to_log.yaml", tmp_path / "ramp_to_log.yaml")
    config = PipelineConfig.from_yaml(tmp_path / "ramp_to_log.yaml")
    log = tmp_path / "ramp.log"  # resolved beside the copied pipeline file
    manager = pipeline_manager(config)
    deadline = time.monotonic() + 60.0
    lines: list[str] = []
    while time.monotonic() < deadline:
        manager.raise_if_failed()
        lines = log.read_text().splitlines() if log.exists() else []
        done = manager.source_status()["ramp"]["frames_written"] >= 12
        if done and lines and float(lines[-1].split()[2]) == 1.0:
            break  # the last ramp frames (clipped to 1.0) reached the log
        time.sleep(0.05)
    values = np.array([[float(v) for v in line.split()[2:]] for line in lines])
    assert values.shape[1] == 4 and len(values) >= 1
    # every logged frame is clip(2 * (0.25 n), -1, 1) for some n, in order
    allowed = np.clip(2 * 0.25 * np.arange(12), -1, 1)
    assert np.all(np.isin(values[:, 0], allowed.astype(np.float32)))
    assert np.all(values == values[:, :1]) and np.all(np.diff(values[:, 0]) >= 0)
    assert values[-1, 0] == 1.0
