"""Binary layout of a stream segment (layout version 1).

A segment is one 4096-byte header page followed by ``nslots`` payload slots,
each starting on a page boundary (``slot_stride`` is ``nbytes`` rounded up to
4096). All integers are native-endian (a segment never leaves its machine).

Header page::

    offset size  field
         0    8  magic  b"SHMPSTRM"
         8    4  layout version (u32)          12  4  header size (u32)
        16    4  flags (u32, 0)                20  4  ndim (u32)
        24   64  shape[8] (u64 each; unused dims 0)
        88   16  dtype str, ASCII, NUL padded (numpy ``dtype.str``, e.g. "<f4")
       104    8  itemsize (u64)               112  8  nbytes of one frame (u64)
       120    4  nslots (u32)                 124  4  reserved
       128    8  offset of slot 0 (u64)       136  8  slot stride (u64)
       144    8  creator pid (u64)            152  8  creator start time (u64,
                                                       /proc/<pid>/stat field 22)
       160    8  creation time (u64, ns since the epoch)
       192   64  namespace (UTF-8, NUL padded; empty = none)
       256  128  name (UTF-8, NUL padded)
       384  128  GPU descriptor (GPU streams only; zero otherwise), see below
       512  512  GPU IPC record (GPU streams only; zero otherwise)
      1024    8  count: completed writes (u64)           -- hot line
      1032    4  futex word, +1 per publish (u32)
      1036    4  waiters flag (u32): 1 while someone may sleep on the word
      1040    8  kick counter (u64): +1 per wake_waiters()
      1088    8  writer pid (u64; 0 until the first write)
      1096    8  writer start time (u64, /proc/<pid>/stat field 22)
      1104    8  CPU of the latest publish + 1 (u64; 0 unknown)
      2048 + 64*i  per-slot metadata (one cache line each, i < 32):
             +0  seq (u64, seqlock: odd while the slot is being written)
             +8  count of the frame in the slot (u64; 0 = none/invalid)
            +16  frame id (i64)
            +24  write time (i64, CLOCK_MONOTONIC ns)

The writer fields are set by each handle on its first write (zero in a
segment nobody wrote to, so older segments read as "no writer yet"); a
reader waiting without a timeout checks that process is alive.

The creator writes the magic last, so a segment without it is either not a
stream or still being initialised.

GPU streams (``storage: gpu``, :mod:`shmpipeline.stream.gpu`) are ordinary
segments whose payload slots hold the host mirror (used only with
``cpu_mirror``) and whose frames live in one CUDA buffer of ``nslots`` device
slots. Bytes 384..1024, unused by CPU streams, describe that buffer::

       384    8  GPU magic b"SHMPCUDA" (written last, after the record)
       392    4  descriptor version (u32)      396  4  flags (u32; bit 0: cpu mirror)
       400    4  CUDA device index (i32)       404  4  IPC record length (u32)
       408    8  device slot stride (u64)      416  8  device buffer bytes (u64)
       512  512  IPC record: what torch needs to map the creator's CUDA buffer
                 (``UntypedStorage._share_cuda_()``; encoded by stream.gpu)

Count, futex word, seqlocks, frame ids and write times stay in the header as
for any stream, so waiting, notification and consistency are shared.
"""

from __future__ import annotations

import struct

MAGIC = b"SHMPSTRM"
LAYOUT_VERSION = 1
HEADER_SIZE = 4096
PAGE = 4096
MAX_NDIM = 8
MAX_SLOTS = 32
MIN_SLOTS = 2
DTYPE_STR_LEN = 16
NAMESPACE_LEN = 64
NAME_LEN = 128
CUDA_IPC_LEN = 128

