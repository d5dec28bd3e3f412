"""Stream lifecycle: create/open/close/unlink, layout checks, namespaces,
stale segments of dead creators, and immunity to resource_tracker."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import _stream_procs as procs
import numpy as np
import pytest

from shmpipeline.errors import (
    StreamClosedError,
    StreamExistsError,
    StreamLayoutError,
    StreamNotFoundError,
)
from shmpipeline.stream import (
    SharedStream,
    cleanup_stale,
    current_namespace,
    exists,
    list_segments,
    segment_name,
    unlink,
)
from shmpipeline.stream import _header as H

SHM = Path("/dev/shm")
linux_only = pytest.mark.skipif(
    not SHM.is_dir(), reason="needs /dev/shm to inspect segments"
)


@pytest.fixture
def streams():
    """Collect handles; close and unlink them all at teardown."""
    made: list[SharedStream] = []
    yield made
    for stream in made:
        stream.unlink()
        stream.close()


def _spawn(target, *args):
    ctx = mp.get_context("spawn")
    proc = ctx.Process(target=target, args=args)
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    return proc


# --- names ---------------------------------------------------------------------


def test_segment_name_uses_namespace_from_environment(shm_namespace):
    assert current_namespace() == shm_namespace
    assert segment_name("frame") == f"shmp.{shm_namespace}.frame"
    assert segment_name("frame", namespace="other") == "shmp.other.frame"


def test_segment_name_without_namespace(monkeypatch):
    monkeypatch.delenv("SHMPIPELINE_NAMESPACE")
    assert current_namespace() is None
    assert segment_name("frame") == "shmp.frame"


@pytest.mark.parametrize("bad", ["", "a/b", ".hidden", "-x", "sp ace", 3, None, "é"])
def test_invalid_names_are_rejected(bad):
    with pytest.raises(StreamLayoutError, match="invalid stream name"):
        SharedStream.create(bad, (4,), "float32")


@pytest.mark.parametrize("bad", ["a.b", "a/b", "x" * 65])
def test_invalid_namespaces_are_rejected(bad):
    with pytest.raises(StreamLayoutError, match="namespace"):
        SharedStream.create("frame", (4,), "float32", namespace=bad)


# --- create / open / close / unlink ----------------------------------------------


@linux_only
def test_create_open_close_unlink(shm_namespace):
    stream = SharedStream.create("frame", (2, 3), "float32")
    try:
        assert (SHM / f"shmp.{shm_namespace}.frame").exists()
        assert stream.name == "frame"
        assert stream.namespace == shm_namespace
        assert stream.segment_name == f"shmp.{shm_namespace}.frame"
        assert stream.shape == (2, 3)
        assert stream.dtype == np.float32
        assert stream.nbytes == 24
        assert stream.slots == 3
        assert stream.count == 0
        assert stream.frame_id == 0
        assert stream.creator_pid == os.getpid()
        assert np.array_equal(stream.read(), np.zeros((2, 3), np.float32))

        reader = SharedStream.open("frame")
        assert (reader.shape, reader.dtype, reader.slots) == ((2, 3), np.float32, 3)
        stream.write(np.full((2, 3), 4.5, np.float32))
        assert reader.count == 1
        assert np.array_equal(reader.read(), np.full((2, 3), 4.5, np.float32))
        reader.close()
        assert reader.closed
        reader.close()  # idempotent
        with pytest.raises(StreamClosedError):
            reader.read()
        with pytest.raises(StreamClosedError):
            _ = reader.count
    finally:
        stream.unlink()
        stream.close()
    assert not (SHM / f"shmp.{shm_namespace}.frame").exists()
    stream.unlink()  # idempotent
    with pytest.raises(StreamNotFoundError):
        SharedStream.open("frame")


def test_context_manager_closes(streams):
    with SharedStream.create("frame", 4, "int32") as stream:
        streams.append(stream)
        stream.write(np.arange(4, dtype=np.int32))
    assert stream.closed
    with SharedStream.open("frame") as again:
        assert np.array_equal(again.read(), np.arange(4, dtype=np.int32))


def test_unlinked_stream_stays_usable_by_open_handles():
    stream = SharedStream.create("frame", 4, "float64")
    reader = SharedStream.open("frame")
    stream.unlink()
    assert not exists("frame")
    stream.write(np.arange(4.0))
    assert np.array_equal(reader.read(), np.arange(4.0))
    stream.close()
    reader.close()


def test_unlink_does_not_remove_a_successor(streams):
    old = SharedStream.create("frame", 4, "float64")
    assert unlink("frame")
    new = SharedStream.create("frame", 4, "float64")
    streams.append(new)
    old.unlink()  # must not touch the new segment of the same name
    old.close()
    assert exists("frame")
    assert not unlink("missing")


def test_open_missing_raises_not_found():
    with pytest.raises(StreamNotFoundError, match="'nothing'"):
        SharedStream.open("nothing")
    with pytest.raises(FileNotFoundError):  # the built-in family works too
        SharedStream.open("nothing")


def test_create_existing_live_raises_unless_exist_ok(streams):
    streams.append(SharedStream.create("frame", (3,), "float32"))
    with pytest.raises(StreamExistsError, match="already exists"):
        SharedStream.create("frame", (3,), "float32")
    same = SharedStream.create("frame", (3,), "float32", exist_ok=True)
    assert same.creator_pid == os.getpid()
    same.close()
    with pytest.raises(StreamLayoutError, match="shape"):
        SharedStream.create("frame", (4,), "float32", exist_ok=True)
    with pytest.raises(StreamLayoutError, match="dtype"):
        SharedStream.create("frame", (3,), "int32", exist_ok=True)


def test_open_checks_expected_layout(streams):
    streams.append(SharedStream.create("frame", (4, 4), "uint16"))
    SharedStream.open("frame", shape=(4, 4), dtype="uint16").close()
    SharedStream.open("frame", shape=[4, 4]).close()
    SharedStream.open("frame", dtype=np.uint16).close()
    with pytest.raises(StreamLayoutError, match=r"has shape \(4, 4\) dtype uint16"):
        SharedStream.open("frame", shape=(16,))
    with pytest.raises(StreamLayoutError, match="expected shape"):
        SharedStream.open("frame", dtype="float32")


@linux_only
def test_open_foreign_segment_is_a_layout_error(shm_namespace):
    path = SHM / f"shmp.{shm_namespace}.foreign"
    path.write_bytes(b"NOTASTREAM" + b"\x01" * 8000)
    try:
        with pytest.raises(StreamLayoutError, match="not a shmpipeline stream"):
            SharedStream.open("foreign")
        with pytest.raises(StreamExistsError):
            SharedStream.create("foreign", 4, "float32")  # creator unknown: kept
    finally:
        path.unlink()


@linux_only
def test_open_tiny_segment_is_a_layout_error(shm_namespace):
    path = SHM / f"shmp.{shm_namespace}.tiny"
    path.write_bytes(b"x" * 100)
    try:
        with pytest.raises(StreamLayoutError, match="smaller than a stream header"):
            SharedStream.open("tiny")
    finally:
        path.unlink()


@linux_only
def test_open_other_layout_version_is_a_layout_error(streams, shm_namespace):
    stream = SharedStream.create("frame", 4, "float32")
    streams.append(stream)
    path = SHM / f"shmp.{shm_namespace}.frame"
    with open(path, "r+b") as handle:
        handle.seek(H.OFF_VERSION)
        handle.write((99).to_bytes(4, sys.byteorder))
    with pytest.raises(StreamLayoutError, match="layout version 99"):
        SharedStream.open("frame")


@linux_only
def test_open_corrupt_header_is_a_layout_error(streams, shm_namespace):
    streams.append(SharedStream.create("frame", 4, "float32"))
    path = SHM / f"shmp.{shm_namespace}.frame"
    with open(path, "r+b") as handle:
        handle.seek(H.OFF_NBYTES)
        handle.write((12345).to_bytes(8, sys.byteorder))
    with pytest.raises(StreamLayoutError, match="invalid header: nbytes"):
        SharedStream.open("frame")


# --- namespaces ----------------------------------------------------------------


def test_namespaces_isolate_streams(shm_namespace):
    a = SharedStream.create("frame", 4, "float32", namespace=f"{shm_namespace}-a")
    b = SharedStream.create("frame", 4, "float32", namespace=f"{shm_namespace}-b")
    try:
        a.write(np.full(4, 1, np.float32))
        b.write(np.full(4, 2, np.float32))
        with SharedStream.open("frame", namespace=f"{shm_namespace}-a") as ra:
            assert np.array_equal(ra.read(), np.full(4, 1, np.float32))
        with SharedStream.open("frame", namespace=f"{shm_namespace}-b") as rb:
            assert np.array_equal(rb.read(), np.full(4, 2, np.float32))
        with pytest.raises(StreamNotFoundError):
            SharedStream.open("frame")  # not in the test's own namespace
        if SHM.is_dir():
            names_a = [i.name for i in list_segments(f"{shm_namespace}-a")]
            assert names_a == ["frame"]
            assert list_segments() == []
    finally:
        for stream in (a, b):
            stream.unlink()
            stream.close()


# --- stale segments --------------------------------------------------------------


@linux_only
def test_create_reclaims_a_dead_creators_segment(shm_namespace):
    _spawn(procs.create_and_exit, "frame", (4,), "float64")
    (info,) = list_segments()
    assert info.name == "frame" and info.count == 1
    assert info.creator_alive is False and info.stale
    assert info.creator_pid != os.getpid()

    stream = SharedStream.create("frame", (8,), "int16")  # reclaimed, new layout
    try:
        assert stream.creator_pid == os.getpid()
        assert (stream.shape, stream.dtype, stream.count) == ((8,), np.int16, 0)
        (info,) = list_segments()
        assert info.creator_alive is True and not info.stale
    finally:
        stream.unlink()
        stream.close()


@linux_only
def test_cleanup_stale_removes_only_dead_creators_segments(shm_namespace):
    _spawn(procs.create_and_exit, "dead", (4,), "float32")
    live = SharedStream.create("live", (4,), "float32")
    foreign = SHM / f"shmp.{shm_namespace}.foreign"
    foreign.write_bytes(b"\x07" * 5000)
    try:
        infos = {i.segment_name: i for i in list_segments()}
        assert set(infos) == {
            f"shmp.{shm_namespace}.dead",
            f"shmp.{shm_namespace}.live",
            f"shmp.{shm_namespace}.foreign",
        }
        assert infos[f"shmp.{shm_namespace}.dead"].stale
        assert not infos[f"shmp.{shm_namespace}.live"].stale
        assert infos[f"shmp.{shm_namespace}.foreign"].valid is False
        assert infos[f"shmp.{shm_namespace}.foreign"].creator_alive is None
        assert infos[f"shmp.{shm_namespace}.live"].as_dict()["shape"] == [4]

        removed = cleanup_stale()
        assert removed == [f"shmp.{shm_namespace}.dead"]
        assert not exists("dead")
        assert exists("live") and foreign.exists()
        assert cleanup_stale() == []
    finally:
        live.unlink()
        live.close()
        foreign.unlink()


@linux_only
def test_reused_pid_does_not_keep_a_segment_alive(shm_namespace):
    """The creator is (pid, start time): our pid with another start time is
    some earlier process that had the same pid, hence dead."""
    stream = SharedStream.create("frame", 4, "float32")
    path = SHM / f"shmp.{shm_namespace}.frame"
    with open(path, "r+b") as handle:
        handle.seek(H.OFF_CREATOR_START)
        handle.write((1).to_bytes(8, sys.byteorder))
    try:
        (info,) = list_segments()
        assert info.creator_pid == os.getpid() and info.stale
        assert cleanup_stale() == [f"shmp.{shm_namespace}.frame"]
    finally:
        stream.unlink()
        stream.close()


# --- resource_tracker and pickling -------------------------------------------------


def test_reader_processes_exiting_do_not_unlink(streams):
    stream = SharedStream.create("frame", (3,), "float32")
    streams.append(stream)
    stream.write(np.array([1, 2, 3], np.float32))

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=procs.open_read_exit, args=("frame", queue))
    proc.start()
    got = queue.get(timeout=60)
    proc.join(60)
    assert proc.exitcode == 0
    assert np.array_equal(got, [1, 2, 3])

    code = textwrap.dedent(
        """
        from multiprocessing import resource_tracker
        from shmpipeline.stream import SharedStream
        resource_tracker.ensure_running()
        s = SharedStream.open("frame")
        assert list(s.read()) == [1, 2, 3]
        s.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

    assert exists("frame")
    with SharedStream.open("frame") as again:
        assert np.array_equal(again.read(), [1, 2, 3])


def test_pickled_handle_reopens_the_same_stream(streams):
    stream = SharedStream.create("frame", (2,), "int64")
    streams.append(stream)
    stream.write(np.array([5, 6]))
    clone = pickle.loads(pickle.dumps(stream))
    try:
        assert clone is not stream
        assert clone.segment_name == stream.segment_name
        assert np.array_equal(clone.read(), [5, 6])
    finally:
        clone.close()


def test_repr_names_the_stream(streams):
    stream = SharedStream.create("frame", (2,), "int64")
    streams.append(stream)
    assert "frame" in repr(stream) and "count=0" in repr(stream)
    stream.close()
    assert "closed" in repr(stream)
