"""The CLI: exit codes, stdout/stderr split, JSON validity, one-line user
errors (no traceback), in-process through ``main`` and as ``python -m``."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shmpipeline.cli import build_parser, main
from shmpipeline.stream import SharedStream, list_segments

ROOT = Path(__file__).resolve().parents[1]

GOOD = """\
shared_memory:
  - {name: frame, shape: [4, 4], dtype: float32}
  - {name: out, shape: [4, 4], dtype: float32}
kernels:
  - name: scale_stage
    kind: cpu.scale
    input: frame
    output: out
    parameters: {factor: 2.0}
"""

BAD = """\
shared_memory:
  - {name: frame, shape: [4, 4], dtype: float32}
  - {name: out, shape: [4, 2.7], dtype: float32}
kernels:
  - name: scale_stage
    kind: cpu.scal
    input: fram
    output: out
"""

TWO_STAGES = """\
shared_memory:
  - {name: frame, shape: [8], dtype: float64}
  - {name: mid, shape: [8], dtype: float64}
  - {name: gain, shape: [8], dtype: float64}
  - {name: out, shape: [8], dtype: float64}
kernels:
  - {name: first, kind: cpu.scale, input: frame, output: mid, parameters: {factor: 3.0}}
  - {name: second, kind: cpu.elementwise_multiply, input: mid, output: out, auxiliary: [gain]}
"""

FAILING = """\
shared_memory:
  - {name: frame, shape: [4], dtype: float32}
  - {name: out, shape: [4], dtype: float32}
kernels:
  - {name: boom, kind: cpu.raise_error, input: frame, output: out,
     parameters: {message: kaboom on purpose}}
