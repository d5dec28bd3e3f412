"""Deformable-mirror fake and the closed loop through it."""

from __future__ import annotations

import numpy as np
import pytest
from _fake_support import QUIET, centroids
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.errors import ScenarioError
from shmpipeline.testing.fakes import (
    ClosedLoopOptics,
    DeformableMirror,
    FaultyFake,
    PhaseScreen,
    ShackHartmann,
    build_fake,
)


def test_zero_command_gives_a_flat_surface():
    dm = DeformableMirror(n_act=5, size=20, coupling=0.3, stroke=2.0)
    surface = dm.surface(np.zeros(25))
    assert surface.shape == (20, 20)
    assert not surface.any()
    assert not dm.frame(0, command=np.zeros((5, 5))).any()
    assert not dm.frame(0).any()  # no command yet: flat too


def test_poke_peaks_at_stroke_and_couples_to_neighbours():
    dm = DeformableMirror({"n_act": 8, "size": 24, "coupling": 0.2, "stroke": 0.7})
    assert dm.pitch == 3 and list(dm.positions[:3]) == [1.0, 4.0, 7.0]
    command = np.zeros((8, 8))
    command[3, 5] = 1.0
    surface = dm.surface(command)
    y, x = int(dm.positions[3]), int(dm.positions[5])
    assert surface[y, x] == pytest.approx(0.7)
    assert np.unravel_index(surface.argmax(), surface.shape) == (y, x)
    assert surface[y, x + 3] == pytest.approx(0.7 * 0.2)
    assert surface[y + 3, x] == pytest.approx(0.7 * 0.2)
    assert surface[y - 3, x] == pytest.approx(0.7 * 0.2)
    assert surface[y + 3, x + 3] == pytest.approx(0.7 * 0.2**2)  # diagonal
    # independent 2-D evaluation of the Gaussian influence
    rows, cols = np.mgrid[0:24, 0:24].astype(float)
    d2 = ((rows - y) ** 2 + (cols - x) ** 2) / 9.0
    np.testing.assert_allclose(surface, 0.7 * 0.2**d2, rtol=1e-12, atol=1e-15)


def test_flat_and_grid_commands_are_the_same():
    dm = DeformableMirror(n_act=3, size=9)
    grid = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(dm.surface(grid), dm.surface(grid.ravel()))
    with pytest.raises(ScenarioError, match=r"command has 4 values.*3x3 = 9"):
        dm.surface(np.zeros(4))
    with pytest.raises(ScenarioError, match="command must be numbers"):
        dm.surface(["a"] * 9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.floats(-3, 3), st.floats(-3, 3))
def test_mirror_is_linear(seed, a, b):
    dm = DeformableMirror({"n_act": 4, "size": 16})
    rng = np.random.default_rng(seed)
    c1, c2 = rng.normal(size=16), rng.normal(size=16)
    np.testing.assert_allclose(
        dm.surface(a * c1 + b * c2),
        a * dm.surface(c1) + b * dm.surface(c2),
        atol=1e-9,
    )


def test_stroke_limit_saturates_actuators():
    dm = DeformableMirror(n_act=4, size=12, stroke=0.5, stroke_limit=1.0)
    free = DeformableMirror(n_act=4, size=12, stroke=0.5)
    small = np.linspace(-1.9, 1.9, 16)  # displacements within +-0.95 rad
    np.testing.assert_array_equal(dm.surface(small), free.surface(small))
    assert dm.saturated(small) == 0
    big = np.zeros(16)
    big[5], big[10] = 10.0, -3.0  # 5 rad and -1.5 rad wanted
    assert dm.saturated(big) == 2
    np.testing.assert_array_equal(dm.applied(big).ravel()[[5, 10]], [2.0, -2.0])
    np.testing.assert_allclose(dm.surface(big), free.surface(np.clip(big, -2, 2)))
    # linearity holds only below the limit
    assert not np.allclose(dm.surface(2 * big), 2 * dm.surface(big))


def test_keywords_equal_a_mapping():
    a = DeformableMirror({"n_act": 3, "size": 9, "coupling": 0.3}, seed=1)
    b = DeformableMirror(n_act=3, size=9, coupling=0.3, seed=1)
    command = np.arange(9.0)
    np.testing.assert_array_equal(a.surface(command), b.surface(command))
    assert (
        build_fake("deformable_mirror", {"n_act": 2, "size": 4})
        .frame(1, command=np.ones((2, 2)))
        .dtype
        == np.float32
    )


# --- closing the loop -----------------------------------------------------------------


def _parts(seed=9):
    screen = PhaseScreen(size=32, r0=0.2, wind=(0, 1), seed=seed)
    mirror = DeformableMirror(size=32, n_act=5, coupling=0.2, stroke=0.5)
    camera = ShackHartmann(
        lenslets=4,
        pixels=8,
        photon_noise=False,
        read_noise=1.0,
        atmosphere=None,
        seed=seed,
    )
    return screen, mirror, camera


