"""Mirror layouts, misregistration, actuator faults and nonlinearity."""

from __future__ import annotations

import numpy as np
import pytest

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.fakes import DeformableMirror


def _poke(mirror, j, value=1.0):
    c = np.zeros(mirror.actuators)
    c[j] = value
    return c


def test_fried_layout_puts_actuators_on_the_subaperture_corners():
    dm = DeformableMirror(n_act=5, size=32, layout="fried")
    assert dm.pitch == 8.0 and dm.actuators == 25
    np.testing.assert_allclose(dm.positions, [-0.5, 7.5, 15.5, 23.5, 31.5])
    surface = dm.surface(_poke(dm, 2 * 5 + 2))  # the centre actuator at 15.5
    peak = np.unravel_index(np.argmax(surface), surface.shape)
    assert peak in {(15, 15), (15, 16), (16, 15), (16, 16)}
    # the four pixels around a corner are equal (symmetric about 15.5)
    np.testing.assert_allclose(surface[15, 15], surface[16, 16])
    # h = coupling^((d / pitch)^2): pixels (15, 15) and (15, 23) are at
    # (0.5, 0.5) and (0.5, 7.5) samples from the actuator at (15.5, 15.5)
    far = DeformableMirror(n_act=5, size=32, layout="fried", coupling=0.2)
    h = far.surface(_poke(far, 12))
    ratio = h[15, 15 + 8] / h[15, 15]
    assert ratio == pytest.approx(0.2 ** ((56.25 - 0.25) / 64), rel=1e-9)


def test_grid_layout_general_path_equals_the_separable_one():
    plain = DeformableMirror(n_act=4, size=24)
    custom = DeformableMirror(
        n_act=4, size=24, positions=plain.actuator_positions.tolist()
    )
    c = np.random.default_rng(1).normal(size=16)
    np.testing.assert_allclose(custom.surface(c), plain.surface(c), atol=1e-12)


def test_shift_moves_the_surface():
    plain = DeformableMirror(n_act=4, size=32, coupling=0.3)
    moved = DeformableMirror(n_act=4, size=32, coupling=0.3, shift=[2, -3])
    c = np.random.default_rng(2).normal(size=16)
    a, b = plain.surface(c), moved.surface(c)
    np.testing.assert_allclose(b[2:, :-3], a[:-2, 3:], atol=1e-12)


def test_rotation_by_ninety_degrees_rotates_the_actuator_grid():
    plain = DeformableMirror(n_act=4, size=32)
    turned = DeformableMirror(n_act=4, size=32, rotation=90)
    c = np.random.default_rng(3).normal(size=(4, 4))
    # actuator (i, j) moves to where (j, 3 - i) was
    a = plain.surface(np.rot90(c, k=1))
    b = turned.surface(c)
    np.testing.assert_allclose(b, a, atol=1e-9)


def test_magnification_scales_positions_and_influence():
    big = DeformableMirror(n_act=2, size=32, magnification=1.5, coupling=0.2)
    centre = 15.5
    np.testing.assert_allclose(
        big.actuator_positions[0], [centre - 1.5 * 8, centre - 1.5 * 8]
    )
    h = big.surface(_poke(big, 0))
    y, x = big.actuator_positions[0]
    assert h[int(y), int(x)] == pytest.approx(1.0, abs=0.01)


def test_dead_stuck_and_coupled_actuators():
    dm = DeformableMirror(
        n_act=3,
        size=24,
        dead_actuators=[0],
        stuck_actuators={4: 0.5},
        coupled_actuators=[[1, 2]],
    )
    plain = DeformableMirror(n_act=3, size=24)
    np.testing.assert_array_equal(dm.applied(_poke(dm, 0, 3.0)).ravel()[0], 0.0)
    applied = dm.applied(_poke(dm, 1, 2.0)).ravel()
    assert applied[1] == applied[2] == 1.0 and applied[4] == 0.5
    assert applied[4] == dm.applied(np.full(9, -7.0)).ravel()[4]
    np.testing.assert_allclose(
        dm.surface(np.zeros(9)), plain.surface(_poke(plain, 4, 0.5))
    )


def test_dac_quantisation_rounds_to_the_step():
    dm = DeformableMirror(n_act=2, size=8, dac_bits=4, dac_range=1.5)
    step = 3.0 / 15
    c = np.array([0.11, -0.29, 2.0, 0.0])
    np.testing.assert_allclose(
        dm.applied(c).ravel(), [step * 1, -step * 1, 1.5, 0.0], atol=1e-12
    )


def test_hysteresis_traces_a_loop_of_its_width():
    dm = DeformableMirror(n_act=1, size=8, hysteresis=0.4)
    up = [dm.applied([v]).item() for v in np.linspace(0, 1, 11)]
    down = [dm.applied([v]).item() for v in np.linspace(1, 0, 11)]
    assert up[-1] == pytest.approx(0.8) and down[0] == pytest.approx(0.8)
    # at the same command the way down sits w higher than the way up
    assert down[5] - up[5] == pytest.approx(0.4)
    assert down[-1] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"layout": "hex"}, "'layout': must be 'grid' or 'fried'"),
        ({"dead_actuators": [99]}, "99 is not an actuator index in [0, 64)"),
        ({"stuck_actuators": [1]}, "'stuck_actuators': must be a mapping"),
        ({"coupled_actuators": [[1]]}, "must be a list of [i, j] pairs"),
        ({"positions": [[1, 2, 3]]}, "'positions': must be a list of [y, x]"),
        ({"hysteresis": -1}, "'hysteresis': must be >= 0"),
    ],
)
def test_bad_mirror_parameters_are_named(params, text):
    with pytest.raises(ScenarioError) as info:
        DeformableMirror(params)
    assert text in str(info.value)


@pytest.mark.parametrize("layout", ["grid", "fried"])
def test_separable_misregistration_equals_the_direct_sum(layout):
    moved = DeformableMirror(
        n_act=5, size=32, layout=layout, shift=[0.3, -1.2], magnification=1.1
    )
    direct = DeformableMirror(
        n_act=5,
        size=32,
        positions=moved.actuator_positions.tolist(),
        pitch=moved.pitch * 1.1,
    )
    c = np.random.default_rng(4).normal(size=25)
    np.testing.assert_allclose(moved.surface(c), direct.surface(c), atol=1e-12)
