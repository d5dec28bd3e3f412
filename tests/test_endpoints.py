"""Sources and sinks: plugin classes, registry, built-ins, manager threads."""

from __future__ import annotations

import time

import numpy as np
import pytest

from shmpipeline.config import PipelineConfig, SinkConfig, SourceConfig
from shmpipeline.endpoint import Publication
from shmpipeline.errors import ConfigValidationError, WorkerProcessError
from shmpipeline.graph import validate_pipeline_config
from shmpipeline.manager import PipelineManager
from shmpipeline.registry import KernelRegistry, get_default_registry
from shmpipeline.sink import Sink, SinkContext
from shmpipeline.source import Source, SourceContext
from shmpipeline.state import PipelineState


def wait_until(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


class Counter(Source):
    """Writes 1, 2, 3, ... (a float32 vector of that value)."""

    kind = "test.counter"

    def open(self):
        self.n = 0

    def read(self):
        if self.n >= 50:
            self.wait(0.01)
            return None
        self.n += 1
        return np.full(self.context.stream_spec.shape, self.n, np.float32)


class Recorder(Sink):
    """Keeps every payload; writes payload * 10 to its output with the token."""

    kind = "test.recorder"
    seen: list = []

    def consume_publication(self, publication, writers):
        Recorder.seen.append((publication.frame_id, float(publication.payload[0])))
        for writer in writers.values():
            writer.write(publication.payload * 10, frame_id=publication.frame_id)

    def consume(self, value):  # pragma: no cover - consume_publication overrides
        raise AssertionError


class Broken(Sink):
    kind = "test.broken"

    def consume(self, value):
        raise ValueError("device unplugged")


def registry():
    return get_default_registry().extended(sources=[Counter], sinks=[Recorder, Broken])


def doc(sink_kind="test.recorder"):
    return {
        "shared_memory": [
            {"name": "raw", "shape": [3], "dtype": "float32"},
            {"name": "scaled", "shape": [3], "dtype": "float32"},
            {"name": "state", "shape": [3], "dtype": "float32"},
        ],
        "sources": [{"name": "counter", "kind": "test.counter", "stream": "raw",
                     "poll_interval": 0.001}],
        "kernels": [{"name": "double", "kind": "cpu.scale", "input": "raw",
                     "output": "scaled", "parameters": {"factor": 2.0}}],
        "sinks": [{"name": "rec", "kind": sink_kind, "stream": "scaled",
                   "outputs": ["state"]}],
    }


def test_registry_tables_of_the_default_registry():
    default = get_default_registry()
    assert default.source_kinds() == (
        "fake.phase_screen", "fake.shack_hartmann", "synthetic.array", "synthetic.frame_set"
    )
    assert default.sink_kinds() == ("fake.deformable_mirror", "null.sink")
    with pytest.raises(ConfigValidationError, match="unknown source kind 'synthetic.aray' \\(did you mean 'synthetic.array'"):
        default.get_source("synthetic.aray")
    extended = registry()
    assert "test.counter" in extended.source_kinds()
    assert "test.counter" not in default.source_kinds()
    with pytest.raises(ValueError, match="already registered"):
        extended.register_source(Counter)
    with pytest.raises(TypeError):
        extended.register_sink(Counter)
    assert KernelRegistry({}).source_kinds() == ()


def test_create_source_gives_a_context_with_base_dir(tmp_path):
    config = SourceConfig(name="c", kind="test.counter", stream="raw")
    specs = PipelineConfig.from_dict(doc()).shared_memory_by_name
    source = registry().create_source(config, specs, config_base_dir=tmp_path)
    assert isinstance(source.context, SourceContext)
    assert source.context.config_base_dir == tmp_path.resolve()
    assert source.context.stream_spec.name == "raw"
    sink = registry().create_sink(
        SinkConfig(name="s", kind="null.sink", stream="raw"), specs
    )
    assert isinstance(sink.context, SinkContext)


def test_unknown_endpoint_kind_is_a_validation_error():
    data = doc()
    data["sinks"][0]["kind"] = "nope.sink"
    errors = validate_pipeline_config(data, registry=registry())
    assert errors == [
        "sinks[0] 'rec': kind: unknown sink kind 'nope.sink' (did you mean "
        "'null.sink'?); known: "
        "fake.deformable_mirror, null.sink, test.broken, test.recorder"
    ]
    config = PipelineConfig.from_dict(data)
    assert validate_pipeline_config(config, registry=registry()) == errors


def test_builtin_parameters_are_checked():
    data = {
        "shared_memory": [{"name": "a", "shape": [2], "dtype": "float32"}],
        "sources": [{"name": "gen", "kind": "synthetic.array", "stream": "a",
                     "parameters": {"pattern": "ramp", "rate_hz": -1}}],
        "sinks": [{"name": "drain", "kind": "null.sink", "stream": "a",
                   "parameters": {"device_delay": 1}}],
    }
    assert validate_pipeline_config(data) == [
        "sources[0] 'gen': parameters.rate_hz: must be a positive "
        "number or null, got -1",
        "sinks[0] 'drain': parameters.device_delay: unknown parameter "
        "(known: device_delay_s, sample_window)",
    ]


def test_source_kernel_stateful_sink_end_to_end():
    Recorder.seen = []
    manager = PipelineManager(doc(), registry=registry())
    try:
        manager.build()
        manager.start()
        assert wait_until(lambda: len(Recorder.seen) >= 1
                          and manager.sink_status()["rec"]["frames_consumed"] >= 1)
        assert wait_until(lambda: manager.source_status()["counter"]["frames_written"] == 50)
        assert wait_until(lambda: manager.get_stream("scaled").read()[0] == 100.0)
        assert wait_until(lambda: manager.get_stream("state").read()[0] == 1000.0)
        status = manager.status()
        assert status["sources"]["counter"]["frames_written"] == 50
        assert status["sources"]["counter"]["alive"] is True
        consumed = status["sinks"]["rec"]["frames_consumed"]
        assert 1 <= consumed <= 50
        # every consumed value is 2 * (a source value); tokens follow the source
        values = [v for _, v in Recorder.seen]
        assert all(v % 2 == 0 and 2 <= v <= 100 for v in values)
        assert values == sorted(values)
        assert manager.get_stream("state").frame_id == manager.get_stream("scaled").frame_id
        assert status["sources"]["counter"]["throughput_hz"] >= 0.0
    finally:
        manager.shutdown(force=True)
    assert manager.state is PipelineState.STOPPED


def test_a_sink_failure_is_reported_like_a_worker_failure():
    data = doc("test.broken")
    del data["sinks"][0]["outputs"]
    manager = PipelineManager(data, registry=registry())
    try:
        manager.build()
        manager.start()
        assert wait_until(lambda: manager.poll_events() is not None and manager.failures)
        (failure,) = manager.failures
        assert failure["kernel"] == "rec" and failure["component_type"] == "sink"
        assert failure["error_type"] == "ValueError"
        assert "device unplugged" in failure["traceback"]
        assert manager.state is PipelineState.FAILED
        with pytest.raises(WorkerProcessError, match="sink 'rec' failed: ValueError: device unplugged"):
            manager.raise_if_failed()
    finally:
        manager.shutdown(force=True)


def test_frame_set_stamps_one_token_per_generation():
    data = {
        "shared_memory": [{"name": n, "shape": [2], "dtype": "float32"}
                          for n in ("c0", "c1")],
        "sources": [{"name": "cams", "kind": "synthetic.frame_set",
                     "streams": ["c0", "c1"], "poll_interval": 0.001,
                     "parameters": {"pattern": "ramp", "rate_hz": 200}}],
    }
    manager = PipelineManager(data)
    try:
        manager.build()
        manager.start()
        assert wait_until(lambda: manager.source_status()["cams"]["frames_written"] >= 5)
        manager.pause()
        time.sleep(0.05)
        c0, c1 = manager.get_stream("c0"), manager.get_stream("c1")
        assert c0.frame_id == c1.frame_id == c0.count == c1.count
        metrics = manager.source_status()["cams"]["plugin_metrics"]
        assert metrics["per_stream_writes"]["c0"] == metrics["generations"]
    finally:
        manager.shutdown(force=True)


def test_publication_and_consume_default():
    class Keep(Sink):
        kind = "test.keep"

        def consume(self, value):
            self.value = value

    sink = Keep(None)
    sink.consume_publication(Publication(np.ones(2), 3, 7, 0.0), {})
    assert sink.value.tolist() == [1.0, 1.0]


def test_benchmark_of_a_source_driven_pipeline():
    data = {
        "shared_memory": [{"name": "a", "shape": [4], "dtype": "float32"},
                          {"name": "b", "shape": [4], "dtype": "float32"}],
        "sources": [{"name": "gen", "kind": "synthetic.array", "stream": "a",
                     "poll_interval": 0.001, "parameters": {"rate_hz": 500}}],
        "kernels": [{"name": "k", "kind": "cpu.copy", "input": "a", "output": "b"}],
    }
    with PipelineManager(data) as manager:
        manager.build()
        manager.start()
        report = manager.benchmark(duration_s=0.3, warmup_s=0.05)
        assert report["output_stream"] == "b" and report["frames"] > 0
        assert report["throughput_hz"] > 0
        snapshot = manager.runtime_snapshot()
        assert snapshot["graph"]["kernels"][0]["name"] == "k"
        assert snapshot["sources"]["gen"]["frames_written"] > 0


class _EntryPoint:
    """Stands in for an importlib.metadata entry point."""

    def __init__(self, name, loaded):
        self.name = name
        self._loaded = loaded

    def load(self):
        if isinstance(self._loaded, Exception):
            raise self._loaded
        return self._loaded


def test_entry_point_plugins_load_on_demand_and_broken_ones_are_reported():
    reg = KernelRegistry({})
    reg._sources.add_entry_points([_EntryPoint("test.counter", Counter)])
    reg._sinks.add_entry_points([
        _EntryPoint("test.recorder", Recorder),
        _EntryPoint("test.bad", ImportError("no module named camera_sdk")),
    ])
    assert reg.get_source("test.counter") is Counter
    with pytest.warns(RuntimeWarning, match="camera_sdk"):
        assert reg.sink_kinds() == ("test.recorder",)
    with pytest.raises(ConfigValidationError, match=r"1 plugin\(s\) failed to load"):
        reg.get_sink("test.missing")


class Calibrated(Sink):
    """Reads a gain file named relative to the pipeline file."""

    kind = "test.calibrated"
    gains: list = []

    def open(self):
        path = self.context.config_base_dir / self.context.config.parameters["gain_file"]
        Calibrated.gains.append(float(path.read_text()))

    def consume(self, value):
        pass


def test_plugin_parameters_resolve_beside_the_yaml(tmp_path, monkeypatch):
    folder = tmp_path / "rig"
    folder.mkdir()
    (folder / "gain.txt").write_text("2.5")
    (folder / "pipeline.yaml").write_text(
        "namespace: rig\n"
        "shared_memory:\n"
        "  - {name: cam, shape: [2], dtype: float32,\n"
        "     initial: {pattern: constant, value: 1.0}}\n"
        "sinks:\n"
        "  - {name: dm, kind: test.calibrated, stream: cam,\n"
        "     parameters: {gain_file: gain.txt}}\n"
    )
    monkeypatch.chdir(tmp_path)  # not the pipeline's directory
    Calibrated.gains = []
    reg = get_default_registry().extended(sinks=[Calibrated])
    config = PipelineConfig.from_yaml(folder / "pipeline.yaml")
    assert config.kernels == () and config.base_dir == folder.resolve()
    with PipelineManager(config, registry=reg) as manager:
        manager.build()
        manager.start()
        assert Calibrated.gains == [2.5]
        assert manager.get_stream("cam").read().tolist() == [1.0, 1.0]
    mapping = {"shared_memory": [{"name": "cam", "shape": [2], "dtype": "float32"}],
               "sinks": [{"name": "dm", "kind": "test.calibrated", "stream": "cam",
                          "parameters": {"gain_file": "gain.txt"}}]}
    with PipelineManager(mapping, registry=reg, config_base_path=folder) as manager:
        manager.build()
        manager.start()
    assert Calibrated.gains == [2.5, 2.5]


class Lockstep(Source):
    kind = "test.lockstep"
    required_feedback_aliases = ("response",)

    def read(self):  # pragma: no cover - validation only
        return None


class StateSink(Sink):
    kind = "test.state"

    def consume(self, value):  # pragma: no cover - validation only
        pass


def test_lockstep_sources_need_a_token_forwarding_feedback_path():
    reg = get_default_registry().extended(sources=[Lockstep], sinks=[StateSink])
    data = {
        "shared_memory": [{"name": n, "shape": [2], "dtype": "float32"}
                          for n in ("req", "cmd", "state")],
        "sources": [{"name": "loop", "kind": "test.lockstep", "stream": "req",
                     "auxiliary": {"response": "state"}}],
        "kernels": [{"name": "k", "kind": "cpu.copy", "input": "req", "output": "cmd"}],
        "sinks": [{"name": "dm", "kind": "test.state", "stream": "cmd",
                   "outputs": ["state"]}],
    }
    assert validate_pipeline_config(data, registry=reg) == [
        "sources[0] 'loop': auxiliary.response: kernel 'k' on the feedback path "
        "must set propagate_frame_id: true"
    ]
    data["kernels"][0]["propagate_frame_id"] = True
    assert validate_pipeline_config(data, registry=reg) == []
    del data["sinks"][0]["outputs"]
    assert validate_pipeline_config(data, registry=reg) == [
        "sources[0] 'loop': auxiliary.response: feedback stream 'state' must be "
        "declared as a sink output"
    ]
