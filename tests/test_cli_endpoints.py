"""CLI verbs listing source and sink plugin kinds, and running endpoints."""

from __future__ import annotations

import json

from shmpipeline.cli import main


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_sources_and_sinks_verbs(capsys):
    assert cli(capsys, "sources") == (
        0, "fake.phase_screen\nfake.shack_hartmann\nsynthetic.array\nsynthetic.frame_set\n", ""
    )
    assert cli(capsys, "sinks") == (0, "fake.deformable_mirror\nnull.sink\n", "")
    code, out, _ = cli(capsys, "sinks", "--json")
    assert code == 0 and json.loads(out) == {"kinds": ["fake.deformable_mirror", "null.sink"]}


def test_validate_and_run_an_endpoint_pipeline(capsys, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "shared_memory:\n"
        "  - {name: a, shape: [4], dtype: float32}\n"
        "  - {name: b, shape: [4], dtype: float32}\n"
        "sources:\n"
        "  - {name: gen, kind: synthetic.array, stream: a,\n"
        "     parameters: {pattern: ramp, rate_hz: 200}}\n"
        "kernels:\n"
        "  - {name: k, kind: cpu.scale, input: a, output: b, parameters: {factor: 2}}\n"
        "sinks:\n"
        "  - {name: drain, kind: null.sink, stream: b}\n"
    )
    code, out, _ = cli(capsys, "validate", str(path))
    assert code == 0 and "Validation passed" in out
    code, out, err = cli(capsys, "run", str(path), "--duration", "0.5")
    assert code == 0, err