# byte offsets of the static fields
OFF_MAGIC = 0
OFF_VERSION = 8
OFF_HEADER_SIZE = 12
OFF_FLAGS = 16
OFF_NDIM = 20
OFF_SHAPE = 24
OFF_DTYPE = 88
OFF_ITEMSIZE = 104
OFF_NBYTES = 112
OFF_NSLOTS = 120
OFF_SLOT_OFFSET = 128
OFF_SLOT_STRIDE = 136
OFF_CREATOR_PID = 144
OFF_CREATOR_START = 152
OFF_CREATED_NS = 160
OFF_NAMESPACE = 192
OFF_NAME = 256
OFF_CUDA_IPC = 384

# hot fields, as indices into u64 ("Q"/"q") and u32 ("I") views of the header
OFF_COUNT = 1024
OFF_FUTEX = 1032
OFF_WAITERS = 1036
OFF_KICK = 1040
OFF_WRITER_PID = 1088
OFF_WRITER_START = 1096
OFF_WRITER_CPU = 1104
Q_COUNT = OFF_COUNT // 8
Q_WRITER_PID = OFF_WRITER_PID // 8
Q_WRITER_START = OFF_WRITER_START // 8
Q_WRITER_CPU = OFF_WRITER_CPU // 8
Q_KICK = OFF_KICK // 8
I_FUTEX = OFF_FUTEX // 4
I_WAITERS = OFF_WAITERS // 4

OFF_SLOT_META = 2048
SLOT_META_SIZE = 64
# u64 indices relative to a slot's metadata base index
SLOT_SEQ = 0
SLOT_COUNT = 1
SLOT_FRAME_ID = 2
SLOT_WRITE_NS = 3


# GPU descriptor (see the module docstring)
GPU_MAGIC = b"SHMPCUDA"
GPU_DESCRIPTOR_VERSION = 1
GPU_FLAG_MIRROR = 1
OFF_GPU_MAGIC = OFF_CUDA_IPC
OFF_GPU_FIELDS = OFF_CUDA_IPC + 8
OFF_GPU_RECORD = 512
GPU_RECORD_LEN = OFF_COUNT - OFF_GPU_RECORD
_GPU_FIELDS = "=IIiIQQ"


def pack_gpu_descriptor(
    *,
    flags: int,
    device_index: int,
    record_len: int,
    device_stride: int,
    buffer_bytes: int,
) -> bytes:
    """Bytes ``OFF_GPU_FIELDS`` onwards of the GPU descriptor (no magic)."""
    return struct.pack(
        _GPU_FIELDS,
        GPU_DESCRIPTOR_VERSION,
        flags,
        device_index,
        record_len,
        device_stride,
        buffer_bytes,
    )


def unpack_gpu_descriptor(buf: bytes | memoryview) -> dict | None:
    """Decode the GPU descriptor of a header; ``None`` when it has none (a
    CPU stream, or a GPU stream whose creator is still initialising it)."""
    raw = bytes(buf[OFF_GPU_MAGIC:OFF_COUNT])
    if raw[:8] != GPU_MAGIC:
        return None
    version, flags, device, record_len, stride, nbytes = struct.unpack_from(
        _GPU_FIELDS, raw, 8
    )
    start = OFF_GPU_RECORD - OFF_GPU_MAGIC
    return {
        "version": version,
        "flags": flags,
        "cpu_mirror": bool(flags & GPU_FLAG_MIRROR),
        "device_index": device,
        "device_stride": stride,
        "buffer_bytes": nbytes,
        "record": raw[start : start + min(record_len, GPU_RECORD_LEN)],
        "record_len": record_len,
    }


def slot_meta_index(slot: int) -> int:
    """u64 index of slot ``slot``'s metadata line in the header."""
    return (OFF_SLOT_META + SLOT_META_SIZE * slot) // 8


