"""User-named files: regular files only, bounded, never blocking, contained."""

from __future__ import annotations

import os

import pytest

from shmpipeline.errors import ConfigValidationError
from shmpipeline.user_files import (
    check_regular_file,
    read_user_bytes,
    read_user_text,
    resolve_inside,
)


def _read(path, **kw):
    return read_user_text(path, what="pipeline file", error=ConfigValidationError, **kw)


def test_regular_file_is_read(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n")
    assert _read(path) == "a: 1\n"


@pytest.mark.timeout(10)
def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigValidationError, match="FIFO"):
        _read(fifo)


def test_char_device_and_directory_are_refused(tmp_path):
    with pytest.raises(ConfigValidationError, match="character device"):
        _read("/dev/zero")
    with pytest.raises(ConfigValidationError, match="directory"):
        _read(tmp_path)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigValidationError, match="does not exist"):
        check_regular_file(tmp_path / "nope", what="golden", error=ConfigValidationError)


def test_oversized_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 2048)
    with pytest.raises(ConfigValidationError, match="over the 1024-byte limit"):
        read_user_bytes(path, what="file input", error=ConfigValidationError, max_bytes=1024)
    assert len(read_user_bytes(path, what="f", error=ConfigValidationError, max_bytes=2048)) == 2048


def test_non_utf8_text_is_one_line_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigValidationError, match="not UTF-8"):
        _read(path)


def test_resolve_inside_contains_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    assert resolve_inside(tmp_path, "sub/g.npz", what="golden", error=ConfigValidationError) == (
        tmp_path / "sub" / "g.npz"
    ).resolve()
    with pytest.raises(ConfigValidationError, match="outside"):
        resolve_inside(tmp_path, "../victim.txt", what="golden", error=ConfigValidationError)
    with pytest.raises(ConfigValidationError, match="outside"):
        resolve_inside(tmp_path, "/etc/passwd", what="golden", error=ConfigValidationError)
    outside = resolve_inside(
        tmp_path, "../x", what="golden", error=ConfigValidationError, allow_outside=True
    )
    assert outside == (tmp_path.parent / "x").resolve()


def test_symlink_escape_is_refused(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "link").symlink_to(tmp_path.parent)
    with pytest.raises(ConfigValidationError, match="outside"):
        resolve_inside(inner, "link/x", what="file input", error=ConfigValidationError)
