"""CLI edges: unknown options and absurd values are refused on one line, the
"already exists" error tells a CLI user what to do, and the published
shmpipeline's options and output words (validate, run --json-status,
benchmark duration mode) work here."""

from __future__ import annotations

import json
import textwrap

import pytest

from shmpipeline.benchmarking import measure_output_rate
from shmpipeline.cli import MAX_FRAMES, main
from shmpipeline.config import PipelineConfig
from shmpipeline.errors import (
    BenchmarkError,
    ConfigValidationError,
    StateTransitionError,
)
from shmpipeline.manager import PipelineManager
from shmpipeline.stream import SharedStream
from shmpipeline.synthetic import parse_synthetic_shorthand

GOOD = """\
shared_memory:
  - {name: frame, shape: [4, 4], dtype: float32}
  - {name: out, shape: [4, 4], dtype: float32}
kernels:
  - {name: scale_stage, kind: cpu.scale, input: frame, output: out,
     parameters: {factor: 2.0}}
"""

TWO_SINKS = """\
shared_memory:
  - {name: frame, shape: [4], dtype: float32}
  - {name: a, shape: [4], dtype: float32}
  - {name: b, shape: [4], dtype: float32}
kernels:
  - {name: ka, kind: cpu.copy, input: frame, output: a}
  - {name: kb, kind: cpu.copy, input: frame, output: b}
"""


@pytest.fixture
def cfg(tmp_path):
    def write(text: str, name: str = "pipeline.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


# --- refused on one line ----------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--bogus"],
        ["--bogus", "kinds"],
        ["-v", "--bogus"],
        ["--log-level", "DEBUG", "--bogus"],
        ["--log-level=DEBUG", "--bogus", "validate", "x.yaml"],
        ["validate", "x.yaml", "--bogus"],
        ["run", "x.yaml", "--bogus=1"],
    ],
)
def test_unknown_option_is_named_on_one_line(capsys, argv):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("shmpipeline") and "--bogus" in lines[0]


def test_known_leading_options_still_work(capsys):
    code, out, _ = cli(capsys, "-vq", "--log-level", "ERROR", "kinds")
    assert code == 0 and "cpu.scale" in out.split()


@pytest.mark.parametrize(
    "spec",
    [
        "frame:random:1,amplitude=1,amplitude=2",
        "frame:random:10,rate_hz=5",
        "frame:sine,period=4, period=8",
    ],
)
def test_duplicate_synthetic_fields_are_refused(capsys, spec):
    code, _, err = cli(capsys, "run", "x.yaml", "--synthetic", spec)
    assert code == 2 and "given twice" in err
    with pytest.raises(ConfigValidationError, match="given twice"):
        parse_synthetic_shorthand(spec)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--frames", "-5"),
        ("--frames", "0"),
        ("--frames", str(MAX_FRAMES + 1)),
        ("--frames", "10**10"),
        ("--warmup", "-1"),
        ("--warmup", str(10**12)),
        ("--warmup", "nan"),
        ("--duration", "0"),
        ("--duration", "inf"),
        ("--poll-interval", "-1"),
    ],
)
def test_absurd_benchmark_values_are_refused(capsys, option, value):
    code, out, err = cli(capsys, "benchmark", "x.yaml", f"{option}={value}")
    assert code == 2 and out == "" and option in err


def test_frame_and_duration_modes_do_not_mix(capsys, cfg):
    path = cfg(GOOD)
    code, _, err = cli(capsys, "benchmark", path, "--frames", "10", "--duration", "1")
    assert code == 2 and "--frames" in err and "--duration" in err
    code, _, err = cli(capsys, "benchmark", path, "--warmup", "0.5")
    assert code == 2 and "--warmup counts frames" in err


