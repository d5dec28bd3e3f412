"""gpu.concatenate, gpu.tip_tilt_controller and gpu.tomographic_controller
against their cpu twins on the same frames (torch's CPU device everywhere,
CUDA where a device exists)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _controller_cases import (  # noqa: E402
    SENSORS,
    concat_config,
    random_aux,
    tip_tilt_config,
    tip_tilt_specs,
    tomo_config,
    tomo_specs,
)
from _gpu_support import DEVICES, assert_parity, require_cuda, twins  # noqa: E402
from _kernel_support import spec, specs  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda":
        require_cuda()
    return request.param


def to_device(value, device):
    if isinstance(value, tuple):
        return tuple(to_device(v, device) for v in value)
    return torch.from_numpy(np.ascontiguousarray(value)).to(device)


def run_both(config, sm, device, frames):
    """Feed both twins the same ``(trigger, aux)`` frames; yield
    ``(gpu_out, cpu_out)`` per frame."""
    cpu_kernel, gpu_kernel = twins(config, sm, device)
    out_spec = sm[config.output]
    cpu_out = np.full(out_spec.shape, 7, out_spec.dtype)
    gpu_out = torch.from_numpy(cpu_out.copy()).to(device)
    for trigger, aux in frames:
        cpu_kernel.compute_into(trigger, cpu_out, dict(aux))
        gpu_aux = {k: to_device(v, device) for k, v in aux.items()}
        gpu_kernel.compute_into(to_device(trigger, device), gpu_out, gpu_aux)
        yield gpu_out.cpu().numpy().copy(), cpu_out.copy()


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8"])
@SETTINGS
@given(data=st.data())
def test_concatenate(device, dtype, data):
    count = data.draw(st.integers(2, 4))
    axis = data.draw(st.sampled_from([0, 1, -1]))
    base = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    shapes = []
    for _ in range(count):
        side = data.draw(st.integers(1, 4))
        shape = list(base)
        shape[axis] = side
        shapes.append(tuple(shape))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    frames = tuple((rng.random(s) * 50).astype(dtype) for s in shapes)
    out_shape = np.concatenate(frames, axis=axis).shape
    config = concat_config(count, axis)
    sm = specs(
        *(spec(f"in{i}", s, dtype) for i, s in enumerate(shapes)),
        spec("out", out_shape, dtype),
    )
    for got, want in run_both(config, sm, device, [(frames, {})]):
        assert_parity(got, want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("image_dtype", ["int16", "float32"])
@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    leak=st.floats(0.0, 1.0),
    gain=st.floats(-1.0, 1.0),
    power=st.sampled_from([1.0, 2.0]),
)
def test_tip_tilt_controller(device, dtype, image_dtype, seed, leak, gain, power):
    rng = np.random.default_rng(seed)
    config = tip_tilt_config(
        leak=leak, control_gain=gain, weight_power=power, threshold=0.5
    )
    sm = tip_tilt_specs(shape=(7, 6), image_dtype=image_dtype, dtype=dtype)
    aux = {
        "matrix": rng.standard_normal((2, 2)).astype(dtype),
        "bias": rng.standard_normal(2).astype(dtype),
    }
    frames = [((rng.random((7, 6)) * 20).astype(image_dtype), aux) for _ in range(5)]
    for got, want in run_both(config, sm, device, frames):
        assert_parity(got, want)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tomographic_controller(device, batched, dtype):
    rng = np.random.default_rng(7)
    config = tomo_config(batched, tile=2, leak=0.95, control_gain=0.4, slope_gain=1.1)
    sm = tomo_specs(
        config, image=(4, 6), tile=2, actuators=6, image_dtype="int16", dtype=dtype
    )
    aux = random_aux(config, sm, rng)
    frames = []
    for _ in range(4):
        if batched:
            images = (rng.random((SENSORS, 4, 6)) * 100).astype("int16")
        else:
            images = tuple(
                (rng.random((4, 6)) * 100).astype("int16") for _ in range(SENSORS)
            )
        frames.append((images, aux))
    for got, want in run_both(config, sm, device, frames):
        assert_parity(got, want)
