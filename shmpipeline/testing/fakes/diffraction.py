"""Diffraction Shack-Hartmann spots: a Fraunhofer FFT per lenslet.

Each lenslet of ``p`` x ``p`` phase samples (``p`` = ``pixels``) sees the
complex field ``A exp(iφ)`` (``A`` the pupil mask). Its far field, the
discrete Fraunhofer integral

    I(u) ∝ | Σ_x A(x) exp(iφ(x)) exp(-2πi u·x / M) |²,

is computed by a zero-padded ``M``-point FFT at ``q`` = ``oversampling``
points per detector pixel, then summed over each ``q`` x ``q`` block (pixel
integration). A pixel spans ``s = p / B`` λ/d (``B = M / q``, the even
integer closest to ``2π pixels_per_radian``), so a tilt
of one λ/d across the lenslet moves the spot ``1/s`` pixels: the
geometric model's ``pixels_per_radian`` sets the sampling (``p/π``, the
default, is Nyquist: ``s = 1/2``). The field is shifted by half a fine
sample so a flat wavefront centres the spot on the tile centre
``((p-1)/2, (p-1)/2)``.

Spots are ``2p`` pixels wide, centred on their tile: light beyond the tile
spills half a tile into each neighbour (a square lenslet's sinc² puts ~15%
of it outside its own tile at Nyquist), and a spot moved past ~``p/2``
pixels folds into the neighbours' tiles, so the centroid saturates and
turns over, and the optical gain of a centroid is below 1 (the wings
are truncated by the tile). Each spot's total (untruncated) light is
``flux`` times its lit fraction.

Reference: Goodman, Introduction to Fourier Optics (Fraunhofer
diffraction, ch. 4); the sampling and pixel-integration scheme follows
the usual SH simulators (e.g. Conan & Correia 2014, Proc. SPIE 9148,
91486C).
"""

from __future__ import annotations

import numpy as np


class DiffractionSpots:
    """Per-lenslet FFT imaging (see the module docstring)."""

    def __init__(
        self,
        lenslets: int,
        pixels: int,
        pixels_per_radian: float,
        oversampling: int,
        mask: np.ndarray | None,
    ) -> None:
        self.lenslets = lenslets
        self.pixels = pixels
        self.oversampling = q = int(oversampling)
        if pixels % 2:
            raise ValueError(f"the diffraction model needs an even number of pixels, got {pixels}")
        ideal = 2.0 * np.pi * pixels_per_radian  # = p / s pixels across the FFT field
        self.field_pixels = max(2, 2 * int(round(ideal / 2.0)))
        self.sampling = pixels / self.field_pixels  # λ/d per pixel
        self.fft_size = self.field_pixels * q
        if self.fft_size < pixels:
            raise ValueError(
                f"pixels_per_radian {pixels_per_radian:g} undersamples the lenslet "
                f"FFT ({self.fft_size} < {pixels} points)"
            )
        n, p, m = lenslets, pixels, self.fft_size
        if mask is None:
            mask = np.ones((n * p, n * p))
        self.amplitude = mask.reshape(n, p, n, p).transpose(0, 2, 1, 3)  # (n,n,p,p)
        lit = self.amplitude.sum(axis=(2, 3))
        self._scale = np.where(lit > 0, 1.0 / np.maximum(lit, 1e-300), 0.0) / (m * m)
        self._lit_fraction = lit / (p * p)
        x = np.arange(p, dtype=np.float64)
        # the fine grid is even: move the spot half a fine sample so its
        # centre falls between samples, at the centre of the binned field
        self._half_shift = np.exp(-1j * np.pi * (x[:, None] + x[None, :]) / m)
        self.spot_pixels = 2 * p

    def spots(self, phase: np.ndarray, flux: float) -> np.ndarray:
        """(n, n, 2p, 2p) spot images (photons), each centred on its tile."""
        n, p, m, q = self.lenslets, self.pixels, self.fft_size, self.oversampling
        tiles = phase.reshape(n, p, n, p).transpose(0, 2, 1, 3)
        field = np.zeros((n, n, m, m), np.complex128)
        field[..., :p, :p] = self.amplitude * np.exp(1j * tiles) * self._half_shift
        far = np.fft.fftshift(np.fft.fft2(field), axes=(-2, -1))
        intensity = far.real**2 + far.imag**2
        intensity *= (flux * self._lit_fraction * self._scale)[..., None, None]
        b = self.field_pixels
        binned = intensity.reshape(n, n, b, q, b, q).sum(axis=(3, 5))
        # crop or pad the B-pixel field to 2p pixels, centres aligned
        w = self.spot_pixels
        out = np.zeros((n, n, w, w))
        if b >= w:
            o = (b - w) // 2
            out[:] = binned[..., o : o + w, o : o + w]
        else:
            o = (w - b) // 2
            out[..., o : o + b, o : o + b] = binned
        return out

    def image(self, phase: np.ndarray, flux: float) -> np.ndarray:
        """The detector image (photons): spots added at their tiles, the
        half tile around each spilling into the neighbours (light falling
        off the detector is lost)."""
        n, p = self.lenslets, self.pixels
        spots = self.spots(phase, flux)
        side = n * p
        pad = p // 2
        canvas = np.zeros((side + 2 * p, side + 2 * p))
        for i in range(n):
            for j in range(n):
                r0 = p + i * p - pad
                c0 = p + j * p - pad
                canvas[r0 : r0 + 2 * p, c0 : c0 + 2 * p] += spots[i, j]
        return canvas[p : p + side, p : p + side]
