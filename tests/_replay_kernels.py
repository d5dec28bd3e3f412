"""Kernels for the replay tests; importable by spawned workers (the test
directory is on the path they inherit)."""

from __future__ import annotations

import time

import numpy as np

from shmpipeline.kernel import Kernel


class SleepyCopyKernel(Kernel):
    """out = in, after sleeping ``parameters.sleep`` seconds (a slow stage)."""

    kind = "test.sleepy_copy"
    storage = "cpu"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        time.sleep(float(self.parameters.get("sleep", 0.0)))
        np.copyto(output, trigger_input)
