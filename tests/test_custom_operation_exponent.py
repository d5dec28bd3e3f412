"""Huge constant exponents in ``custom_operation`` (``input ** 10**10``) are
refused at validation with one line naming the kernel and field, instead of
spraying RuntimeWarnings from every computed frame."""

from __future__ import annotations

import textwrap
import warnings

import numpy as np
import pytest
from _kernel_support import create, expect_error, kconf, run, spec, specs

from shmpipeline.graph import validate_pipeline_config
from shmpipeline.kernels import _expression as expression_module

LIMIT = expression_module.MAX_CONSTANT_EXPONENT
STREAMS = specs(spec("in", (4,), "float32"), spec("out", (4,), "float32"))


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


@pytest.mark.parametrize(
    "operation",
    [
        "input ** 10**10",
        "input ** -(10**10)",
        "input ** 1e300",
        f"input ** {LIMIT + 1}",
        "input ** (10**5 * 10**5)",  # folded first, then refused
        "(input + 1) ** 10**10 - 1",
        "input ** (10**10 + 0j)",
    ],
)
def test_huge_constant_exponents_are_refused(operation):
    streams = STREAMS
    if "j" in operation:
        streams = specs(spec("in", (4,), "complex64"), spec("out", (4,), "complex64"))
    message = expect_error(
        kconf("cpu.custom_operation", operation=operation),
        streams,
        "operation: constant exponent",
        "too large",
        f"at most {LIMIT}",
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        (f"input ** {LIMIT}", np.ones(4, np.float32)),
        (f"input ** -{LIMIT}", np.ones(4, np.float32)),
        ("input ** 2", np.ones(4, np.float32)),
        ("input * 1.0 ** 10**10", np.ones(4, np.float32)),  # a folded constant
    ],
)
def test_reasonable_exponents_still_compute(operation, expected):
    kernel = create(kconf("cpu.custom_operation", operation=operation), STREAMS)
    out = run(kernel, np.ones(4, np.float32))
    np.testing.assert_array_equal(out, expected)


def test_pipeline_validation_reports_the_kernel_and_line(tmp_path):
    path = tmp_path / "pow.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            shared_memory:
              - {name: frame, shape: [4], dtype: float32}
              - {name: out, shape: [4], dtype: float32}
            kernels:
              - {name: powk, kind: cpu.custom_operation, input: frame, output: out,
                 operation: "input ** 10**10"}
            """
        )
    )
    errors = [str(e) for e in validate_pipeline_config(str(path))]
    assert len(errors) == 1
    assert "'powk'" in errors[0] and "operation: constant exponent" in errors[0]


def test_the_gpu_kind_refuses_them_too():
    pytest.importorskip("torch")
    gpu_streams = specs(
        spec("in", (4,), "float32", "gpu"), spec("out", (4,), "float32", "gpu")
    )
    expect_error(
        kconf("gpu.custom_operation", operation="input ** 10**10"),
        gpu_streams,
        "operation: constant exponent",
    )
