"""Kernels for tests/test_pool_tasks.py; importable by pool workers (the
test directory is on the path each task carries)."""

from __future__ import annotations

import time

from shmpipeline.kernel import Kernel

#: how long SlowFailingKernel computes before it raises: ample time for the
#: test's driver to be waiting on the last stage before the failure comes
SLOW_FAILURE_S = 1.0


class SlowFailingKernel(Kernel):
    """Raises from compute_into after SLOW_FAILURE_S (a failing middle stage)."""

    kind = "test.slow_failing"
    storage = "cpu"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        time.sleep(SLOW_FAILURE_S)
        raise RuntimeError("middle stage failed")
