"""``acme.ramp`` (a source) and ``acme.text_log`` (a sink).

Sources and sinks run in threads of the manager process: they talk to
devices and files. Both check their parameters in ``validate_config`` with
the same message format as kernels (``source 'x': parameters.y: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from shmpipeline.config import SharedMemoryConfig
from shmpipeline.kernel_errors import config_error, parameter_error
from shmpipeline.sink import Sink
from shmpipeline.source import Source


def _number(config: Any, key: str, default: float) -> float:
    value = config.parameters.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise parameter_error(config, key, f"must be a finite number, got {value!r}")
    return float(value)


def _known(config: Any, keys: tuple[str, ...]) -> None:
    for key in config.parameters:
        if key not in keys:
            raise parameter_error(config, key, f"unknown parameter (known: {', '.join(keys)})")


class RampSource(Source):
    """Frame ``n`` is ``start + n * step`` everywhere; ``frames`` frames, then
    nothing (null: forever)."""

    kind = "acme.ramp"
    KEYS = ("start", "step", "frames")

    @classmethod
    def validate_config(cls, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]) -> None:
        """Known numeric parameters; ``frames`` a positive integer or null."""
        super().validate_config(config, shared_memory)
        _known(config, cls.KEYS)
        _number(config, "start", 0.0)
        _number(config, "step", 1.0)
        frames = config.parameters.get("frames")
        bad = isinstance(frames, bool) or not isinstance(frames, int) or frames <= 0
        if frames is not None and bad:
            raise parameter_error(
                config, "frames", f"must be a positive integer or null, got {frames!r}"
            )

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        config = context.config
        self.start = _number(config, "start", 0.0)
        self.step = _number(config, "step", 1.0)
        self.frames = config.parameters.get("frames")
        self.n = 0

    def read(self) -> Any | None:
        """The next ramp frame, or ``None`` once ``frames`` were made."""
        if self.frames is not None and self.n >= self.frames:
            self.wait(0.01)
            return None
        spec = self.context.stream_spec
        frame = np.full(spec.shape, self.start + self.n * self.step, dtype=spec.dtype)
        self.n += 1
        return frame


class TextLogSink(Sink):
    """One line per frame, ``count frame_id v0 v1 ...``, appended to
    ``parameters.path`` (relative to the pipeline file's directory)."""

    kind = "acme.text_log"

    @classmethod
    def validate_config(cls, config: Any, shared_memory: Mapping[str, SharedMemoryConfig]) -> None:
        """A non-empty ``path`` whose directory exists."""
        super().validate_config(config, shared_memory)
        _known(config, ("path",))
        path = config.parameters.get("path")
        if not isinstance(path, str) or not path.strip():
            raise parameter_error(config, "path", f"must be a file name, got {path!r}")
        if config.output_streams:
            raise config_error(config, "outputs", "this sink writes no stream")

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.path = Path(context.config_base_dir) / context.config.parameters["path"]
        self._file = None

    def open(self) -> None:
        """Open the log (the directory must exist)."""
        self._file = self.path.open("a", encoding="utf-8")

    def consume_publication(self, publication: Any, writers: Any) -> None:
        """Append one line for this frame."""
        values = " ".join(f"{v:.6g}" for v in np.ravel(publication.payload))
        self._file.write(f"{publication.count} {publication.frame_id} {values}\n")
        self._file.flush()

    def close(self) -> None:
        """Close the log."""
        if self._file is not None:
            self._file.close()
