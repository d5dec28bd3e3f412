"""Golden files: record a scenario's captures and compare a new run with them.

A golden is an ``.npz`` file beside the scenario: one array per captured
stream (shape ``(frames, *stream_shape)``) plus a JSON metadata entry
(:data:`METADATA_KEY`) holding the format version, the scenario hash, the
shmpipeline version, each stream's shape, dtype and frame count, and (from
format version 2) the distribution and version that provided each kernel
kind. Version 2 has no creation date and fixed zip timestamps, so equal
content gives equal bytes; version 1 files (with a date) are still read.

Reading is bounded: the file must be a regular file of at most
:data:`MAX_GOLDEN_FILE_BYTES`, and the members' declared sizes (at most
:data:`MAX_GOLDEN_ARRAY_BYTES` in all) and each array header are checked
before anything is decompressed. Writing replaces only a golden of this
format, never another file.

Comparison (shape, dtype, values within tolerances, the scenario hash) is
:mod:`shmpipeline.testing.comparison`, tolerances
:mod:`shmpipeline.testing.tolerances`; both are re-exported here.
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from shmpipeline.errors import (
    GoldenFileError,
    GoldenMismatchError,
    GoldenMissingError,
)
from shmpipeline.testing.comparison import (
    RECORD_HINT,
    ComparisonReport,
    StreamComparison,
    compare_captures,
    differing_elements,
)
from shmpipeline.testing.tolerances import (
    DEFAULT_TOLERANCES,
    ToleranceSpec,
    default_tolerance,
)
from shmpipeline.user_files import read_user_bytes

__all__ = [
    "DEFAULT_TOLERANCES",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "ComparisonReport",
    "Golden",
    "GoldenMissingError",
    "MAX_GOLDEN_ARRAY_BYTES",
    "MAX_GOLDEN_FILE_BYTES",
    "StreamComparison",
    "ToleranceSpec",
    "compare_captures",
    "default_tolerance",
    "differing_elements",
    "is_golden_file",
    "load_golden",
    "obtained_path",
    "save_golden",
]

#: Version of the golden file layout (bump on incompatible changes). Version 2
#: writes byte-identical files for identical content (fixed zip timestamps, no
#: creation date) and records the distributions that provided each kernel kind;
#: version 1 files are still read.
FORMAT_VERSION = 2
#: Largest golden file read (compressed bytes on disk).
MAX_GOLDEN_FILE_BYTES = 64 * 1024 * 1024
#: Largest total size of a golden's arrays once decompressed: a small
#: ``.npz`` can inflate to gigabytes (a zip bomb), so the members' declared
#: sizes are checked before anything is decompressed.
MAX_GOLDEN_ARRAY_BYTES = 512 * 1024 * 1024
#: Most members a golden may hold (one per captured stream plus metadata).
MAX_GOLDEN_MEMBERS = 4096
#: Timestamp written into every zip member, so equal content gives equal bytes.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
#: Suffix of the file written beside a golden when a run does not match it.
OBTAINED_SUFFIX = ".obtained.npz"
#: Name of the JSON metadata entry inside the ``.npz``.
METADATA_KEY = "__shmpipeline_golden__"
# --- files ---------------------------------------------------------------------


@dataclass(frozen=True)
class Golden:
    """A loaded golden: ``arrays`` (stream -> ``(frames, *shape)`` array,
    read-only) and its ``metadata`` (see the module docstring)."""

    arrays: Mapping[str, np.ndarray]
    metadata: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def scenario_hash(self) -> str | None:
        value = self.metadata.get("scenario_hash")
        return value if isinstance(value, str) else None


def _package_version() -> str:
    try:
        from shmpipeline import __version__
    except ImportError:  # pragma: no cover
        return "unknown"
    return str(__version__)


def obtained_path(golden: str | PathLike[str]) -> Path:
    """Where a run that does not match ``golden`` is written for offline
    diffing: ``x.golden.npz`` -> ``x.golden.obtained.npz`` (same layout,
    readable with :func:`load_golden`)."""
    path = Path(golden)
    stem = path.name[: -len(".npz")] if path.name.endswith(".npz") else path.name
    return path.with_name(stem + OBTAINED_SUFFIX)


def save_golden(
    path: str | PathLike[str],
    captures: Mapping[str, Any],
    *,
    scenario_hash: str,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``captures`` (stream -> ``(frames, *shape)`` array) as a golden.

    ``metadata`` entries (JSON-serialisable) are stored beside the standard
    ones. Equal content gives byte-identical files. The file is written to
    a temporary name then renamed, so a reader never sees half a golden; it
    gets the mode any new file of the user gets (``0666`` less the umask,
    i.e. ``0644`` usually). An existing file at ``path`` is replaced only
    when it is a golden of this format (anything else, a symlink included,
    raises :class:`~shmpipeline.errors.GoldenFileError`). Returns the path.
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    streams: dict[str, Any] = {}
    for name, value in sorted(captures.items()):
        if name == METADATA_KEY:
            raise ValueError(f"stream name {name!r} is reserved in golden files")
        array = np.asarray(value)
        if array.dtype.hasobject:
            raise TypeError(f"stream {name!r}: object arrays cannot be stored")
        if array.ndim == 0:
            raise ValueError(
                f"stream {name!r}: a capture is (frames, *shape), got a scalar"
            )
        array = np.ascontiguousarray(array)
        arrays[name] = array
        streams[name] = {
            "shape": list(array.shape[1:]),
            "dtype": array.dtype.str,
            "frames": int(array.shape[0]),
        }
    meta: dict[str, Any] = dict(metadata or {})
    meta.update(
        format_version=FORMAT_VERSION,
        scenario_hash=str(scenario_hash),
        shmpipeline_version=_package_version(),
        streams=streams,
    )
    payload = dict(arrays)
    payload[METADATA_KEY] = np.array(json.dumps(meta, sort_keys=True))
    content = _npz_bytes(payload)
    _check_replaceable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _npz_bytes(payload: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` (what :func:`numpy.savez_compressed` writes) with fixed
    member timestamps and order, so equal arrays give equal bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(payload):
            member = io.BytesIO()
            np.lib.format.write_array(member, payload[name], allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def _check_replaceable(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise GoldenFileError(
            f"refusing to write golden {path}: it exists and is not a regular file "
            "(a symlink, directory or device); remove it or name another golden path"
        )
    if not is_golden_file(path):
        raise GoldenFileError(
            f"refusing to overwrite {path}: it is not a shmpipeline golden file; "
            "remove it or name another golden path"
        )


def is_golden_file(path: str | PathLike[str]) -> bool:
    """Whether ``path`` is a regular file holding a golden of this format
    (a zip with the metadata member); reads at most the size limit."""
    try:
        data = read_user_bytes(
            path, what="golden", error=GoldenFileError, max_bytes=MAX_GOLDEN_FILE_BYTES
        )
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return f"{METADATA_KEY}.npy" in archive.namelist()
    except (GoldenFileError, zipfile.BadZipFile, OSError, ValueError):
        return False


def load_golden(
    path: str | PathLike[str], *, max_bytes: int = MAX_GOLDEN_ARRAY_BYTES
) -> Golden:
    """Read a golden written by :func:`save_golden` (any format version up to
    :data:`FORMAT_VERSION`).

    Raises :class:`~shmpipeline.errors.GoldenMissingError` (saying how to
    record it) when the file does not exist, and
    :class:`~shmpipeline.errors.GoldenFileError` (a
    :class:`~shmpipeline.errors.GoldenMismatchError`) when it is not a
    golden this version can read: not a regular file (FIFO, device,
    directory), over :data:`MAX_GOLDEN_FILE_BYTES` on disk or ``max_bytes``
    decompressed (checked before decompressing), foreign or corrupt,
    an unknown format version, arrays disagreeing with the recorded streams.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise GoldenMissingError(f"golden file missing: {path}; {RECORD_HINT}")
    data = read_user_bytes(
        path, what="golden", error=GoldenFileError, max_bytes=MAX_GOLDEN_FILE_BYTES
    )
    arrays = _read_npz(path, data, max_bytes)
    raw = arrays.pop(METADATA_KEY, None)
    if raw is None:
        raise GoldenFileError(
            f"{path}: no shmpipeline metadata (not a golden file); {RECORD_HINT}"
        )
    try:
        metadata = json.loads(str(raw[()]))
    except (ValueError, IndexError) as exc:
        raise GoldenFileError(f"{path}: corrupt golden metadata: {exc}") from None
    if not isinstance(metadata, dict):
        raise GoldenFileError(f"{path}: corrupt golden metadata: not a mapping")
    version = metadata.get("format_version")
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not 1 <= version <= FORMAT_VERSION
    ):
        raise GoldenFileError(
            f"{path}: golden format version {version!r} is not supported by this "
            f"shmpipeline {_package_version()} (reads 1 to {FORMAT_VERSION}); "
            f"re-{RECORD_HINT}"
        )
    _check_recorded_streams(path, arrays, metadata.get("streams"))
    for array in arrays.values():
        array.setflags(write=False)
    return Golden(MappingProxyType(arrays), MappingProxyType(metadata), path)


