"""``acme.clipped_gain``: ``output = clip(gain * input, -limit, limit)``.

The class lives at module level in an installed package: worker processes
are spawned, and each one imports the kernel by this module path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from shmpipeline.config import KernelConfig, SharedMemoryConfig
from shmpipeline.kernel import Kernel
from shmpipeline.kernel_errors import config_error, parameter_error, parse_number


class ClippedGainKernel(Kernel):
    """Scale a float frame by ``gain`` and clip it to ``±limit``."""

    kind = "acme.clipped_gain"
    storage = "cpu"
    parameter_names = frozenset({"gain", "limit"})

    @classmethod
    def validate_config(
        cls, config: KernelConfig, shared_memory: Mapping[str, SharedMemoryConfig]
    ) -> None:
        """Same shape and float dtype in and out; a real gain; limit > 0."""
        super().validate_config(config, shared_memory)
        source, target = shared_memory[config.input], shared_memory[config.output]
        if source.dtype.kind != "f":
            raise config_error(config, "input", f"must be a float stream, got {source.dtype}")
        if (target.shape, target.dtype) != (source.shape, source.dtype):
            raise config_error(
                config, "output",
                f"must match the input ({source.shape}, {source.dtype}), got "
                f"({target.shape}, {target.dtype})",
            )
        parse_number(config, "gain")
        limit = parse_number(config, "limit", 1.0, positive=True)
        if limit > 1e6:
            raise parameter_error(config, "limit", f"must be <= 1e6, got {limit!r}")

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.gain = parse_number(self.config, "gain")
        self.limit = parse_number(self.config, "limit", 1.0, positive=True)

    def compute_into(self, trigger_input: Any, output: Any, auxiliary_inputs: Any) -> None:
        """Write ``clip(gain * input)`` into ``output`` without allocating."""
        np.multiply(trigger_input, self.gain, out=output)
        np.clip(output, -self.limit, self.limit, out=output)