def test_already_exists_tells_a_cli_user_what_to_do(capsys, cfg, shm_namespace):
    taken = SharedStream.create("out", (4, 4), "float32")
    # the default mode (create_or_attach) would attach: ask for a new stream
    create = GOOD.replace(
        "{name: out, shape: [4, 4], dtype: float32}",
        "{name: out, shape: [4, 4], dtype: float32, mode: create}",
    )
    try:
        code, out, err = cli(capsys, "run", cfg(create), "--duration", "0.1")
    finally:
        taken.close()
        taken.unlink()
    assert code == 1
    line = err.strip().splitlines()[-1]
    assert "already exists" in line and "'out'" in line
    assert "SHMPIPELINE_NAMESPACE" in line and "shmpipeline cleanup" in line
    assert "exist_ok" not in err


# --- the published surface --------------------------------------------------------------


def test_run_json_status_prints_the_runtime_snapshot(capsys, cfg):
    code, out, _ = cli(
        capsys,
        "run",
        cfg(GOOD),
        "--duration",
        "0.3",
        "--poll-interval",
        "0.05",
        "--synthetic",
        "frame:random:200",
        "--json-status",
    )
    assert code == 0
    snapshot = json.loads(out)
    assert snapshot["state"] == "running"
    assert set(snapshot["workers"]) == {"scale_stage"}
    assert "graph" in snapshot and "timestamp" in snapshot


def test_run_json_and_json_status_are_exclusive(capsys):
    code, _, err = cli(capsys, "run", "x.yaml", "--json", "--json-status")
    assert code == 2 and "--json-status" in err


def test_benchmark_duration_mode_json(capsys, cfg):
    code, out, err = cli(
        capsys,
        "benchmark",
        cfg(GOOD),
        "--duration",
        "0.5",
        "--warmup",
        "0.1",
        "--source",
        "frame:random:200",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["output_stream"] == "out"
    assert report["frames"] > 0 and report["throughput_hz"] > 0
    spacing = report["inter_arrival_ms"]
    assert spacing["min"] <= spacing["p50"] <= spacing["p99"] <= spacing["max"]
    assert report["latency_ms"] == spacing
    assert set(report["workers"]) == {"scale_stage"}


def test_benchmark_duration_mode_text(capsys, cfg):
    code, out, err = cli(
        capsys,
        "benchmark",
        cfg(TWO_SINKS),
        "--duration",
        "0.3",
        "--warmup",
        "0",
        "--source",
        "frame:random:100",
        "--output-stream",
        "b",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Output: b"
    assert lines[1].startswith("Frames: ") and int(lines[1].split()[1]) > 0
    assert lines[2].startswith("Throughput: ") and lines[2].endswith(" Hz")
    assert lines[3].startswith("Inter-arrival spacing (ms): p50=")


def test_benchmark_needs_output_stream_when_several_sinks(capsys, cfg):
    code, _, err = cli(capsys, "benchmark", cfg(TWO_SINKS), "--duration", "0.1")
    assert code == 1 and "--output-stream" in err and "a, b" in err


def test_benchmark_source_must_be_a_source_stream(capsys, cfg):
    code, _, err = cli(
        capsys, "benchmark", cfg(GOOD), "--source", "out:random", "--duration", "0.1"
    )
    assert code == 1 and "'out'" in err and "written by kernel" in err


def test_measure_output_rate_refuses_a_bad_duration(tmp_path):
    config = PipelineConfig.from_dict(
        {
            "shared_memory": [
                {"name": "frame", "shape": [2], "dtype": "float32"},
                {"name": "out", "shape": [2], "dtype": "float32"},
            ],
            "kernels": [
                {"name": "k", "kind": "cpu.copy", "input": "frame", "output": "out"}
            ],
        }
    )
    manager = PipelineManager(config)
    manager.build()
    try:
        with pytest.raises(StateTransitionError, match="must be running"):
            measure_output_rate(manager, duration_s=0.1)
        manager.start()
        for bad in (0.0, -1.0, float("nan"), float("inf")):
            with pytest.raises(BenchmarkError, match="duration must be positive"):
                measure_output_rate(manager, duration_s=bad)
        report = measure_output_rate(
            manager,
            duration_s=0.2,
            warmup_s=0.0,
            source={"stream_name": "frame", "pattern": "ramp", "rate_hz": 100.0},
        )
        assert report["output_stream"] == "out" and report["frames"] > 0
    finally:
        manager.shutdown()
