"""Scenario and golden files as hostile input: paths stay inside the
scenario's folder, special files are refused before reading, a zip bomb is
refused before inflating, and recording never replaces a file that is not a
golden."""

from __future__ import annotations

import io
import json
import os
import resource
import struct
import zipfile
import zlib

import numpy as np
import pytest
from _scenario_texts import TINY

from shmpipeline.errors import GoldenError, GoldenFileError, ScenarioError
from shmpipeline.testing import golden
from shmpipeline.testing.runner import check_scenario
from shmpipeline.testing.scenario import find_scenarios, load_scenario, quick_load

WITH_FILE = """\
name: with_file
frames: 2
pipeline:
  shared_memory:
    - {{name: x, shape: [4], dtype: float32}}
    - {{name: m, shape: [4, 4], dtype: float32}}
    - {{name: o, shape: [4], dtype: float32}}
    - {{name: y, shape: [4], dtype: float32}}
  kernels:
    - {{name: affine, kind: cpu.affine_transform, input: x, output: y,
       auxiliary: {{matrix: m, offset: o}}}}
inputs:
  x: {{synthetic: random}}
  m: {{file: {file}}}
"""


def _tiny(folder, extra: str = "", name: str = "tiny.yaml"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(TINY + extra)
    return path


# --- containment -----------------------------------------------------------------


def test_golden_path_escaping_the_folder_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o600)
    path = _tiny(tmp_path / "sc", "golden: ../victim.txt\n")
    with pytest.raises(
        ScenarioError, match=r"tiny.yaml:\d+: golden: .*resolves outside"
    ):
        load_scenario(path)
    # explicitly allowed, the path resolves, but recording still refuses to
    # replace a file that is no golden
    scenario = load_scenario(path, allow_outside_paths=True)
    outcome = check_scenario(scenario, goldens="update", executor="inline")
    assert outcome.status == "failed"
    assert (
        "refusing to overwrite" in outcome.message
        and "not a shmpipeline golden" in outcome.message
    )
    assert victim.read_text() == "precious\n"
    assert victim.stat().st_mode & 0o777 == 0o600


def test_pipeline_and_file_paths_stay_inside(tmp_path):
    (tmp_path / "p.yaml").write_text("shared_memory: []\nkernels: []\n")
    np.save(tmp_path / "gain.npy", np.zeros(4, np.float32))
    (tmp_path / "sc").mkdir()
    escaping = tmp_path / "sc" / "escape.yaml"
    escaping.write_text("name: escape\npipeline: ../p.yaml\n")
    with pytest.raises(ScenarioError, match="pipeline: .*resolves outside"):
        load_scenario(escaping)
    absolute = tmp_path / "sc" / "absolute.yaml"
    absolute.write_text("name: absolute\npipeline: /etc/hostname\n")
    with pytest.raises(ScenarioError, match="resolves outside"):
        load_scenario(absolute)
    inside = tmp_path / "sc" / "file.yaml"
    inside.write_text(WITH_FILE.format(file="../gain.npy"))
    with pytest.raises(
        ScenarioError, match=r"inputs\.m\.file: file .*resolves outside"
    ):
        load_scenario(inside)


# --- special files -----------------------------------------------------------------


@pytest.mark.timeout(20)
def test_fifo_scenario_golden_and_file_inputs_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ScenarioError, match="is a FIFO"):
        load_scenario(fifo)
    assert quick_load(fifo) is None
    assert find_scenarios([tmp_path]) == []  # listing never opens it

    os.mkfifo(tmp_path / "tiny.golden.npz")
    path = _tiny(tmp_path)
    with pytest.raises(GoldenFileError, match="is a FIFO"):
        golden.load_golden(tmp_path / "tiny.golden.npz")
    outcome = check_scenario(load_scenario(path), executor="inline")
    assert outcome.status == "failed" and "FIFO" in outcome.message
    recorded = check_scenario(load_scenario(path), goldens="update", executor="inline")
    assert recorded.status == "failed" and "not a regular file" in recorded.message

    os.mkfifo(tmp_path / "gain.npy")
    with_file = tmp_path / "file.yaml"
    with_file.write_text(WITH_FILE.format(file="gain.npy"))
    with pytest.raises(ScenarioError, match=r"inputs\.m\.file: file .*is a FIFO"):
        load_scenario(with_file)


