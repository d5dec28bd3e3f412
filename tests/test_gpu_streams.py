"""GPU streams (``storage: gpu``) and the optional-torch contract.

- Without torch: ``import shmpipeline`` works and never imports torch; gpu
  kinds and gpu streams fail with a clear "install shmpipeline[gpu]" error
  (checked in subprocesses with torch hidden).
- The stream logic (seqlock reads of device slots, write_view publishing,
  the cpu mirror, the factory by storage, pickling) runs here on a host
  stand-in for the three CUDA calls (allocate/export, map, synchronise), so
  it is exercised on machines without CUDA.
- CUDA-only tests (``gpu`` marker, skipped with a reason elsewhere): CUDA
  IPC between processes, device placement, the mirror read by a process
  without CUDA, and a mixed cpu/gpu pipeline through the manager.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from _gpu_support import require_cuda
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.config import SharedMemoryConfig
from shmpipeline.errors import (
    StreamClosedError,
    StreamFrameError,
    StreamLayoutError,
)
from shmpipeline.stream import SharedStream, create_stream, open_stream
from shmpipeline.stream import _header as H
from shmpipeline.stream import gpu as gpu_stream

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gspec(name="g", shape=(3, 4), dtype="float32", mirror=True, device="cuda:0"):
    return SharedMemoryConfig(
        name, tuple(shape), np.dtype(dtype), "gpu", device, mirror
    )


def hspec(name="h", shape=(3, 4), dtype="float32"):
    return SharedMemoryConfig(name, tuple(shape), np.dtype(dtype))


def run_python(code: str, *, block_torch: bool = False, env=None, timeout=120):
    """Run ``code`` in a fresh interpreter (torch hidden when asked)."""
    prelude = "import sys\n"
    if block_torch:
        prelude += (
            "sys.modules['torch'] = None  # import torch -> ModuleNotFoundError\n"
        )
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


# --- header and record encoding -------------------------------------------------------------

BLOBS = st.one_of(st.none(), st.binary(max_size=80))


@settings(max_examples=100, deadline=None)
@given(
    device=st.integers(0, 15),
    handle=BLOBS,
    size=st.integers(0, 2**63),
    offset=st.integers(0, 2**63),
    counter=BLOBS,
    counter_offset=st.integers(0, 2**63),
    event=BLOBS,
    sync=st.booleans(),
)
def test_ipc_record_round_trips(
    device, handle, size, offset, counter, counter_offset, event, sync
):
    share = (device, handle, size, offset, counter, counter_offset, event, sync)
    assert gpu_stream.decode_record(gpu_stream.encode_record(share)) == share


def test_gpu_descriptor_lives_in_the_reserved_header_area():
    page = bytearray(H.HEADER_SIZE)
    assert H.unpack_gpu_descriptor(page) is None  # a host stream has none
    fields = H.pack_gpu_descriptor(
        flags=H.GPU_FLAG_MIRROR,
        device_index=3,
        record_len=5,
        device_stride=1024,
        buffer_bytes=3072,
    )
    page[H.OFF_GPU_FIELDS : H.OFF_GPU_FIELDS + len(fields)] = fields
    page[H.OFF_GPU_RECORD : H.OFF_GPU_RECORD + 5] = b"abcde"
    page[H.OFF_GPU_MAGIC : H.OFF_GPU_MAGIC + 8] = H.GPU_MAGIC
    desc = H.unpack_gpu_descriptor(page)
    assert desc["cpu_mirror"] and desc["device_index"] == 3
    assert (desc["device_stride"], desc["buffer_bytes"], desc["record"]) == (
        1024,
        3072,
        b"abcde",
    )
    # the GPU area sits between the static fields and the hot counters
    assert H.OFF_NAME + H.NAME_LEN <= H.OFF_GPU_MAGIC
    assert H.OFF_GPU_RECORD + H.GPU_RECORD_LEN <= H.OFF_COUNT


# --- without torch ------------------------------------------------------------------------


def test_import_shmpipeline_never_imports_torch():
    out = run_python(
        """
        import shmpipeline, shmpipeline.kernels, shmpipeline.stream, shmpipeline.registry
        from shmpipeline.registry import get_default_registry
        get_default_registry().kinds()
        import shmpipeline.stream.gpu, shmpipeline.stream.factory
        print(sys.modules.get('torch') is not None)
        """
    )
    assert out.strip() == "False"


def test_without_torch_gpu_kinds_and_streams_say_how_to_install():
    out = run_python(
        """
        import numpy as np
        import shmpipeline
        from shmpipeline.config import KernelConfig, SharedMemoryConfig
        from shmpipeline.errors import ConfigValidationError, GpuUnavailableError
        from shmpipeline.registry import get_default_registry
        from shmpipeline.stream import create_stream, GpuSharedStream

        registry = get_default_registry()
        assert 'gpu.scale' in registry.kinds()
        try:
            registry.get('gpu.scale')
        except ConfigValidationError as exc:
            print('kind:', exc)
        spec = SharedMemoryConfig('g', (4,), np.dtype('float32'), 'gpu', 'cuda:0', True)
        sm = {'g': spec, 'o': SharedMemoryConfig('o', (4,), np.dtype('float32'), 'gpu', 'cuda:0')}
        try:
            registry.validate(KernelConfig('stage', 'gpu.scale', 'g', 'o', parameters={'factor': 2}), sm)
        except ConfigValidationError as exc:
            print('validate:', exc)
        try:
            create_stream(spec)
        except GpuUnavailableError as exc:
            print('stream:', exc)
        try:
            import shmpipeline.kernels.gpu
        except ModuleNotFoundError as exc:
            print('module:', exc.name, exc)
        """,
        block_torch=True,
    )
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    hint = "pip install 'shmpipeline[gpu]'"
    assert "'gpu.scale' needs PyTorch" in lines["kind"] and hint in lines["kind"]
    assert (
        lines["validate"].startswith("kernel 'stage': kind: ")
        and hint in lines["validate"]
    )
    assert "GPU stream 'g' needs PyTorch" in lines["stream"] and hint in lines["stream"]
    assert lines["module"].startswith("torch ") and hint in lines["module"]


# --- the stream logic on a host stand-in for CUDA -------------------------------------------


class HostBackend:
    """CPU stand-in for the CUDA calls of ``shmpipeline.stream.gpu`` (same
    process only: ``map`` is never reached because a stream opened in its
    creating process reuses the creator's buffer)."""

    def device(self, gpu_device, what):
        import torch

        return torch.device("cpu")

    def allocate(self, torch, device, nbytes):
        buffer = torch.zeros(nbytes, dtype=torch.uint8)
        share = (0, b"h" * 66, nbytes, 0, b"/torch_stand_in", 0, b"e" * 64, True)
        return buffer, gpu_stream.encode_record(share)

    def map(self, torch, device, descriptor, where):
        raise AssertionError("a same-process open must reuse the creator's buffer")

    def synchronize(self, torch, device):
        return None


@pytest.fixture
def torch_host(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(gpu_stream, "_BACKEND", HostBackend())
    return torch


@pytest.fixture
def streams():
    """Collects handles; closes and unlinks them after the test."""
    made = []
    yield made
    for handle in reversed(made):
        try:
            handle.unlink()
        except Exception:
            pass
        handle.close()


def test_gpu_stream_write_read_and_metadata(torch_host, streams):
    torch = torch_host
    s = create_stream(gspec())
    streams.append(s)
    assert isinstance(s, gpu_stream.GpuSharedStream)
    assert (s.storage, s.shape, s.dtype, s.cpu_mirror, s.count) == (
        "gpu",
        (3, 4),
        np.dtype("float32"),
        True,
        0,
    )
    assert torch.equal(s.read(), torch.zeros(3, 4))  # nothing written: zeros
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    s.write(x, frame_id=41)
    assert (s.count, s.frame_id) == (1, 41)
    assert torch.equal(s.read(), x)
    assert (s.last_read_count, s.last_frame_id) == (1, 41)
    s.write(np.full((3, 4), 2, np.float32))  # ndarrays are uploaded
    out = torch.empty(3, 4)
    assert s.read_into(out) == 2 and torch.equal(out, torch.full((3, 4), 2.0))
    host = np.empty((3, 4), np.float32)
    assert s.read_into(host) == 2 and (host == 2).all()


def test_write_view_publishes_on_clean_exit_only(torch_host, streams):
    torch = torch_host
    s = create_stream(gspec())
    streams.append(s)
    with s.write_view(frame_id=7) as frame:
        assert frame.shape == (3, 4) and frame.dtype == torch.float32
        torch.add(torch.ones(3, 4), 1, out=frame)
    assert (s.count, s.frame_id) == (1, 7)
    with pytest.raises(ValueError):
        with s.write_view() as frame:
            frame.fill_(99)
            raise ValueError("compute failed")
    assert s.count == 1 and torch.equal(s.read(), torch.full((3, 4), 2.0))
    with s.write_view() as frame:  # still usable
        frame.fill_(3)
    assert s.count == 2 and float(s.read()[0, 0]) == 3.0


def test_cpu_mirror_is_the_host_view_of_the_same_stream(torch_host, streams):
    torch = torch_host
    s = create_stream(gspec())
    streams.append(s)
    reader = open_stream(gspec(), storage="cpu")
    streams.append(reader)
    assert type(reader) is SharedStream
    with s.write_view(frame_id=5) as frame:
        frame.copy_(torch.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(
        reader.read_new(timeout=5), np.arange(12.0).reshape(3, 4)
    )
    assert reader.last_frame_id == 5


def test_without_mirror_host_readers_are_refused_but_device_reads_fill_arrays(
    torch_host, streams
):
    s = create_stream(gspec(mirror=False, dtype="int16"))
    streams.append(s)
    with pytest.raises(
        StreamLayoutError, match="without a cpu mirror.*cpu_mirror: true"
    ):
        open_stream(gspec(mirror=False, dtype="int16"), storage="cpu")
    s.write(np.arange(12, dtype=np.int16).reshape(3, 4))
    out = np.zeros((3, 4), np.int16)
    assert s.read_into(out) == 1
    np.testing.assert_array_equal(out, np.arange(12).reshape(3, 4))
    # the host slots stay untouched without a mirror
    np.testing.assert_array_equal(s.host_stream.read(), np.zeros((3, 4)))


def test_bad_frames_are_refused_and_leave_the_stream_unchanged(torch_host, streams):
    torch = torch_host
    s = create_stream(gspec())
    streams.append(s)
    s.write(torch.ones(3, 4))
    for frame in (
        torch.ones(4, 3),
        torch.ones(3, 4, dtype=torch.float64),
        np.ones((3, 4)),  # float64 does not fit float32 without loss
        "frame",
    ):
        with pytest.raises(StreamFrameError):
            s.write(frame)
    with pytest.raises(StreamFrameError):
        s.read_into(torch.empty(3, 4, dtype=torch.int32))
    with pytest.raises(StreamFrameError):
        s.read_into([0] * 12)
    assert s.count == 1 and torch.equal(s.read(), torch.ones(3, 4))


def test_pickle_reopens_and_exist_ok_attaches(torch_host, streams):
    torch = torch_host
    s = create_stream(gspec())
    streams.append(s)
    twin = pickle.loads(pickle.dumps(s))
    streams.append(twin)
    again = create_stream(gspec(), exist_ok=True)
    streams.append(again)
    s.write(torch.full((3, 4), 4.0))
    assert torch.equal(twin.read_new(timeout=5), torch.full((3, 4), 4.0))
    assert torch.equal(again.read(), torch.full((3, 4), 4.0))
    with pytest.raises(TimeoutError):
        twin.read_new(timeout=0.01)


def test_closed_handles_and_unlink(torch_host):
    torch = torch_host
    s = create_stream(gspec())
    key = (s.segment_name, s.host_stream._inode)
    assert key in gpu_stream._CREATED
    s.close()
    s.close()  # idempotent
    with pytest.raises(StreamClosedError):
        s.read()
    with pytest.raises(StreamClosedError):
        s.write(torch.ones(3, 4))
    with pytest.raises(StreamClosedError):
        s.write_view()
    s.unlink()
    s.unlink()
    assert key not in gpu_stream._CREATED


def test_a_host_stream_is_not_a_gpu_stream(torch_host, streams):
    h = create_stream(hspec("plain"))
    streams.append(h)
    started = time.monotonic()
    with pytest.raises(StreamLayoutError, match="host \\(storage: cpu\\) stream"):
        gpu_stream.GpuSharedStream.open("plain")
    assert time.monotonic() - started < 60  # no long wait for an old stream


def test_gpu_streams_refuse_dtypes_torch_cannot_compute(torch_host):
    with pytest.raises(StreamLayoutError, match="uint16 is not supported on the GPU"):
        create_stream(gspec(dtype="uint16"))


def test_wait_and_wake_are_the_headers(torch_host, streams):
    torch = torch_host
    s = create_stream(gspec())
    streams.append(s)
    assert s.wait_new(0, timeout=0.01) == 0
    timer = threading.Timer(0.05, lambda: s.write(torch.ones(3, 4)))
    timer.start()
    try:
        assert s.wait_new(0, timeout=30) == 1
    finally:
        timer.join()
    s.wake_waiters()


def test_concurrent_reads_never_see_a_torn_frame(torch_host, streams):
    """A writer thread publishes frames whose elements all equal the frame
    number while readers copy device slots into tensors and host arrays."""
    torch = torch_host
    shape = (64, 256)
    writer = create_stream(gspec(shape=shape, dtype="int64", mirror=False))
    streams.append(writer)
    reader = pickle.loads(pickle.dumps(writer))
    streams.append(reader)
    stop = threading.Event()
    problems = []

    def write():
        k = 0
        while not stop.is_set():
            k += 1
            with writer.write_view() as frame:
                frame.fill_(k)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        tensor, array = torch.empty(shape, dtype=torch.int64), np.empty(shape, np.int64)
        deadline = time.monotonic() + 0.5
        reads = 0
        while time.monotonic() < deadline or reads < 50:
            for out in (tensor, array):
                count = reader.read_into(out)
                values = np.asarray(out)
                if not (values == values.flat[0]).all() or values.flat[0] != count:
                    problems.append((count, np.unique(values)[:5]))
            reads += 1
    finally:
        stop.set()
        thread.join()
    assert not problems, problems[:3]


# --- a reader without CUDA ------------------------------------------------------------------


def test_a_reader_without_torch_gets_a_clear_error_and_can_read_the_mirror(
    torch_host, streams
):
    s = create_stream(gspec(name="shared"))
    streams.append(s)
    s.write(np.full((3, 4), 6, np.float32), frame_id=3)
    out = run_python(
        """
        import numpy as np
        from shmpipeline.config import SharedMemoryConfig
        from shmpipeline.errors import GpuUnavailableError
        from shmpipeline.stream import GpuSharedStream, open_stream

        try:
            GpuSharedStream.open('shared')
        except GpuUnavailableError as exc:
            print('error:', exc)
        spec = SharedMemoryConfig('shared', (3, 4), np.dtype('float32'), 'gpu', 'cuda:0', True)
        with open_stream(spec, storage='cpu') as host:
            print('mirror:', host.read().tolist()[0], host.last_frame_id)
        """,
        block_torch=True,
    )
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert "GPU stream 'shared' (on cuda:0) needs PyTorch" in lines["error"]
    assert "shmpipeline[gpu]" in lines["error"]
    assert "cpu_mirror can be read on the host" in lines["error"]
    assert lines["mirror"] == "[6.0, 6.0, 6.0, 6.0] 3"


def test_a_reader_with_cpu_only_torch_gets_a_clear_error(torch_host, streams):
    if torch_host.cuda.is_available():
        pytest.skip("this machine has CUDA")
    s = create_stream(gspec(name="shared", mirror=False))
    streams.append(s)
    out = run_python(
        """
        from shmpipeline.errors import GpuUnavailableError
        from shmpipeline.stream import GpuSharedStream
        try:
            GpuSharedStream.open('shared')
        except GpuUnavailableError as exc:
            print(exc)
        """
    )
    assert "GPU stream 'shared' (on cuda:0) needs CUDA device 'cuda:0'" in out
    assert "torch.cuda.is_available() is False" in out


def test_record_too_long_for_the_header_is_refused(torch_host, monkeypatch):
    class LongRecord(HostBackend):
        def allocate(self, torch, device, nbytes):
            buffer, _ = super().allocate(torch, device, nbytes)
            return buffer, b"x" * (H.GPU_RECORD_LEN + 1)

    monkeypatch.setattr(gpu_stream, "_BACKEND", LongRecord())
    from shmpipeline.errors import StreamError

    with pytest.raises(StreamError, match="expandable_segments"):
        create_stream(gspec())


# --- CUDA only ----------------------------------------------------------------------------------

CHILD = """
import sys, numpy as np, torch
from shmpipeline.config import SharedMemoryConfig
from shmpipeline.stream import open_stream
a = open_stream(SharedMemoryConfig('a', (256,), np.dtype('float32'), 'gpu', 'cuda:0', True))
b = open_stream(SharedMemoryConfig('b', (256,), np.dtype('float32'), 'gpu', 'cuda:0', False))
frame = a.empty_frame()
a.read_new_into(frame, timeout=60)
assert frame.device.type == 'cuda'
with b.write_view(frame_id=a.last_frame_id) as out:
    torch.mul(frame, 2, out=out)
b.close(); a.close()
print('ok')
"""


@pytest.mark.gpu
def test_cuda_ipc_between_processes_device_placement_and_mirror():
    require_cuda()
    import torch

    a = create_stream(gspec("a", (256,), mirror=True))
    b = create_stream(gspec("b", (256,), mirror=False))
    try:
        assert a.device == torch.device("cuda", 0) and a.gpu_device == "cuda:0"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        x = torch.arange(256, dtype=torch.float32, device="cuda:0")
        a.write(x, frame_id=11)
        got = b.read_new(timeout=60)
        stdout, stderr = child.communicate(timeout=60)
        assert child.returncode == 0, stderr
        assert got.device == torch.device("cuda", 0)
        assert torch.equal(got, x * 2) and b.last_frame_id == 11
        # the mirror, read by a process that must not touch CUDA
        out = run_python(
            """
            import numpy as np
            from shmpipeline.config import SharedMemoryConfig
            from shmpipeline.stream import open_stream
            spec = SharedMemoryConfig('a', (256,), np.dtype('float32'), 'gpu', 'cuda:0', True)
            with open_stream(spec, storage='cpu') as host:
                print(float(host.read().sum()), host.last_frame_id)
            """,
            env={"CUDA_VISIBLE_DEVICES": ""},
        )
        assert out.split() == [str(float(sum(range(256)))), "11"]
    finally:
        for s in (a, b):
            s.unlink()
            s.close()


@pytest.mark.gpu
def test_host_to_device_stream_uploads_host_frames():
    require_cuda()
    import torch

    h = create_stream(hspec("host", (8,)))
    try:
        reader = open_stream(hspec("host", (8,)), storage="gpu", gpu_device="cuda:0")
        h.write(np.arange(8, dtype=np.float32), frame_id=2)
        out = reader.empty_frame()
        assert reader.read_new_into(out, timeout=10) == 1
        assert out.device.type == "cuda"
        assert torch.equal(out.cpu(), torch.arange(8, dtype=torch.float32))
        assert reader.last_frame_id == 2
        reader.close()
    finally:
        h.unlink()
        h.close()


MIXED = {
    "shared_memory": [
        {"name": "frame", "shape": [64], "dtype": "float32"},
        {
            "name": "scaled",
            "shape": [64],
            "dtype": "float32",
            "storage": "gpu",
            "gpu_device": "cuda:0",
            "cpu_mirror": True,
        },
        {"name": "out", "shape": [64], "dtype": "float32"},
    ],
    "kernels": [
        {
            "name": "to_gpu",
            "kind": "gpu.scale",
            "input": "frame",
            "output": "scaled",
            "parameters": {"factor": 3.0},
        },
        {
            "name": "back",
            "kind": "cpu.add_constant",
            "input": "scaled",
            "output": "out",
            "parameters": {"constant": 1.0},
        },
    ],
}


@pytest.mark.gpu
def test_mixed_pipeline_through_the_manager():
    """cpu stream -> gpu kernel -> gpu stream (mirror) -> cpu kernel."""
    require_cuda()
    manager_module = pytest.importorskip("shmpipeline.manager")
    manager = manager_module.PipelineManager(MIXED)
    try:
        manager.build()
        manager.start()
        frame = manager.get_stream("frame")
        out = open_stream(hspec("out", (64,)))
        try:
            x = np.arange(64, dtype=np.float32)
            frame.write(x, frame_id=1)
            got = out.read_new(timeout=60)
            np.testing.assert_allclose(got, 3 * x + 1)
        finally:
            out.close()
        manager.raise_if_failed()
    finally:
        manager.shutdown()


def test_struct_layout_of_the_record_is_native_and_compact():
    record = gpu_stream.encode_record(
        (1, b"h" * 66, 10, 0, b"/torch_1_2", 0, b"e" * 64, False)
    )
    assert len(record) < H.GPU_RECORD_LEN
    assert struct.unpack_from("=i", record)[0] == 1
