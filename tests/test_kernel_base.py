"""``shmpipeline.kernel``: KernelContext properties and the Kernel base
class's arity/storage/stream checks, as third-party kernels see them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from _kernel_support import kconf, spec, specs

from shmpipeline.errors import ConfigValidationError
from shmpipeline.kernel import Kernel, KernelContext


class Plain(Kernel):
    kind = "test.plain"

    def compute_into(self, trigger_input, output, auxiliary_inputs):
        np.copyto(output, trigger_input)


def _specs():
    return specs(
        spec("in", (3,)), spec("g", (1,)), spec("m", (2, 3)), spec("out", (3,))
    )


def test_context_properties_follow_config_order():
    config = kconf("test.plain", aux={"matrix": "m", "gain": "g"})
    context = KernelContext(config, _specs())
    assert context.trigger_input_spec.name == "in"
    assert [s.name for s in context.auxiliary_specs] == ["m", "g"]
    assert [s.name for s in context.input_specs] == ["in", "m", "g"]
    assert context.output_spec.name == "out"
    assert context.auxiliary_specs_by_alias["gain"].name == "g"
    assert context.config_base_dir == Path.cwd().resolve()


def test_context_is_frozen_and_accepts_a_sequence_of_specs(tmp_path):
    context = KernelContext(kconf("test.plain"), list(_specs().values()), tmp_path)
    assert context.shared_memory["out"].shape == (3,)
    assert context.config_base_dir == tmp_path
    with pytest.raises(dataclasses.FrozenInstanceError):
        context.config = None  # type: ignore[misc]


def test_kernel_stores_context_config_and_parameters():
    config = kconf("test.plain", factor=2)
    kernel = Plain(KernelContext(config, _specs()))
    assert kernel.context.config is config
    assert kernel.config is config
    assert kernel.parameters == {"factor": 2}
    assert kernel.reset() is None  # default reset is a no-op


def test_kernel_without_compute_into_is_abstract():
    class Incomplete(Kernel):
        kind = "test.incomplete"

    with pytest.raises(TypeError):
        Incomplete(KernelContext(kconf("test.incomplete"), _specs()))


def _error(kernel_cls, config, sm=None) -> str:
    with pytest.raises(ConfigValidationError) as info:
        kernel_cls.validate_config(config, sm or _specs())
    return str(info.value)


@pytest.mark.parametrize(
    "arity,count,ok,expected",
    [
        (0, 0, True, ""),
        (0, 1, False, "exactly 0 auxiliary streams, got 1"),
        (1, 0, False, "exactly 1 auxiliary stream, got 0"),
        (2, 1, False, "exactly 2 auxiliary streams, got 1"),
        ((0, 2), 2, True, ""),
        ((0, 2), 3, False, "between 0 and 2 auxiliary streams, got 3"),
        ((1, None), 0, False, "at least 1 auxiliary streams, got 0"),
        ((1, None), 3, True, ""),
        (None, 3, True, ""),
    ],
)
def test_auxiliary_arity_forms(arity, count, ok, expected):
    cls = type("Arity", (Plain,), {"auxiliary_arity": arity, "kind": "test.arity"})
    aux = {f"a{i}": "g" for i in range(count)}
    config = kconf("test.arity", aux=aux)
    if ok:
        cls.validate_config(config, _specs())
        return
    message = _error(cls, config)
    assert message.startswith("kernel 'stage': auxiliary: kind 'test.arity' takes ")
    assert expected in message


def test_storage_mismatch_names_the_stream_and_field():
    sm = _specs()
    sm["out"] = spec("out", (3,), storage="gpu")
    message = _error(Plain, kconf("test.plain"), sm)
    assert message == (
        "kernel 'stage': output: kind 'test.plain' needs cpu storage, but stream 'out' is gpu"
    )
    gpu_cls = type("GpuPlain", (Plain,), {"storage": "gpu", "kind": "test.gpu"})
    assert "input: kind 'test.gpu' needs gpu storage" in _error(
        gpu_cls, kconf("test.gpu")
    )


def test_unknown_streams_are_reported_with_suggestions():
    message = _error(Plain, kconf("test.plain", aux={"gain": "gg"}))
    assert (
        message
        == "kernel 'stage': auxiliary.gain: unknown shared memory 'gg' (did you mean 'g'?)"
    )


def test_third_party_defaults_do_not_check_parameters_or_operation():
    Plain.validate_config(
        kconf("test.plain", operation="anything", whatever=1), _specs()
    )


def test_parameter_names_and_operation_flags_are_enforced_when_set():
    strict = type(
        "Strict",
        (Plain,),
        {
            "kind": "test.strict",
            "parameter_names": frozenset({"gain"}),
            "accepts_operation": False,
        },
    )
    assert (
        "parameters.gian: unknown parameter (known: gain); did you mean 'gain'?"
        in _error(strict, kconf("test.strict", gian=1))
    )
    assert "operation: kind 'test.strict' takes no 'operation'" in _error(
        strict, kconf("test.strict", operation="input")
    )