"""


@pytest.fixture
def cfg(tmp_path):
    def write(text: str, name: str = "pipeline.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return str(path)

    return write


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def python_m(*argv: str, timeout: float = 60.0, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "shmpipeline", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(ROOT),
        **kw,
    )


# --- parser and usage ---------------------------------------------------------------------


def test_build_parser_has_the_commands():
    parser = build_parser()
    assert isinstance(parser, argparse.ArgumentParser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert {"validate", "describe", "run", "benchmark", "kinds", "cleanup"} <= set(
        sub.choices
    )
    args = parser.parse_args(
        ["run", "x.yaml", "--duration", "2", "--synthetic", "frame:sine:50"]
    )
    assert args.duration == 2.0 and args.synthetic[0].pattern == "sine"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        ([], "COMMAND"),
        (["frobnicate"], "invalid choice"),
        (["validate"], "CFG"),
        (["run", "x.yaml", "--duration", "-1"], "--duration"),
        (["run", "x.yaml", "--synthetic", "frame"], "STREAM:PATTERN"),
        (["run", "x.yaml", "--synthetic", "frame:noise"], "unknown pattern 'noise'"),
        (["run", "x.yaml", "--synthetic", "frame:sine:fast"], "rate_hz"),
        (["benchmark", "x.yaml", "--frames", "0"], "--frames"),
    ],
)
def test_usage_errors_exit_2(capsys, argv, needle):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert needle in err and out == ""


def test_help_and_version_exit_0(capsys):
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "validate" in out
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0 and out.startswith("shmpipeline ")


# --- validate -------------------------------------------------------------------------------


def test_validate_ok(capsys, cfg):
    path = cfg(GOOD)
    code, out, err = run_cli(capsys, "validate", path)
    assert code == 0
    assert out.splitlines() == [f"OK      {path}", f"Validation passed: {path}"]


def test_python_m_shmpipeline_cli_runs_the_cli(cfg):
    """``python -m shmpipeline.cli`` (the published package's module entry
    point) runs the CLI, not just an import."""
    path = cfg(GOOD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "shmpipeline.cli", "validate", path],
        capture_output=True, text=True, timeout=60, env=env, cwd=str(ROOT),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"Validation passed: {path}"


def test_validate_reports_every_error_of_every_file(capsys, cfg):
    bad = cfg(BAD, "bad.yaml")
    good = cfg(GOOD, "good.yaml")
    missing = str(Path(good).with_name("missing.yaml"))
    code, out, err = run_cli(capsys, "validate", bad, good, missing)
    assert code == 1
    assert f"FAILED  {bad} (3 errors)" in out
    assert f"{bad}:3: shared_memory[1] 'out': shape:" in out
    assert "input: undefined shared memory 'fram'" in out
    assert "unknown kernel kind 'cpu.scal'" in out
    assert f"OK      {good}" in out
    assert f"FAILED  {missing}" in out and "not found" in out
    assert out.splitlines()[-1] == "Validation failed: 2 of 3 file(s) invalid"


def test_validate_json(capsys, cfg):
    bad, good = cfg(BAD, "bad.yaml"), cfg(GOOD, "good.yaml")
    code, out, _ = run_cli(capsys, "-vv", "validate", "--json", bad, good)
    assert code == 1
    report = json.loads(out)
    assert report["valid"] is False
    assert [f["valid"] for f in report["files"]] == [False, True]
    assert len(report["files"][0]["errors"]) == 3 and report["files"][1]["errors"] == []


# --- describe ---------------------------------------------------------------------------------


def test_describe_text_and_json(capsys, cfg):
    path = cfg(TWO_STAGES)
    code, out, _ = run_cli(capsys, "describe", path)
    assert code == 0
    assert "1. first [cpu.scale] frame -> mid" in out and "Sinks: out" in out
    code, out, _ = run_cli(capsys, "describe", path, "--json", "-vv")
    assert code == 0
    graph = json.loads(out)
    assert graph["source_streams"] == ["frame", "gain"] and graph["sink_streams"] == [
        "out"
    ]
    assert [k["name"] for k in graph["kernels"]] == ["first", "second"]


def test_describe_invalid_config_prints_errors_on_stderr(capsys, cfg):
    path = cfg(BAD)
    code, out, err = run_cli(capsys, "describe", path)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 3 and all(
        line.startswith("shmpipeline: error: ") for line in lines
    )


def test_describe_missing_file(capsys, tmp_path):
    code, out, err = run_cli(capsys, "describe", str(tmp_path / "nope.yaml"))
    assert code == 1 and "nope.yaml" in err and "not found" in err


# --- kinds -------------------------------------------------------------------------------------


def test_kinds(capsys):
    code, out, _ = run_cli(capsys, "kinds")
    kinds = out.split()
    assert code == 0 and "cpu.scale" in kinds and "cpu.custom_operation" in kinds
    assert kinds == sorted(kinds)
    code, out, _ = run_cli(capsys, "kinds", "--json")
    assert json.loads(out)["kinds"] == kinds


# --- cleanup -----------------------------------------------------------------------------------


def _make_stale_segment() -> None:
    """A child process creates a stream and dies without unlinking it."""
    code = (
        "import os; from shmpipeline.stream import SharedStream; "
        "SharedStream.create('orphan', (4,), 'float32'); os._exit(0)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_cleanup_removes_only_stale_segments(capsys, shm_namespace):
    _make_stale_segment()
    live = SharedStream.create("alive", (2,), "float32")
    try:
        code, out, _ = run_cli(
            capsys, "cleanup", "--dry-run", "--namespace", shm_namespace
        )
        assert code == 0
        assert f"would remove shmp.{shm_namespace}.orphan" in out
        assert len(list_segments(shm_namespace)) == 2  # dry run: nothing removed
        code, out, _ = run_cli(capsys, "cleanup", "--json")  # namespace from the env
        report = json.loads(out)
        assert report["removed"] == [f"shmp.{shm_namespace}.orphan"]
        assert report["kept"] == [f"shmp.{shm_namespace}.alive"]
        assert [s.name for s in list_segments(shm_namespace)] == ["alive"]
    finally:
        live.close()
        live.unlink()


# --- run ------------------------------------------------------------------------------------------


def test_run_rejects_synthetic_on_unknown_or_produced_streams(capsys, cfg):
    path = cfg(TWO_STAGES)
    code, out, err = run_cli(
        capsys, "run", path, "--duration", "0.1", "--synthetic", "fram:random"
    )
    assert (
        code == 1 and "--synthetic 'fram': unknown stream; did you mean 'frame'?" in err
    )
    code, out, err = run_cli(
        capsys, "run", path, "--duration", "0.1", "--synthetic", "mid:random"
    )
    assert code == 1 and "written by kernel 'first'" in err


def test_run_invalid_config_exit_1(capsys, cfg):
    code, out, err = run_cli(capsys, "run", cfg(BAD), "--duration", "0.1")
    assert code == 1 and err.count("shmpipeline: error:") == 3


def test_run_with_synthetic_inputs(capsys, cfg):
    path = cfg(TWO_STAGES)
    code, out, err = run_cli(
        capsys,
        "run",
        path,
        "--duration",
        "1.0",
        "--synthetic",
        "frame:ramp:200",
        "--synthetic",
        "gain:constant:5,constant=2",
    )
    assert code == 0, err
    assert "ran" in out and "first" in out and "second" in out
    assert "synthetic frame: ramp" in out


def test_run_json_reports_frames(capsys, cfg):
    path = cfg(GOOD)
    code, out, _ = run_cli(
        capsys,
        "-v",
        "run",
        path,
        "--duration",
        "1.0",
        "--synthetic",
        "frame:random:200",
        "--json",
    )
    assert code == 0
    report = json.loads(out)
    assert report["exit_code"] == 0 and report["failure"] is None
    assert report["synthetic_inputs"]["frame"]["frames_written"] > 0
    assert report["status"]["state"] in ("running", "paused", "built", "stopped")


def test_run_failing_kernel_exit_1_without_traceback(capsys, cfg):
    path = cfg(FAILING)
    code, out, err = run_cli(
        capsys, "run", path, "--duration", "30", "--synthetic", "frame:random:100"
    )
    assert code == 1
    assert "pipeline failed" in err and "kaboom on purpose" in err


# --- benchmark --------------------------------------------------------------------------------------


def test_benchmark_json(capsys, cfg):
    path = cfg(TWO_STAGES)
    code, out, err = run_cli(
        capsys, "benchmark", path, "--frames", "30", "--warmup", "3", "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["sources"] == ["frame"] and report["auxiliary_sources"] == ["gain"]
    assert report["sinks"] == ["out"]
    latency = report["latency"]["latency_us"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    throughput = report["throughput"]
    assert throughput["frames_in"] == 30 and 1 <= throughput["frames_out"] <= 30
    assert throughput["throughput_hz"] > 0


def test_benchmark_text(capsys, cfg):
    code, out, _ = run_cli(
        capsys, "benchmark", cfg(GOOD), "--frames", "10", "--warmup", "0"
    )
    assert code == 0 and "latency" in out and "throughput" in out


def test_benchmark_failing_pipeline(capsys, cfg):
    code, out, err = run_cli(
        capsys, "benchmark", cfg(FAILING), "--frames", "5", "--timeout", "2"
    )
    assert code == 1 and "kaboom on purpose" in err


# --- as a program -----------------------------------------------------------------------------------


def test_python_m_validate_and_describe_json(cfg):
    bad = cfg(BAD, "bad.yaml")
    proc = python_m("validate", bad)
    assert proc.returncode == 1
    assert "unknown kernel kind 'cpu.scal'" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    proc = python_m("-vv", "describe", "--json", cfg(GOOD, "good.yaml"))
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["sink_streams"] == ["out"]
    proc = python_m("run", bad)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_python_m_usage_error_exit_2():
    proc = python_m("run")
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_python_m_run_interrupted_exits_130_and_cleans_up(cfg, shm_namespace):
    path = cfg(GOOD)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shmpipeline",
            "run",
            path,
            "--synthetic",
            "frame:random:100",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(ROOT),
        start_new_session=True,  # its own process group, like a terminal job
    )
    try:
        # wait until the pipeline runs (the log line is printed after start)
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "press Ctrl-C" in line or not line:
                break
        assert any("press Ctrl-C" in line for line in lines), lines
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole group
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, "".join(lines) + err
    assert "Traceback" not in err
    assert "scale_stage" in out
    assert list_segments(shm_namespace) == []
