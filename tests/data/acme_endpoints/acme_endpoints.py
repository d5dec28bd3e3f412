"""A third-party camera source and file-writing sink (test plugins).

``acme.camera`` stands for hardware: constructing it records the fact in
``parameters.marker`` (a file), so a test can see it was never started.
``acme.npy_writer`` writes each frame it consumes to
``parameters.directory`` as ``frame_<n>.npy``. ``acme.mirror`` is a sink
standing for a deformable mirror (consumes its command, does nothing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shmpipeline.sink import Sink
from shmpipeline.source import Source


class AcmeCamera(Source):
    kind = "acme.camera"

    @classmethod
    def validate_config(cls, config, shared_memory) -> None:
        return None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        marker = context.config.parameters.get("marker")
        if marker:
            Path(marker).write_text("started")
        self._rng = np.random.default_rng()

    def read(self) -> Any:
        spec = self.context.stream_spec
        return self._rng.random(spec.shape).astype(spec.dtype)


class AcmeNpyWriter(Sink):
    kind = "acme.npy_writer"

    @classmethod
    def validate_config(cls, config, shared_memory) -> None:
        return None

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._directory = Path(context.config.parameters["directory"])
        self._count = 0

    def consume(self, value: Any) -> None:
        np.save(self._directory / f"frame_{self._count:05d}.npy", np.asarray(value))
        self._count += 1


class AcmeMirror(Sink):
    kind = "acme.mirror"

    @classmethod
    def validate_config(cls, config, shared_memory) -> None:
        return None

    def consume(self, value: Any) -> None:
        del value