def _read_npz(path: Path, data: bytes, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` held in ``data``, refusing before any
    decompression when the members would inflate past ``max_bytes``, and
    checking each array header against its member's size."""

    def bad(why: str) -> GoldenFileError:
        return GoldenFileError(
            f"{path}: not a readable golden file ({why}); {RECORD_HINT}"
        )

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise bad(f"not a zip archive: {exc}") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_GOLDEN_MEMBERS:
            raise bad(f"{len(members)} members, more than {MAX_GOLDEN_MEMBERS}")
        total = sum(member.file_size for member in members)
        if total > max_bytes:
            raise GoldenFileError(
                f"{path}: its arrays take {total} bytes once decompressed, over the "
                f"{max_bytes}-byte limit for goldens (a corrupt or hostile file?)"
            )
        arrays: dict[str, np.ndarray] = {}
        for member in members:
            if not member.filename.endswith(".npy"):
                raise bad(f"unexpected member {member.filename!r}")
            try:
                with archive.open(member) as handle:
                    array = _read_member(handle, member.file_size)
            except GoldenFileError as exc:
                raise bad(f"member {member.filename!r}: {exc}") from None
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                raise bad(f"member {member.filename!r}: {exc}") from None
            arrays[member.filename[: -len(".npy")]] = array
    return arrays


def _read_member(handle: Any, size: int) -> np.ndarray:
    """One ``.npy`` member whose header must agree with its declared size."""
    fmt = np.lib.format
    version = fmt.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = fmt.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, fortran, dtype = fmt.read_array_header_2_0(handle)
    else:
        raise GoldenFileError(f"unsupported .npy version {version}")
    if dtype.hasobject:
        raise GoldenFileError("object arrays are not allowed")
    count = math.prod(shape)
    needed = count * dtype.itemsize
    if needed > size:
        raise GoldenFileError(
            f"header claims {needed} bytes of data in a {size}-byte member"
        )
    data = handle.read(needed)
    if len(data) != needed:
        raise GoldenFileError(f"truncated: {len(data)} of {needed} bytes")
    array = np.frombuffer(data, dtype=dtype, count=count)
    return array.reshape(shape, order="F" if fortran else "C")


def _check_recorded_streams(
    path: Path, arrays: Mapping[str, np.ndarray], streams: Any
) -> None:
    """The arrays must be those the metadata describes (a truncated or
    hand-edited file is an error, not a silent mismatch)."""
    if not isinstance(streams, dict) or set(streams) != set(arrays):
        raise GoldenMismatchError(
            f"{path}: corrupt golden: its arrays ({', '.join(sorted(arrays))}) are "
            "not the streams its metadata lists; " + RECORD_HINT
        )
    for name, array in arrays.items():
        info = streams[name]
        recorded = (
            (
                info.get("frames"),
                info.get("shape"),
                info.get("dtype"),
            )
            if isinstance(info, dict)
            else None
        )
        actual = (int(array.shape[0]), list(array.shape[1:]), array.dtype.str)
        if array.ndim == 0 or recorded != actual:
            raise GoldenMismatchError(
                f"{path}: corrupt golden: stream {name!r} is recorded as "
                f"{recorded!r} (frames, shape, dtype) but holds "
                f"{actual if array.ndim else 'a scalar'!r}; " + RECORD_HINT
            )
