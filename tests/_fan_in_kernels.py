"""A multi-output kernel for the runtime tests (importable by spawned
workers: the test directory is on the path they inherit)."""

from __future__ import annotations

import numpy as np

from shmpipeline.kernel import Kernel


class SplitKernel(Kernel):
    """Writes the first half of its input to output 0, the rest to output 1."""

    kind = "test.split"
    storage = "cpu"
    output_arity = 2

    def compute_into_multiple(self, trigger_input, outputs, auxiliary_inputs):
        half = outputs[0].shape[0]
        np.copyto(outputs[0], trigger_input[:half])
        np.copyto(outputs[1], trigger_input[half:])
