"""The shipped examples: each runs through the real manager, driven in
lockstep with known inputs (auxiliaries included), and its sink equals a NumPy
reference of the whole chain; the CLI command in each file's header works."""

from __future__ import annotations

import importlib.util
import shlex
import time
from pathlib import Path

import numpy as np
import pytest

from shmpipeline.cli import main
from shmpipeline.manager import PipelineManager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def lockstep(manager, inputs: dict[str, np.ndarray], k: int, sink: str) -> np.ndarray:
    """Write frame ``k`` to the given streams and return the sink's frame ``k``."""
    for name, array in inputs.items():
        manager.get_stream(name).write(array, frame_id=k)
    out = manager.get_stream(sink)
    deadline = time.monotonic() + 30.0
    count = out.count
    while out.frame_id < k:
        count = out.wait_new(count, timeout=0.1)
        if time.monotonic() > deadline:
            manager.raise_if_failed()
            raise AssertionError(f"{sink!r} never published frame {k}")
    frame = out.read()
    assert out.last_frame_id == k
    return frame


# --- references (float64, straight from the kinds' definitions) ------------------------


def ref_centroids(image: np.ndarray, tile: int) -> np.ndarray:
    h, w = image.shape
    tiles = image.astype(np.float64).reshape(h // tile, tile, w // tile, tile)
    weight = tiles.sum(axis=(1, 3))
    pos = np.arange(tile, dtype=np.float64)
    rows = np.einsum("atbu,t->ab", tiles, pos)
    cols = np.einsum("atbu,u->ab", tiles, pos)
    out = np.zeros((h // tile, w // tile, 2))
    ok = weight > 0
    centre = (tile - 1) / 2
    out[..., 0][ok] = rows[ok] / weight[ok] - centre
    out[..., 1][ok] = cols[ok] / weight[ok] - centre
    return out


def ao_loop_reference(images, matrix, offset, leak=0.99, gain=0.4, lo=-0.5, hi=0.5):
    state = np.zeros(matrix.shape[0])
    commands = []
    for image in images:
        slopes = ref_centroids(image, 8).reshape(-1)
        modes = matrix.astype(np.float64) @ slopes + offset
        state = leak * state + gain * modes
        commands.append(np.clip(state, lo, hi))
    return commands


# --- the pipelines through the manager --------------------------------------------------


def test_scale_example():
    rng = np.random.default_rng(0)
    with PipelineManager(EXAMPLES / "scale.yaml") as manager:
        manager.build()
        manager.start()
        for k in range(1, 11):
            frame = rng.standard_normal((64, 64)).astype(np.float32)
            out = lockstep(manager, {"frame": frame}, k, "scaled")
            np.testing.assert_array_equal(out, frame * np.float32(2.0))


def test_affine_example():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((32, 128)).astype(np.float32)
    offset = rng.standard_normal(32).astype(np.float32)
    with PipelineManager(EXAMPLES / "affine.yaml") as manager:
        manager.build()
        manager.start()
        manager.get_stream("matrix").write(matrix)
        manager.get_stream("offset").write(offset)
        for k in range(1, 11):
            x = rng.standard_normal(128).astype(np.float32)
            y = lockstep(manager, {"x": x}, k, "y")
            expected = matrix.astype(np.float64) @ x + offset
            np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-4)


def test_ao_loop_example():
    rng = np.random.default_rng(2)
    matrix = (0.3 * rng.standard_normal((32, 128))).astype(np.float32)
    offset = (0.02 * rng.standard_normal(32)).astype(np.float32)
    images = []
    for n in range(40):
        image = rng.uniform(0.0, 1.0, (64, 64)).astype(np.float32)
        image[8 * (n % 8) : 8 * (n % 8) + 8, :8] = 0.0  # one dark subaperture -> [0, 0]
        images.append(image)
    expected = ao_loop_reference(images, matrix, offset.astype(np.float64))
    with PipelineManager(EXAMPLES / "ao_loop.yaml") as manager:
        manager.build()
        manager.start()
        manager.get_stream("reconstructor").write(matrix)
        manager.get_stream("mode_offset").write(offset)
        got = [
            lockstep(manager, {"wfs_frame": image}, k, "commands")
            for k, image in enumerate(images, start=1)
        ]
    got = np.array(got)
    np.testing.assert_allclose(got, np.array(expected), rtol=1e-4, atol=1e-5)
    # the test exercises both regimes of the clip
    assert np.any(np.abs(got) == 0.5) and np.any(np.abs(got) < 0.5)


# --- the documented CLI commands -----------------------------------------------------------


def documented_commands(path: Path) -> list[list[str]]:
    """``shmpipeline run ...`` commands from the file's comments (with
    backslash continuations), durations shortened to one second."""
    commands, current = [], ""
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            continue
        text = line[1:].strip()
        if current or text.startswith("shmpipeline run"):
            current += " " + text.rstrip("\\").strip()
            if not text.endswith("\\"):
                commands.append(shlex.split(current)[1:])
                current = ""
    for argv in commands:
        if "--duration" in argv:
            argv[argv.index("--duration") + 1] = "1"
    return commands


def test_every_example_documents_a_command():
    for name in ("scale.yaml", "affine.yaml", "ao_loop.yaml"):
        commands = documented_commands(EXAMPLES / name)
        assert commands and all(c[:2] == ["run", f"examples/{name}"] for c in commands)


@pytest.mark.parametrize(
    "argv",
    [
        argv
        for name in ("scale.yaml", "affine.yaml", "ao_loop.yaml")
        for argv in documented_commands(EXAMPLES / name)
    ],
    ids=lambda argv: " ".join(argv[1:4]),
)
def test_documented_command_runs(capsys, monkeypatch, argv):
    monkeypatch.chdir(EXAMPLES.parent)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err
    assert "state before shutdown: running" in out


def test_examples_validate(capsys):
    paths = sorted(EXAMPLES.glob("*.yaml"))
    if importlib.util.find_spec("torch") is None:  # gpu kinds need torch
        paths = [p for p in paths if not p.name.startswith("gpu_")]
    assert main(["validate", *(str(p) for p in paths)]) == 0
    assert capsys.readouterr().out.count("OK") == len(paths) >= 3
