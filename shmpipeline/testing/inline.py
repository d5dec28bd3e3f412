"""Inline reference executor: the pipeline stepped in one process.

The same kernel classes as the runtime (``registry.create_from_context``)
are called in :meth:`PipelineGraph.topological_order`, with the lockstep
semantics of the replay: at step ``k`` a kernel runs when its trigger got
frame ``k`` (from a source, or from a kernel earlier in the order); its
auxiliaries are the streams' current values, i.e. frame ``k`` when their
producer ran earlier in this step and frame ``k - 1`` across a feedback
loop. No processes, no shared memory: a fast oracle that
:func:`~shmpipeline.testing.replay.replay` must equal bit for bit on CPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from os import PathLike
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from shmpipeline.config import PipelineConfig
from shmpipeline.graph import PipelineGraph
from shmpipeline.kernel import KernelContext
from shmpipeline.testing.drive import host_array, run_lockstep
from shmpipeline.testing.results import FailureInfo, ReplayResult
from shmpipeline.testing.scenario import Scenario, as_scenario
from shmpipeline.testing.sources import SourcePlan

if TYPE_CHECKING:  # pragma: no cover
    from shmpipeline.registry import KernelRegistry

__all__ = ["InlineExecutor", "InlineKernelError", "run_inline"]

#: Buffers are aligned like shared-memory payloads, so SIMD code paths whose
#: choice depends on alignment behave the same in both executors.
ALIGNMENT = 64


class InlineKernelError(RuntimeError):
    """A kernel raised inside :meth:`InlineExecutor.step`."""

    def __init__(self, kernel: str, error: BaseException) -> None:
        self.kernel = kernel
        self.error = error
        super().__init__(f"kernel {kernel!r} failed: {type(error).__name__}: {error}")


def _aligned_zeros(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    nbytes = max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    raw = np.zeros(nbytes + ALIGNMENT, dtype=np.uint8)
    offset = (-raw.ctypes.data) % ALIGNMENT
    return (
        raw[offset : offset + nbytes].view(dtype)[: int(np.prod(shape))].reshape(shape)
    )


class InlineExecutor:
    """Holds every stream's current value and steps the kernels in order.

    ``values[name]`` is a stream's latest frame (zeros until written; a torch
    tensor for ``storage: gpu`` streams).
    """

    def __init__(self, config: PipelineConfig, *, registry: KernelRegistry | None = None) -> None:
        if registry is None:
            from shmpipeline.registry import get_default_registry

            registry = get_default_registry()
        self.config = config
        self.graph = PipelineGraph.from_config(config)
        self.specs = config.shared_memory_by_name
        self.values: dict[str, Any] = {
            name: self._zeros(spec) for name, spec in self.specs.items()
        }
        for name, spec in self.specs.items():  # as the manager's build() does
            if spec.initial is not None:
                from shmpipeline.stream_setup import initial_array

                self.write(name, initial_array(spec))
        by_name = config.kernels_by_name
        self.order = tuple(by_name[name] for name in self.graph.topological_order())
        self.kernels = {
            kernel.name: registry.create_from_context(
                KernelContext(kernel, self.specs, config_base_dir=config.base_dir)
            )
            for kernel in self.order
        }

    @staticmethod
    def _zeros(spec: Any) -> Any:
        if spec.storage == "gpu":
            from shmpipeline._torch import import_torch, torch_dtype

            torch = import_torch("a gpu stream in the inline executor")
            return torch.zeros(
                tuple(spec.shape), dtype=torch_dtype(spec.dtype), device=spec.gpu_device
            )
        return _aligned_zeros(tuple(spec.shape), spec.dtype)

    def write(self, stream: str, frame: Any) -> None:
        """Set a stream's current value (a source write)."""
        target = self.values[stream]
        if isinstance(target, np.ndarray):
            np.copyto(target, host_array(frame), casting="unsafe")
        else:
            import torch

            target.copy_(torch.as_tensor(host_array(frame)).to(target.device))

    def read(self, stream: str) -> np.ndarray:
        """A host copy of a stream's current value."""
        return np.array(host_array(self.values[stream]), copy=True)

    def _view(self, stream: str, storage: str, device: str | None) -> Any:
        """A stream's value as a kernel of ``storage`` sees it."""
        value = self.values[stream]
        is_array = isinstance(value, np.ndarray)
        if storage == "cpu":
            return value if is_array else host_array(value)
        import torch

        if is_array:
            return torch.from_numpy(value).to(device or "cuda")
        return value

    def step(self, written: Iterable[str]) -> tuple[str, ...]:
        """Run every kernel the streams ``written`` trigger (transitively), in
        topological order; return their names. A kernel exception is raised
        as :class:`InlineKernelError`."""
        updated = set(written)
        ran: list[str] = []
        for config in self.order:
            if config.input not in updated:
                continue
            kernel = self.kernels[config.name]
            storage = getattr(kernel, "storage", "cpu")
            device = self.specs[config.output].gpu_device
            trigger = self._view(config.input, storage, device)
            auxiliary = {
                b.alias: self._view(b.name, storage, device) for b in config.auxiliary
            }
            output = self.values[config.output]
            target = (
                output if storage != "cpu" or isinstance(output, np.ndarray) else None
            )
            if target is None:  # cpu kernel writing a gpu stream: via the host
                target = np.zeros(
                    self.specs[config.output].shape, self.specs[config.output].dtype
                )
            try:
                kernel.compute_into(trigger, target, auxiliary)
            except Exception as exc:
                raise InlineKernelError(config.name, exc) from exc
            if target is not output:
                self.write(config.output, target)
            updated.add(config.output)
            ran.append(config.name)
        return tuple(ran)


