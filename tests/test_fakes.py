"""Hardware fakes: physics, fault behaviour, determinism, scenario wiring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shmpipeline.errors import ScenarioError
from shmpipeline.testing import fakes
from shmpipeline.testing.fakes import (
    DeformableMirror,
    FaultyFake,
    PhaseScreen,
    ShackHartmann,
    build_fake,
)

QUIET = {"atmosphere": None, "photon_noise": False, "read_noise": 0.0}


def _centroids(image: np.ndarray, n: int, p: int) -> np.ndarray:
    """Independent per-tile centre of mass, [row, col] relative to the tile
    centre, shape (n, n, 2)."""
    out = np.zeros((n, n, 2))
    rows, cols = np.mgrid[0:p, 0:p].astype(float)
    for i in range(n):
        for j in range(n):
            tile = image[i * p : (i + 1) * p, j * p : (j + 1) * p].astype(float)
            total = tile.sum()
            out[i, j, 0] = (tile * rows).sum() / total - (p - 1) / 2
            out[i, j, 1] = (tile * cols).sum() / total - (p - 1) / 2
    return out


# --- Shack-Hartmann -----------------------------------------------------------------


def test_zero_phase_puts_spots_at_tile_centres():
    cam = build_fake("shack_hartmann", {**QUIET, "lenslets": 4, "pixels": 12})
    img = cam.frame(0)
    assert img.shape == (48, 48) and img.dtype == np.float32
    np.testing.assert_allclose(_centroids(img, 4, 12), 0.0, atol=1e-5)
    # symmetric spot: peak pixel pair straddles the centre; flux ~ 1000 per tile
    tiles = img.reshape(4, 12, 4, 12).sum(axis=(1, 3))
    np.testing.assert_allclose(tiles, 1000.0, rtol=1e-3)


@pytest.mark.parametrize("slope", [(0.0, 0.3), (-0.25, 0.0), (0.2, -0.15)])
def test_tilt_moves_every_spot_by_expected_pixels(slope):
    n, p = 4, 16
    cam = ShackHartmann({**QUIET, "lenslets": n, "pixels": p, "fwhm": 2.0})
    rows, cols = np.mgrid[0 : n * p, 0 : n * p].astype(float)
    phase = slope[0] * rows + slope[1] * cols
    expected = np.array(slope) * p / np.pi  # default pixels_per_radian
    measured = _centroids(cam.image(phase), n, p)
    np.testing.assert_allclose(
        measured, np.broadcast_to(expected, (n, n, 2)), atol=1e-4
    )
    np.testing.assert_allclose(
        cam.spot_shifts(phase), np.broadcast_to(expected, (n, n, 2))
    )


def test_pixels_per_radian_scales_the_shift():
    cam = ShackHartmann({**QUIET, "lenslets": 2, "pixels": 16, "pixels_per_radian": 5})
    cols = np.mgrid[0:32, 0:32][1].astype(float)
    measured = _centroids(cam.image(0.2 * cols), 2, 16)
    np.testing.assert_allclose(measured[..., 1], 1.0, atol=1e-4)
    np.testing.assert_allclose(measured[..., 0], 0.0, atol=1e-6)


def test_noise_is_seeded_per_frame_and_has_the_right_variance():
    params = {
        "atmosphere": None,
        "lenslets": 8,
        "pixels": 8,
        "flux": 0.0,
        "background": 100.0,
        "read_noise": 3.0,
    }
    a = build_fake("shack_hartmann", params, seed=5)
    b = build_fake("shack_hartmann", params, seed=5)
    c = build_fake("shack_hartmann", params, seed=6)
    f3 = a.frame(3)
    np.testing.assert_array_equal(f3, b.frame(3))  # no history needed
    assert not np.array_equal(f3, c.frame(3))
    assert not np.array_equal(f3, a.frame(4))
    var = float(np.var(f3.astype(float) - 100.0))
    assert var == pytest.approx(100.0 + 9.0, rel=0.1)
    assert float(f3.mean()) == pytest.approx(100.0, abs=1.0)


def test_atmosphere_makes_frames_differ_and_stay_reproducible():
    cam = build_fake("shack_hartmann", {"lenslets": 4, "pixels": 8}, seed=1)
    again = build_fake("shack_hartmann", {"lenslets": 4, "pixels": 8}, seed=1)
    assert not np.array_equal(cam.frame(0), cam.frame(5))
    np.testing.assert_array_equal(cam.frame(7), again.frame(7))


def test_closed_loop_frame_uses_screen_minus_mirror():
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
    # a mirror matching the turbulence flattens the wavefront: spots re-centred
    flat = build_fake(
        "shack_hartmann", {**QUIET, "lenslets": 4, "pixels": 8, "mirror": {"n_act": 5}}
    )
    np.testing.assert_array_equal(flat.frame(0, command=np.zeros(25)), flat.frame(0))
    with pytest.raises(ScenarioError, match=r"command has 16 values.*5x5 = 25"):
        cam.frame(0, command=np.zeros(16))


# --- deformable mirror ----------------------------------------------------------------


def test_poke_peaks_at_stroke_and_couples_to_neighbours():
    dm = DeformableMirror({"n_act": 8, "size": 24, "coupling": 0.2, "stroke": 0.7})
    assert dm.pitch == 3 and list(dm.positions[:3]) == [1.0, 4.0, 7.0]
    command = np.zeros((8, 8))
    command[3, 5] = 1.0
    surface = dm.surface(command)
    y, x = int(dm.positions[3]), int(dm.positions[5])
    assert surface[y, x] == pytest.approx(0.7)
    assert surface.max() == pytest.approx(0.7)
    assert surface[y, x + 3] == pytest.approx(0.7 * 0.2)
    assert surface[y + 3, x] == pytest.approx(0.7 * 0.2)
    # independent 2-D evaluation of the Gaussian influence
    rows, cols = np.mgrid[0:24, 0:24].astype(float)
    d2 = ((rows - y) ** 2 + (cols - x) ** 2) / 9.0
    np.testing.assert_allclose(surface, 0.7 * 0.2**d2, rtol=1e-12, atol=1e-15)


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


def test_mirror_as_a_source():
    dm = build_fake("deformable_mirror", {"n_act": 2, "size": 4})
    assert dm.frame(0).shape == (4, 4) and not dm.frame(0).any()
    assert dm.frame(1, command=np.ones((2, 2))).dtype == np.float32


# --- phase screen ---------------------------------------------------------------------


def test_frozen_flow_shifts_by_integer_wind():
    ps = build_fake("phase_screen", {"size": 32, "wind": [1, 2]}, seed=3)
    f0, f3 = ps.frame(0), ps.frame(3)
    np.testing.assert_array_equal(f3[:-3, :-6], f0[3:, 6:])
    assert not np.array_equal(f0, f3)


def test_fractional_wind_interpolates_between_integer_shifts():
    half = PhaseScreen({"size": 16, "wind": [0, 0.5]}, seed=2)
    whole = PhaseScreen({"size": 16, "wind": [0, 1]}, seed=2)
    np.testing.assert_allclose(
        half.phase(1), 0.5 * (whole.phase(0) + whole.phase(1)), atol=1e-12
    )
    np.testing.assert_array_equal(half.phase(2), whole.phase(1))


def test_screen_is_seeded_and_pure_in_n():
    a = build_fake("phase_screen", {"size": 16}, seed=4)
    b = build_fake("phase_screen", {"size": 16}, seed=4)
    c = build_fake("phase_screen", {"size": 16}, seed=5)
    np.testing.assert_array_equal(a.frame(9), b.frame(9))
    assert not np.array_equal(a.frame(9), c.frame(9))


@pytest.mark.parametrize("L0", [None, 50.0])
def test_structure_function_follows_kolmogorov_at_small_separations(L0):
    ratios = []
    for seed in range(3):
        ps = PhaseScreen(
            {"size": 8, "screen_size": 256, "r0": 0.1, "pixel_scale": 0.01, "L0": L0},
            seed=seed,
        )
        s = ps.screen
        for r in (1, 2, 3):
            d = 0.5 * (
                np.mean((s[:, r:] - s[:, :-r]) ** 2) + np.mean((s[r:] - s[:-r]) ** 2)
            )
            ratios.append(d / (6.88 * (r * 0.01 / 0.1) ** (5 / 3)))
    # an FFT screen without subharmonics is ~25% low (see phase_screen)
    assert 0.6 < float(np.mean(ratios)) < 1.05
    assert float(np.mean(ps.screen)) == pytest.approx(0.0, abs=1e-9)


# --- faults ---------------------------------------------------------------------------


def _camera(faults, seed=0):
    return build_fake(
        "shack_hartmann", {"lenslets": 2, "pixels": 8, "faults": faults}, seed=seed
    )


def test_dropped_frames_follow_the_schedule():
    cam = _camera({"drop": [2, 5]})
    assert isinstance(cam, FaultyFake)
    delivered = [cam.frame(n) is not None for n in range(8)]
    assert delivered == [True, True, False, True, True, False, True, True]
    plain = build_fake("shack_hartmann", {"lenslets": 2, "pixels": 8})
    np.testing.assert_array_equal(cam.frame(3), plain.frame(3))


def test_random_drops_are_seeded_and_pure():
    a = _camera({"drop": 0.3}, seed=1)
    b = _camera({"drop": 0.3}, seed=1)
    sched_a = [a.frame(n) is None for n in range(200)]
    sched_b = [b.frame(n) is None for n in reversed(range(200))][::-1]
    assert sched_a == sched_b
    assert 30 <= sum(sched_a) <= 90


def test_stuck_repeats_the_last_delivered_frame_exactly():
    cam = _camera({"stuck": [3, 4], "drop": [2]})
    f0, f1, f2, f3 = (cam.frame(n) for n in range(4))
    assert f2 is None
    np.testing.assert_array_equal(f3, f1)
    f3[0, 0] = -1  # callers get copies: the next stuck frame is unchanged
    f4, f5 = cam.frame(4), cam.frame(5)
    np.testing.assert_array_equal(f4, f1)
    assert not np.array_equal(f5, f1)
    plain = build_fake("shack_hartmann", {"lenslets": 2, "pixels": 8})
    np.testing.assert_array_equal(f5, plain.frame(5))
    first = _camera({"stuck": [0]})
    assert first.frame(0) is not None  # nothing to repeat yet


def test_nan_and_saturated_pixels():
    cam = _camera({"nan": 3, "saturate": {"count": 2, "level": 4095}})
    f0, f1 = cam.frame(0), cam.frame(1)
    assert int(np.isnan(f0).sum()) == 3 and int(np.isnan(f1).sum()) == 3
    assert int((f0 == 4095).sum()) == 2
    assert not np.array_equal(np.isnan(f0), np.isnan(f1))
    np.testing.assert_array_equal(np.isnan(_camera({"nan": 3}).frame(0)), np.isnan(f0))
    ints = build_fake(
        "shack_hartmann",
        {"lenslets": 1, "pixels": 4, "dtype": "uint16", "faults": {"saturate": 1}},
    )
    assert int((ints.frame(0) == 65535).sum()) == 1
    bad = build_fake(
        "shack_hartmann",
        {"lenslets": 1, "pixels": 4, "dtype": "uint16", "faults": {"nan": 1}},
    )
    with pytest.raises(ScenarioError, match="cannot hold NaN"):
        bad.frame(0)


def test_jitter_delay_is_bounded_and_seeded():
    cam = _camera({"jitter": 0.01}, seed=2)
    delays = [cam.delay(n) for n in range(50)]
    assert all(0.0 <= d <= 0.01 for d in delays)
    assert len(set(delays)) > 40
    assert delays == [_camera({"jitter": 0.01}, seed=2).delay(n) for n in range(50)]
    assert build_fake("phase_screen", {}).delay(3) == 0.0


def test_device_stops_responding():
    cam = _camera({"stop_after": 4})
    assert [cam.frame(n) is not None for n in range(7)] == [True] * 4 + [False] * 3
    assert cam.responding(3) and not cam.responding(4)


def test_faults_pass_the_command_through():
    params = {"lenslets": 2, "pixels": 8, "photon_noise": False, "mirror": {"n_act": 2}}
    plain = build_fake("shack_hartmann", params, seed=3)
    faulty = build_fake("shack_hartmann", {**params, "faults": {"drop": [9]}}, seed=3)
    command = np.array([0.1, -0.2, 0.3, 0.0])
    np.testing.assert_array_equal(
        faulty.frame(1, command=command), plain.frame(1, command=command)
    )


# --- registry and errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "params", "text"),
    [
        (
            "shack_hartman",
            {},
            "unknown fake kind 'shack_hartman' (did you mean 'shack_hartmann'?)",
        ),
        (
            "shack_hartmann",
            {"lenslet": 4},
            "unknown parameter 'lenslet' (did you mean 'lenslets'?)",
        ),
        ("phase_screen", {"r0": -1}, "parameter 'r0': must be > 0"),
        ("phase_screen", {"wind": "east"}, "parameter 'wind': must be [y, x]"),
        ("deformable_mirror", {"coupling": 1.5}, "'coupling': must be < 1"),
        (
            "shack_hartmann",
            {"atmosphere": {"size": 3}},
            "'atmosphere.size': set by lenslets",
        ),
        (
            "shack_hartmann",
            {"mirror": {"nact": 3}},
            "mirror: fake 'deformable_mirror': unknown parameter 'nact'",
        ),
        (
            "phase_screen",
            {"faults": {"dorp": [1]}},
            "unknown parameter 'dorp' (did you mean 'drop'?)",
        ),
        ("phase_screen", {"faults": {"drop": 2.0}}, "probability must be in [0, 1]"),
        (
            "phase_screen",
            {"faults": {"stop_after": -1}},
            "stop_after: must be an integer >= 0",
        ),
        ("phase_screen", {"faults": [1]}, "'faults': must be a mapping"),
        ("phase_screen", {"dtype": "float99"}, "unknown dtype"),
    ],
)
def test_bad_kinds_and_parameters_are_named(kind, params, text):
    with pytest.raises(ScenarioError) as info:
        build_fake(kind, params, seed=0)
    assert text in str(info.value)


def test_registry_lists_the_kinds():
    assert set(fakes.FAKES) == {"phase_screen", "shack_hartmann", "deformable_mirror"}
    for kind in fakes.FAKES:
        fake = build_fake(kind, {}, seed=0)
        assert fake.frame(0).shape == fake.shape


# --- scenario wiring ---------------------------------------------------------------------


def _closed_loop(camera: dict) -> dict:
    return {
        "name": "loop",
        "frames": 6,
        "seed": 4,
        "pipeline": {
            "shared_memory": [
                {"name": "camera", "shape": [16, 16], "dtype": "float32"},
                {"name": "centroids", "shape": [2, 2, 2], "dtype": "float32"},
                {"name": "slopes", "shape": [8], "dtype": "float32"},
                {"name": "recon", "shape": [4, 8], "dtype": "float32"},
                {"name": "offset", "shape": [4], "dtype": "float32"},
                {"name": "dm_command", "shape": [4], "dtype": "float32"},
            ],
            "kernels": [
                {
                    "name": "centroid",
                    "kind": "cpu.shack_hartmann_centroid",
                    "input": "camera",
                    "output": "centroids",
                    "parameters": {"tile_size": 8},
                },
                {
                    "name": "flatten",
                    "kind": "cpu.flatten",
                    "input": "centroids",
                    "output": "slopes",
                },
                {
                    "name": "reconstruct",
                    "kind": "cpu.affine_transform",
                    "input": "slopes",
                    "output": "dm_command",
                    "auxiliary": {"matrix": "recon", "offset": "offset"},
                },
            ],
        },
        "inputs": {"camera": camera, "recon": {"constant": 0.01}},
        "capture": ["camera", "dm_command"],
    }


def test_closed_loop_scenario_runs_inline_deterministically():
    from shmpipeline.testing.inline import run_inline
    from shmpipeline.testing.scenario import Scenario

    camera = {
        "fake": "shack_hartmann",
        "command": "dm_command",
        "lenslets": 2,
        "pixels": 8,
        "mirror": {"n_act": 2},
        "faults": {"drop": [3]},
    }
    scenario = Scenario.from_dict(_closed_loop(camera))
    first, second = run_inline(scenario), run_inline(scenario)
    assert first.ok, first.problem()
    assert first.frames_completed == 6
    for name in ("camera", "dm_command"):
        np.testing.assert_array_equal(first.captures[name], second.captures[name])
    assert np.abs(first.captures["dm_command"][1:]).sum() > 0  # the loop acts


def test_scenario_reports_bad_fake_parameters_and_shapes():
    from shmpipeline.testing.scenario import Scenario

    bad = {"fake": "shack_hartmann", "lenslets": 2, "pixels": 8, "flux": "lots"}
    with pytest.raises(
        ScenarioError, match=r"inputs\.camera.*'flux': must be a finite number"
    ):
        Scenario.from_dict(_closed_loop(bad))
    wrong = {"fake": "shack_hartmann", "lenslets": 3, "pixels": 8}
    with pytest.raises(ScenarioError, match=r"makes frames of shape \(24, 24\)"):
        Scenario.from_dict(_closed_loop(wrong))
    mismatch = {
        "fake": "shack_hartmann",
        "command": "dm_command",
        "lenslets": 2,
        "pixels": 8,
        "mirror": {"n_act": 3},
    }
    with pytest.raises(ScenarioError, match=r"command has 4 values.*3x3 = 9"):
        Scenario.from_dict(_closed_loop(mismatch))
