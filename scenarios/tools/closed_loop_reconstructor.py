"""Print the reconstructor of ao_closed_loop.yaml (and dropped_stuck_frames.yaml).

The Shack-Hartmann fake is linear in the phase and the mirror fake linear in
its command, so the interaction matrix (slopes per unit actuator command,
the mirror surface being subtracted from the phase) is computed exactly from
the fakes' own models; the integrator needs R = -pinv(IM) so that
``command += gain * R @ slopes`` drives the slopes to zero.

    python scenarios/tools/closed_loop_reconstructor.py > /tmp/rows.yaml
"""

from __future__ import annotations

import numpy as np

from shmpipeline.testing.fakes import build_fake

LENSLETS, PIXELS = 4, 8


def reconstructor() -> np.ndarray:
    camera = build_fake(
        "shack_hartmann",
        {"lenslets": LENSLETS, "pixels": PIXELS, "photon_noise": False, "atmosphere": None},
    )
    actuators = camera.mirror.n_act**2
    interaction = np.zeros((LENSLETS * LENSLETS * 2, actuators))
    for j in range(actuators):
        poke = np.zeros(actuators)
        poke[j] = 1.0
        interaction[:, j] = camera.spot_shifts(-camera.mirror.surface(poke)).ravel()
    return -np.linalg.pinv(interaction, rcond=0.05)


if __name__ == "__main__":
    for row in reconstructor():
        print("      - [" + ", ".join(f"{value:.4f}" for value in row) + "]")