def slot_stride(nbytes: int) -> int:
    """Bytes between two slots: one frame rounded up to whole pages."""
    return max(PAGE, -(-nbytes // PAGE) * PAGE)


def segment_size(nbytes: int, nslots: int) -> int:
    """Total segment size for ``nslots`` frames of ``nbytes``."""
    return HEADER_SIZE + nslots * slot_stride(nbytes)


def _fixed(text: str, length: int, what: str) -> bytes:
    raw = text.encode("utf-8")
    if len(raw) > length:
        raise ValueError(f"{what} {text!r} is longer than {length} bytes")
    return raw.ljust(length, b"\0")


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def pack_static(
    *,
    shape: tuple[int, ...],
    dtype_str: str,
    itemsize: int,
    nbytes: int,
    nslots: int,
    creator_pid: int,
    creator_start: int,
    created_ns: int,
    namespace: str,
    name: str,
) -> bytes:
    """Bytes 8..512 of the header (everything static except the magic)."""
    dims = list(shape) + [0] * (MAX_NDIM - len(shape))
    head = struct.pack(
        "=IIII8Q16sQQIIQQQQQ",
        LAYOUT_VERSION,
        HEADER_SIZE,
        0,
        len(shape),
        *dims,
        _fixed(dtype_str, DTYPE_STR_LEN, "dtype"),
        itemsize,
        nbytes,
        nslots,
        0,
        HEADER_SIZE,
        slot_stride(nbytes),
        creator_pid,
        creator_start,
        created_ns,
    )
    assert len(head) == OFF_CREATED_NS + 8 - OFF_VERSION
    pad = b"\0" * (OFF_NAMESPACE - OFF_CREATED_NS - 8)
    return (
        head
        + pad
        + _fixed(namespace, NAMESPACE_LEN, "namespace")
        + _fixed(name, NAME_LEN, "name")
    )


def unpack_static(buf: bytes | memoryview) -> dict:
    """Decode the static header fields (no validation beyond decoding)."""
    raw = bytes(buf[:OFF_CUDA_IPC])
    (
        version,
        header_size,
        flags,
        ndim,
        *rest,
    ) = struct.unpack_from("=IIII8Q16sQQIIQQQQQ", raw, OFF_VERSION)
    dims = rest[:MAX_NDIM]
    (
        dtype_raw,
        itemsize,
        nbytes,
        nslots,
        _reserved,
        slot_offset,
        stride,
        creator_pid,
        creator_start,
        created_ns,
    ) = rest[MAX_NDIM:]
    return {
        "magic": raw[OFF_MAGIC : OFF_MAGIC + 8],
        "version": version,
        "header_size": header_size,
        "flags": flags,
        "ndim": ndim,
        "shape": tuple(int(d) for d in dims[: min(ndim, MAX_NDIM)]),
        "dims": tuple(int(d) for d in dims),
        "dtype_str": _text(dtype_raw),
        "itemsize": itemsize,
        "nbytes": nbytes,
        "nslots": nslots,
        "slot_offset": slot_offset,
        "slot_stride": stride,
        "creator_pid": creator_pid,
        "creator_start": creator_start,
        "created_ns": created_ns,
        "namespace": _text(raw[OFF_NAMESPACE : OFF_NAMESPACE + NAMESPACE_LEN]),
        "name": _text(raw[OFF_NAME : OFF_NAME + NAME_LEN]),
    }


def read_creator(buf: bytes | memoryview) -> tuple[int, int]:
    """(creator pid, creator start time) of a stream segment, readable even
    before the magic is written; (0, 0) when the bytes do not look like one
    of our headers (a foreign segment's creator is unknown)."""
    raw = bytes(buf[: OFF_CREATOR_START + 8])
    if len(raw) < OFF_CREATOR_START + 8:
        return 0, 0
    if raw[:8] not in (MAGIC, b"\0" * 8):
        return 0, 0
    (version,) = struct.unpack_from("=I", raw, OFF_VERSION)
    pid, start = struct.unpack_from("=QQ", raw, OFF_CREATOR_PID)
    if version != LAYOUT_VERSION or not 0 < pid < 2**31:
        return 0, 0
    return pid, start