class _InlineDriver:
    """:class:`InlineExecutor` as a :class:`~shmpipeline.testing.drive.LockstepExecutor`."""

    #: step() computes the graph itself: nothing to overlap with
    overlaps = False

    def __init__(self, executor: InlineExecutor) -> None:
        self.executor = executor

    def published_ns(self) -> int:
        return 0

    def write(self, stream: str, frame: Any, k: int) -> None:
        self.executor.write(stream, frame)

    def read(self, stream: str) -> np.ndarray:
        return self.executor.read(stream)

    def step(self, written: frozenset[str], k: int) -> FailureInfo | None:
        try:
            self.executor.step(written)
        except InlineKernelError as exc:
            return FailureInfo(
                kernel=exc.kernel,
                error=f"{type(exc.error).__name__}: {exc.error}",
                frame=k,
            )
        return None

    def capture(self, stream: str, row: np.ndarray) -> None:
        np.copyto(row, host_array(self.executor.values[stream]))


def run_inline(
    scenario: Scenario | str | PathLike[str],
    *,
    registry: KernelRegistry | None = None,
    frames: int | None = None,
) -> ReplayResult:
    """Run a lockstep scenario with :class:`InlineExecutor`; the result has
    the same captures a correct :func:`~shmpipeline.testing.replay.replay`
    gives (and ``latency`` ``None``)."""
    scenario = as_scenario(scenario, registry)
    count = scenario.frame_count if frames is None else int(frames)
    plan = SourcePlan(scenario)
    failure: FailureInfo | None = None
    try:
        executor = InlineExecutor(scenario.pipeline, registry=registry)
    except Exception as exc:  # noqa: BLE001 - e.g. a kernel failing in __init__
        kernel = getattr(exc, "kernel", None)
        failure = FailureInfo(
            kernel=kernel, error=f"{type(exc).__name__}: {exc}", frame=None
        )
        executor = None
    specs = scenario.pipeline.shared_memory_by_name
    captures = {
        name: np.zeros((count, *specs[name].shape), specs[name].dtype)
        for name in scenario.capture
    }
    dropped: list[int] = []
    completed = 0
    if executor is not None:
        for name, value in plan.static.items():
            executor.write(name, value)
        run = run_lockstep(_InlineDriver(executor), plan, count, captures)
        completed, dropped, failure = run.completed, run.dropped, run.failure
    return ReplayResult(
        scenario=scenario.name,
        executor="inline",
        mode="lockstep",
        frames=count,
        frames_completed=completed,
        captures=MappingProxyType({n: a[:completed] for n, a in captures.items()}),
        failure=failure,
        latency=None,
        dropped_frames=tuple(dropped),
        expected_failure=scenario.expect_failure,
    )


def captures_equal(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    """Bit-for-bit equality of two capture sets (NaN payloads included)."""
    if set(a) != set(b):
        return False
    for name in a:
        x, y = np.ascontiguousarray(a[name]), np.ascontiguousarray(b[name])
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.tobytes() != y.tobytes():
            return False
    return True
