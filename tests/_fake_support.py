"""Helpers for the hardware-fake tests: independent measurements (not the
fakes' own code) to check them against."""

from __future__ import annotations

import numpy as np

#: Shack-Hartmann parameters with no atmosphere and no noise.
QUIET = {"atmosphere": None, "photon_noise": False, "read_noise": 0.0}


def centroids(image: np.ndarray, n: int, p: int) -> np.ndarray:
    """Intensity-weighted centre of every ``p`` x ``p`` tile of an
    ``n`` x ``n`` lenslet image, ``[row, col]`` relative to the tile centre;
    shape ``(n, n, 2)``."""
    out = np.zeros((n, n, 2))
    rows, cols = np.mgrid[0:p, 0:p].astype(float)
    for i in range(n):
        for j in range(n):
            tile = image[i * p : (i + 1) * p, j * p : (j + 1) * p].astype(float)
            total = tile.sum()
            out[i, j, 0] = (tile * rows).sum() / total - (p - 1) / 2
            out[i, j, 1] = (tile * cols).sum() / total - (p - 1) / 2
    return out


def structure_function(screen: np.ndarray, r: int) -> float:
    """Mean squared phase difference at ``r`` samples, rows and columns
    averaged, over a periodic screen (wrapping pairs included)."""
    dx = np.roll(screen, -r, axis=1) - screen
    dy = np.roll(screen, -r, axis=0) - screen
    return 0.5 * float(np.mean(dx * dx) + np.mean(dy * dy))


def expected_structure_function(
    n: int, r0: float, L0: float | None, pixel_scale: float, r: int
) -> float:
    """Exact expectation of :func:`structure_function` for an FFT screen of
    ``n`` x ``n`` samples drawn from the von Karman spectrum, written out
    from the spectrum (not from the fake's code): ``2 Σ Φ(f) Δf² (1 - cos
    2π f r)`` along one axis, piston excluded."""
    freqs = np.fft.fftfreq(n, d=pixel_scale)
    df = 1.0 / (n * pixel_scale)
    fy, fx = np.meshgrid(freqs, freqs, indexing="ij")
    k2 = fy**2 + fx**2 + (0.0 if L0 is None else L0**-2.0)
    psd = np.zeros_like(k2)
    nonzero = (fy != 0) | (fx != 0)
    psd[nonzero] = 0.023 * r0 ** (-5 / 3) * k2[nonzero] ** (-11 / 6)
    along_x = 1.0 - np.cos(2 * np.pi * fx * r * pixel_scale)
    along_y = 1.0 - np.cos(2 * np.pi * fy * r * pixel_scale)
    return float(np.sum(psd * df * df * (along_x + along_y)))