def test_closed_loop_optics_sees_screen_minus_mirror():
    screen, mirror, camera = _parts()
    optics = ClosedLoopOptics(screen, mirror, camera)
    command = np.linspace(-1, 1, 25)
    np.testing.assert_array_equal(
        optics.residual(6, command), screen.phase(6) - mirror.surface(command)
    )
    np.testing.assert_array_equal(
        optics.camera_frame(6, command),
        camera.expose(screen.phase(6) - mirror.surface(command), 6),
    )
    np.testing.assert_array_equal(
        optics.camera_frame(6), camera.expose(screen.phase(6), 6)
    )
    assert optics.shape == (32, 32) and optics.dtype == np.float32


def test_closed_loop_optics_equals_the_camera_with_its_own_mirror():
    """The glue and a camera built with atmosphere/mirror parameters give
    the same frames bit for bit."""
    params = {
        "lenslets": 4,
        "pixels": 8,
        "photon_noise": False,
        "read_noise": 1.0,
        "atmosphere": {"r0": 0.2, "wind": [0, 1]},
        "mirror": {"n_act": 5, "coupling": 0.2, "stroke": 0.5},
    }
    cam = build_fake("shack_hartmann", params, seed=9)
    optics = ClosedLoopOptics(*_parts(seed=9))
    command = np.linspace(-1, 1, 25).astype(np.float32)
    for n in (0, 3, 6):
        np.testing.assert_array_equal(
            cam.frame(n, command=command), optics.camera_frame(n, command)
        )


def test_a_mirror_matching_the_wavefront_recentres_the_spots():
    """Atmosphere = the mirror's own shape for some command: sending that
    command flattens the wavefront, every spot back at its tile centre."""
    mirror = DeformableMirror(size=32, n_act=4, stroke=1.0)
    target = np.random.default_rng(1).normal(scale=2.0, size=16)

    class Screen:
        shape = (32, 32)

        def phase(self, n):
            return mirror.surface(target)

    camera = ShackHartmann(**QUIET, lenslets=4, pixels=8)
    optics = ClosedLoopOptics(Screen(), mirror, camera)
    open_loop = centroids(optics.camera_frame(0), 4, 8)
    closed = centroids(optics.camera_frame(0, target), 4, 8)
    assert np.abs(open_loop).max() > 0.3
    np.testing.assert_allclose(closed, 0.0, atol=1e-5)
    half = centroids(optics.camera_frame(0, target / 2), 4, 8)
    np.testing.assert_allclose(half, open_loop / 2, atol=0.02)


def test_closed_loop_optics_checks_the_grids_and_wraps_in_faults():
    screen, mirror, camera = _parts()
    with pytest.raises(
        ScenarioError, match=r"the mirror samples the pupil on \(16, 16\)"
    ):
        ClosedLoopOptics(screen, DeformableMirror(size=16), camera)
    with pytest.raises(ScenarioError, match=r"the screen samples the pupil"):
        ClosedLoopOptics(PhaseScreen(size=8), mirror, camera)
    optics = ClosedLoopOptics(screen, mirror, camera)
    faulty = FaultyFake(optics, {"drop": [1]}, seed=0)
    command = np.zeros(25)
    assert faulty.frame(1, command=command) is None
    np.testing.assert_array_equal(
        faulty.frame(2, command=command), optics.camera_frame(2, command)
    )


def test_closed_loop_frame_of_the_camera_fake():
    params = {
        "lenslets": 4,
        "pixels": 8,
        "photon_noise": False,
        "atmosphere": {"r0": 0.2, "wind": [0, 1]},
        "mirror": {"n_act": 5, "coupling": 0.2, "stroke": 0.5},
    }
    cam = build_fake("shack_hartmann", params, seed=9)
    screen = PhaseScreen({"size": 32, "r0": 0.2, "wind": [0, 1]}, seed=9)
    dm = DeformableMirror({"size": 32, "n_act": 5, "coupling": 0.2, "stroke": 0.5})
    command = np.linspace(-1, 1, 25).astype(np.float32)
    expected = cam.image(screen.phase(6) - dm.surface(command)).astype(np.float32)
    np.testing.assert_array_equal(cam.frame(6, command=command), expected)
    flat = build_fake(
        "shack_hartmann", {**QUIET, "lenslets": 4, "pixels": 8, "mirror": {"n_act": 5}}
    )
    np.testing.assert_array_equal(flat.frame(0, command=np.zeros(25)), flat.frame(0))
    with pytest.raises(ScenarioError, match=r"command has 16 values.*5x5 = 25"):
        cam.frame(0, command=np.zeros(16))
