"""A seeded atmospheric phase screen with frozen flow.

One periodic screen of ``screen_size`` x ``screen_size`` samples is drawn
once, by the FFT method, from the von Kármán spectrum

    Φ(f) = 0.023 r0^(-5/3) (f² + 1/L0²)^(-11/6)    [rad² m²]

(``L0: null`` gives Kolmogorov, 1/L0 = 0; ``r0`` and ``L0`` in metres,
``f`` in cycles per metre). Each Fourier coefficient is a complex Gaussian of
variance ``2 Φ(f) Δf²`` and the screen is the real part of their inverse
FFT, so the expected structure function of the screen is exactly

    D(r) = 2 Σ_f Φ(f) Δf² (1 - cos 2π f·r)

and approaches ``6.88 (r / r0)^(5/3)`` rad² at separations well below
``L0`` and the screen width. It falls short of it (~25% at 1-4 samples on a
256-sample screen, more at larger separations): an FFT screen without
subharmonics, kept periodic so the frozen flow can wrap around, lacks the
scales beyond Nyquist and beyond the screen. The piston (f = 0) is zero, so
the whole periodic screen has zero mean.

Frame ``n`` is the ``size`` x ``size`` window of that screen shifted by
``n * wind`` samples (frozen flow; bilinear interpolation for fractional
shifts, exact for integer ones), so ``frame(n)`` depends on the parameters
and ``n`` only and frames can be asked in any order.

Parameters: ``size`` (samples, 32), ``r0`` (m, 0.15), ``L0`` (m, 25; null
for Kolmogorov), ``pixel_scale`` (m per sample, 0.05), ``wind`` ([y, x]
samples per frame, [0, 1]), ``screen_size`` (samples of the periodic screen,
default the next power of two >= 4 * size), ``dtype`` (float32). They come
as a mapping (a scenario's ``inputs``) or as keywords:
``PhaseScreen(size=64, r0=0.1, L0=None, wind=(0, 0.5), seed=3)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, merged, rng_for


def von_karman_screen(
    n: int, r0: float, L0: float | None, pixel_scale: float, seed: int
) -> np.ndarray:
    """A periodic ``n`` x ``n`` phase screen (radians, float64) by the FFT
    method (see the module docstring); ``L0=None`` is Kolmogorov."""
    df = 1.0 / (n * pixel_scale)
    f = np.fft.fftfreq(n, d=pixel_scale)
    f2 = f[:, None] ** 2 + f[None, :] ** 2
    inv_l0 = 0.0 if L0 is None else 1.0 / L0
    with np.errstate(divide="ignore"):
        psd = 0.023 * r0 ** (-5.0 / 3.0) * (f2 + inv_l0**2) ** (-11.0 / 6.0)
    psd[0, 0] = 0.0  # no piston
    rng = rng_for(seed, 0, 101)
    noise = rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n))
    return np.real(np.fft.ifft2(noise * np.sqrt(psd) * df)) * n * n


class PhaseScreen:
    """Frozen-flow phase screen (see the module docstring)."""

    kind = "phase_screen"

    def __init__(
        self, params: Mapping[str, Any] | None = None, *, seed: int = 0, **kwargs: Any
    ) -> None:
        p = Params(self.kind, merged(self.kind, params, kwargs))
        self.size = p.integer("size", 32, minimum=2)
        self.r0 = p.number("r0", 0.15, positive=True)
        self.L0 = p.number("L0", 25.0, positive=True, allow_none=True)
        self.pixel_scale = p.number("pixel_scale", 0.05, positive=True)
        self.wind = p.pair("wind", (0.0, 1.0))
        default_m = 1 << int(np.ceil(np.log2(4 * self.size)))
        self.screen_size = p.integer("screen_size", default_m, minimum=self.size)
        self.dtype = p.dtype("dtype", "float32")
        p.done()
        self.seed = int(seed)
        self.shape = (self.size, self.size)
        self.screen = von_karman_screen(
            self.screen_size, self.r0, self.L0, self.pixel_scale, self.seed
        )

    def phase(self, n: int) -> np.ndarray:
        """Frame ``n`` in float64 (radians): ``phase(n)[i, j] =
        screen[i + n * wind_y, j + n * wind_x]`` (indices modulo the screen)."""
        m = self.screen_size
        base = np.arange(self.size)
        weights = []
        for shift in self.wind:
            offset = shift * n
            whole = int(np.floor(offset))
            frac = offset - whole
            idx0 = (base + whole) % m
            idx1 = (idx0 + 1) % m
            weights.append((idx0, idx1, frac))
        (y0, y1, fy), (x0, x1, fx) = weights
        s = self.screen
        out = (1 - fy) * ((1 - fx) * s[np.ix_(y0, x0)] + fx * s[np.ix_(y0, x1)])
        if fy:
            out = out + fy * ((1 - fx) * s[np.ix_(y1, x0)] + fx * s[np.ix_(y1, x1)])
        return out

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        """The phase of frame ``n`` (``command`` is ignored)."""
        del command
        return self.phase(n).astype(self.dtype)

    def delay(self, n: int) -> float:
        """No latency of its own (see :mod:`~shmpipeline.testing.fakes.faults`)."""
        return 0.0
