"""Kernels used by the runtime tests; importable by spawned workers (the
test directory is on the path they inherit)."""

from __future__ import annotations

import signal
import time

import numpy as np

from shmpipeline.kernel import Kernel


class FailingInitKernel(Kernel):
    kind = "test.failing_init"
    storage = "cpu"

    def __init__(self, context):
        super().__init__(context)
        raise ValueError("bad calibration file")

    def compute_into(self, trigger_input, output, auxiliary_inputs):  # pragma: no cover
        pass


class HangingKernel(Kernel):
    """Ignores SIGTERM and never returns from compute_into."""

    kind = "test.hanging"
    storage = "cpu"

    def __init__(self, context):
        super().__init__(context)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        while True:
            time.sleep(1.0)


class AddOneKernel(Kernel):
    """out = in + 1 (a third-party kernel registered in a custom registry)."""

    kind = "test.add_one"
    storage = "cpu"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.add(trigger_input, 1, out=output)
