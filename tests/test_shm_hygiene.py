"""Hostile names under /dev/shm: FIFOs, directories, symbolic links and other
users' files planted under a stream's segment name are refused with a message
naming them (never followed, never blocked on), and the cleanup skips and
reports them instead of hanging or aborting."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from shmpipeline.cli import main
from shmpipeline.errors import SegmentAccessError, StreamError
from shmpipeline.stream import (
    SharedStream,
    cleanup_segments,
    cleanup_stale,
    list_segments,
)
from shmpipeline.stream import _segment as segments_module

SHM = Path("/dev/shm")

pytestmark = [
    pytest.mark.skipif(
        not sys.platform.startswith("linux") or not SHM.is_dir(),
        reason="needs /dev/shm",
    ),
    pytest.mark.timeout(30),  # a FIFO opened for reading would block forever
]


def _fifo(path: Path) -> None:
    os.mkfifo(path, 0o600)


def _directory(path: Path) -> None:
    path.mkdir()


def _symlink(path: Path) -> None:
    target = path.with_name(path.name + "-target")
    target.write_bytes(b"\0" * 8192)
    path.symlink_to(target)


def _dangling_symlink(path: Path) -> None:
    path.symlink_to("/nonexistent/shmpipeline-test")


PLANTERS = {
    "fifo": (_fifo, "a FIFO"),
    "directory": (_directory, "a directory"),
    "symlink": (_symlink, "a symbolic link"),
    "dangling": (_dangling_symlink, "a symbolic link"),
}


@pytest.fixture
def plant(shm_namespace):
    """Plant a hostile name ``shmp.<ns>.<stream>``; remove it (and any
    symlink target) after the test."""
    planted: list[Path] = []

    def make(stream: str, how: str) -> Path:
        path = SHM / f"shmp.{shm_namespace}.{stream}"
        PLANTERS[how][0](path)
        planted.append(path)
        planted.append(path.with_name(path.name + "-target"))
        return path

    yield make
    for path in planted:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_symlink() or path.exists():
            path.unlink()


@pytest.mark.parametrize("how", sorted(PLANTERS))
def test_open_refuses_a_planted_name(plant, how):
    path = plant("cam", how)
    with pytest.raises(StreamError) as info:
        SharedStream.open("cam")
    message = str(info.value)
    assert str(path) in message and PLANTERS[how][1] in message
    assert "SHMPIPELINE_NAMESPACE" in message and "\n" not in message


@pytest.mark.parametrize("how", sorted(PLANTERS))
def test_create_over_a_planted_name_neither_follows_nor_blocks(plant, how):
    path = plant("cam", how)
    with pytest.raises(StreamError):
        SharedStream.create("cam", (4,), "float32")
    # the planted name is untouched, and nothing was created behind a link
    assert os.path.lexists(path)
    target = path.with_name(path.name + "-target")
    if target.exists():
        assert target.read_bytes() == b"\0" * 8192


@pytest.mark.parametrize("how", sorted(PLANTERS))
def test_cleanup_skips_and_reports_planted_names(plant, shm_namespace, how, caplog):
    path = plant("cam", how)
    stale = SharedStream.create("live", (4,), "float32")  # a live neighbour
    try:
        infos = {info.segment_name: info for info in list_segments(shm_namespace)}
        assert infos[path.name].problem is not None
        assert PLANTERS[how][1] in infos[path.name].problem
        assert not infos[path.name].stale
        assert infos[stale.segment_name].problem is None

        report = cleanup_segments(shm_namespace)
        assert report.removed == ()
        assert stale.segment_name in report.kept
        assert [name for name, _ in report.skipped] == [path.name]
        with caplog.at_level("WARNING", logger="shmpipeline.stream"):
            assert cleanup_stale(shm_namespace) == []
        assert f"cleanup skipped {path.name}" in caplog.text
        assert os.path.lexists(path)
    finally:
        stale.close()
        stale.unlink()


def test_cli_cleanup_reports_skipped_names(plant, shm_namespace, capsys):
    fifo = plant("cam", "fifo")
    folder = plant("dir", "directory")
    assert main(["cleanup", "--namespace", shm_namespace]) == 0
    out, err = capsys.readouterr()
    assert f"skipped {fifo.name}: " in out and "a FIFO" in out
    assert f"skipped {folder.name}: " in out and "a directory" in out
    assert "2 skipped" in out and "Traceback" not in out + err

    assert main(["cleanup", "--namespace", shm_namespace, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(s["segment_name"] for s in report["skipped"]) == sorted(
        [fifo.name, folder.name]
    )
    assert report["removed"] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown a file")
def test_another_users_segment_is_refused_and_skipped(shm_namespace):
    path = SHM / f"shmp.{shm_namespace}.theirs"
    path.write_bytes(b"\0" * 8192)
    try:
        os.chown(path, 54321, 54321)
        with pytest.raises(StreamError, match="owned by uid 54321"):
            SharedStream.open("theirs")
        report = cleanup_segments(shm_namespace)
        assert [name for name, _ in report.skipped] == [path.name]
        assert "owned by uid 54321" in report.skipped[0][1]
        assert path.exists()
    finally:
        path.unlink()


def test_unreadable_segment_names_itself_and_the_remedy(shm_namespace):
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    path = SHM / f"shmp.{shm_namespace}.locked"
    path.write_bytes(b"\0" * 8192)
    try:
        path.chmod(0)
        with pytest.raises(StreamError) as info:
            SharedStream.open("locked")
        assert str(path) in str(info.value)
        assert "SHMPIPELINE_NAMESPACE" in str(info.value)
    finally:
        path.unlink()


def test_segment_functions_raise_segment_access_errors(plant):
    path = plant("cam", "fifo")
    with pytest.raises(SegmentAccessError, match="a FIFO"):
        segments_module.read_prefix(path.name, 64)
    with pytest.raises(SegmentAccessError, match="a FIFO"):
        segments_module.open_segment(path.name)
    assert segments_module.segment_exists(path.name)
