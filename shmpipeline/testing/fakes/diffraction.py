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
spills half a tile into each neighbour (a square lenslet's sinc² puts ~8%
of it outside its own tile at Nyquist), and a spot moved past ~``p/2``
pixels folds into the neighbours' tiles, so the centroid saturates and
turns over; its gain is about 1 for small shifts and falls below 1 beyond
a pixel (0.87 at 1 px, 0.72 at 3 px for 8-pixel tiles at Nyquist) as the
wings are truncated by the tile. Each spot's total (untruncated) light is
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
            raise ValueError(
                f"the diffraction model needs an even number of pixels, got {pixels}"
            )
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
        # centre falls between samples, at the centre of the binned field;
        # (-1)^x moves it by M/2 too, in place of an fftshift
        shift = np.exp(1j * np.pi * x * (1.0 - 1.0 / m))
        self._ramp = shift[:, None] * shift[None, :]
        self.spot_pixels = 2 * p

    def spots(self, phase: np.ndarray, flux: float) -> np.ndarray:
        """(n, n, 2p, 2p) spot images (photons), each centred on its tile."""
        n, p, m, q = self.lenslets, self.pixels, self.fft_size, self.oversampling
        tiles = phase.reshape(n, p, n, p).transpose(0, 2, 1, 3)
        field = self.amplitude * np.exp(1j * tiles) * self._ramp
        # zero-padded to M points by the FFT itself, the p lit rows first
        far = np.fft.fft(np.fft.fft(field, n=m, axis=-1), n=m, axis=-2)
        intensity = np.square(far.real)
        intensity += np.square(far.imag)
        b = self.field_pixels
        # pixel integration: q x q fine samples per pixel, one axis at a time
        binned = intensity.reshape(n, n, m, b, q).sum(axis=-1)
        binned = binned.reshape(n, n, b, q, b).sum(axis=3)
        binned *= (flux * self._lit_fraction * self._scale)[..., None, None]
        # crop or pad the B-pixel field to 2p pixels, centres aligned
        w = self.spot_pixels
        if b >= w:
            o = (b - w) // 2
            return binned[..., o : o + w, o : o + w]
        out = np.zeros((n, n, w, w))
        o = (w - b) // 2
        out[..., o : o + b, o : o + b] = binned
        return out

    def image(self, phase: np.ndarray, flux: float) -> np.ndarray:
        """The detector image (photons): spots added at their tiles, the
        half tile around each spilling into the neighbours (light falling
        off the detector is lost)."""
        n, p = self.lenslets, self.pixels
        h = p // 2
        spots = self.spots(phase, flux).reshape(n, n, 4, h, 4, h)
        # a spot spans four half tiles per axis starting half a tile before
        # its own tile: add them on a half-tile grid with a one-tile border
        canvas = np.zeros((2 * n + 4, h, 2 * n + 4, h))
        for a in range(4):
            for b in range(4):
                canvas[1 + a : 1 + a + 2 * n : 2, :, 1 + b : 1 + b + 2 * n : 2, :] += (
                    spots[:, :, a, :, b, :].transpose(0, 2, 1, 3)
                )
        side = 2 * n * h
        return canvas.reshape((2 * n + 4) * h, (2 * n + 4) * h)[
            2 * h : 2 * h + side, 2 * h : 2 * h + side
        ]