def test_devices_directories_and_huge_files_are_refused(tmp_path):
    with pytest.raises(ScenarioError, match="character device"):
        load_scenario("/dev/zero")
    with pytest.raises(ScenarioError, match="directory"):
        load_scenario(tmp_path)
    big = tmp_path / "big.golden.npz"
    with open(big, "wb") as handle:
        handle.truncate(golden.MAX_GOLDEN_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(GoldenFileError, match="over the .*-byte limit"):
        golden.load_golden(big)
    (tmp_path / "dir.golden.npz").mkdir()
    with pytest.raises(GoldenFileError, match="directory"):
        golden.load_golden(tmp_path / "dir.golden.npz")


# --- zip bombs and lying headers -----------------------------------------------------------


def _zip_bomb(path, inflated_mib: int = 1536) -> None:
    """A valid ``.npz`` whose one member inflates to ``inflated_mib`` MiB of
    zeros from ~1.5 MB on disk (repeated full-flush deflate blocks)."""
    header = io.BytesIO()
    count = inflated_mib * (1 << 20) // 4
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (1, count)}
    )
    head = header.getvalue()
    chunk = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head + chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    tail = compressor.flush()
    data = first + block * (inflated_mib - 1) + tail
    crc = zlib.crc32(head)
    for _ in range(inflated_mib):
        crc = zlib.crc32(chunk, crc)
    size = len(head) + inflated_mib * (1 << 20)
    name = b"slopes.npy"
    local = struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(data),
        size,
        len(name),
        0,
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(data),
        size,
        len(name),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    offset = len(local) + len(name) + len(data)
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), offset, 0
    )
    path.write_bytes(local + name + data + central + name + end)


@pytest.mark.timeout(60)
def test_a_zip_bomb_is_refused_before_inflating(tmp_path):
    bomb = tmp_path / "bomb.golden.npz"
    _zip_bomb(bomb)
    assert bomb.stat().st_size < 2_000_000
    with zipfile.ZipFile(bomb) as archive:  # a well-formed archive
        assert archive.infolist()[0].file_size > 1_500_000_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(GoldenFileError) as caught:
        golden.load_golden(bomb)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    message = str(caught.value)
    assert "\n" not in message and "decompressed, over the" in message
    assert isinstance(caught.value, GoldenError)
    assert grown_kib < 100 * 1024  # never inflated (the bomb is 1.5 GiB)


def test_a_member_header_claiming_more_data_than_it_holds_is_refused(tmp_path):
    buffer = io.BytesIO()
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    )
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("y.npy", header.getvalue() + bytes(64))
        meta = io.BytesIO()
        np.lib.format.write_array(meta, np.array(json.dumps({"format_version": 1})))
        archive.writestr(f"{golden.METADATA_KEY}.npy", meta.getvalue())
    path = tmp_path / "liar.golden.npz"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(GoldenFileError, match="header claims 8000000000 bytes"):
        golden.load_golden(path)


# --- recording never replaces a foreign file -----------------------------------------------


def test_save_golden_replaces_only_goldens(tmp_path):
    captures = {"y": np.zeros((2, 3), np.float32)}
    foreign = tmp_path / "notes.golden.npz"
    foreign.write_text("not a golden")
    with pytest.raises(GoldenFileError, match="refusing to overwrite"):
        golden.save_golden(foreign, captures, scenario_hash="h")
    assert foreign.read_text() == "not a golden"
    plain_zip = tmp_path / "plain.npz"
    np.savez(plain_zip, y=np.zeros(3))  # an npz, but not ours
    with pytest.raises(GoldenFileError, match="not a shmpipeline golden"):
        golden.save_golden(plain_zip, captures, scenario_hash="h")
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    link = tmp_path / "link.golden.npz"
    link.symlink_to(target)
    with pytest.raises(GoldenFileError, match="not a regular file"):
        golden.save_golden(link, captures, scenario_hash="h")
    assert target.read_text() == "keep"
    ours = golden.save_golden(tmp_path / "ours.golden.npz", captures, scenario_hash="h")
    golden.save_golden(ours, {"y": np.ones((2, 3), np.float32)}, scenario_hash="h")
    assert golden.load_golden(ours).arrays["y"][0, 0] == 1.0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
