"""What every stream handle offers, CPU (:class:`~shmpipeline.stream.SharedStream`)
or GPU (:class:`~shmpipeline.stream.gpu.GpuSharedStream`).

Code that only moves frames through a stream (endpoints, the graph's checks,
the testing harness) is typed by :class:`StreamHandle`, not by one of the two
classes, so a fake or a future backend fits as long as it has these members.
Frames are ``numpy`` arrays on CPU streams and torch tensors on GPU streams,
hence ``Any``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["StreamHandle"]


@runtime_checkable
class StreamHandle(Protocol):
    """A handle on one shared-memory stream: its layout, its counters, and
    reading/writing whole frames."""

    @property
    def name(self) -> str: ...

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    @property
    def count(self) -> int:
        """How many frames were written so far."""
        ...

    @property
    def frame_id(self) -> int:
        """The id of the latest frame (0: nothing written yet)."""
        ...

    @property
    def closed(self) -> bool: ...

    def write(self, frame: Any, *, frame_id: int | None = None) -> None: ...

    def read(self) -> Any: ...

    def read_new(self, timeout: float | None = None) -> Any: ...

    def wait_for_frame_id(self, target: int, timeout: float | None = None) -> int: ...

    def close(self) -> None: ...
