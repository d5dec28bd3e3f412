"""A seeded atmosphere: one or more von Kármán layers in frozen flow.

Each layer is drawn from the spectrum ``Φ(f) = 0.023 r0^(-5/3) (f² +
1/L0²)^(-11/6)`` (:mod:`~shmpipeline.testing.fakes.turbulence`; ``L0: null``
is Kolmogorov), so that ``D(r) = 6.88 (r / r0)^(5/3)`` well inside ``L0``.

Static layer (``wind`` zero, or ``infinite: false``): an FFT screen of
``screen_size`` samples plus ``subharmonics`` levels of Lane et al. (1992)
low-order compensation with cell-integrated weights (Johansson & Gavel
1994). With the default three levels a 256-sample Kolmogorov screen has
``D(r)`` within 0.94-0.98 of ``6.88 (r/r0)^(5/3)`` for 2 <= r <= 64 samples
and 0.91 at 128, and the tip/tilt of a pupil of half the screen has Noll's
variance (Noll 1976: ``0.448 (D/r0)^(5/3)`` rad² per axis) to 0.93 of it.
With ``infinite: false`` the FFT part wraps around (it repeats every
``screen_size / wind`` frames), the subharmonics do not.

Frozen flow (``infinite: true``, the default): an infinite, non-repeating
screen, periodic-free and extruded along the wind's dominant axis
(:mod:`~shmpipeline.testing.fakes.infinite_screen`, exact conditional
Gaussian rows per cross-wind mode, after Assémat et al. 2006), ``screen_size``
samples setting its cross-wind mode grid. Frame ``n`` is the ``size`` x
``size`` window at offset ``n * wind`` samples:

    phase(n)[i, j] = φ(i + n w_y, j + n w_x).

Sub-sample offsets are Fourier shifts along both axes of a block with a
margin of ``SHIFT_MARGIN`` samples (its linear trend removed first so it is
continuous around its ends; on a periodic screen a phase ramp on its DFT),
so the small-scale power does not swing with the sub-pixel phase as
bilinear interpolation would. ``frame(n)`` depends on the parameters and ``n`` only:
frames can be asked in any order.

Layers (``layers: [{altitude, fraction, wind, direction, L0}]``): the
turbulence is split by the Cn² ``fraction`` of each layer (normalised to a
sum of 1), layer ``i`` having ``r0_i = r0 fraction_i^(-3/5)`` so the layers'
phase variances add up to that of ``r0`` (Roddier 1981). ``wind`` of a layer
is ``[y, x]`` samples per frame or a speed with ``direction`` (degrees from
+x towards +y). ``altitude`` (m) is kept for reference: on axis it does not
change the phase. ``r0`` is given at ``r0_wavelength`` (m, 500 nm) and the
phase is in radians at ``wavelength`` (default the same), scaled by
``r0_wavelength / wavelength`` (r0 ∝ λ^(6/5), phase ∝ r0^(-5/6)).

Boiling (``boiling: τ`` frames, top level or per layer; none by default):
the layer is ``cos θ_n A + sin θ_n B``, two independent screens in the
same flow mixed by a seeded random-walk angle with increments of variance
``2/τ``. Each frame keeps the spatial statistics exactly (cos² + sin² = 1)
while the temporal correlation of the flow is multiplied by
``E[cos(θ_n - θ_m)] = exp(-|n - m| / τ)``: the turbulence evolves with a
correlation time of τ frames besides being carried by the wind.

Parameters: ``size`` (samples, 32), ``r0`` (m, 0.15), ``L0`` (m, 25; null for
Kolmogorov), ``pixel_scale`` (m per sample, 0.05), ``wind`` ([y, x] samples
per frame, [0, 1]), ``screen_size`` (samples, default the next power of two
>= 4 * size), ``subharmonics`` (levels, 3; 0 turns them off),
``infinite`` (true), ``boiling`` (frames, none), ``layers`` (none: one
layer with the top-level wind),
``wavelength``, ``r0_wavelength`` (m, 500e-9), ``dtype`` (float32). They
come as a mapping (a scenario's ``inputs``) or as keywords:
``PhaseScreen(size=64, r0=0.1, L0=None, wind=(0, 0.5), seed=3)``.

References: Fried (1965) JOSA 55, 1427; Noll (1976) JOSA 66, 207;
McGlamery (1976) Proc. SPIE 74, 225; Lane, Glindemann & Dainty (1992)
Waves Random Media 2, 209; Johansson & Gavel (1994) Proc. SPIE 2200, 372;
Assémat, Wilson & Gendron (2006) Opt. Express 14, 988.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, fake_error, merged, rng_for
from shmpipeline.testing.fakes.infinite_screen import InfiniteScreen
from shmpipeline.testing.fakes.turbulence import Subharmonics, fft_screen

#: Samples either side of a window used by the sub-sample Fourier shifts.
SHIFT_MARGIN = 16
#: Cross-wind band alignment of the infinite screen's row cache (samples).
CROSS_ALIGN = 64


def von_karman_screen(
    n: int, r0: float, L0: float | None, pixel_scale: float, seed: int
) -> np.ndarray:
    """A periodic ``n`` x ``n`` FFT phase screen (radians, float64) without
    subharmonics; ``L0=None`` is Kolmogorov."""
    return fft_screen(n, r0, L0, pixel_scale, rng_for(seed, 0, 101))


def fourier_shift_rows(block: np.ndarray, shift: float) -> np.ndarray:
    """``block`` (rows along axis 0) sampled at ``row + shift`` by a
    Fourier shift of the block with its linear trend removed."""
    count = block.shape[0]
    index = np.arange(count, dtype=np.float64)[:, None]
    first, last = block[:1], block[-1:]
    slope = (last - first) / (count - 1)
    detrended = block - first - slope * index
    k = np.fft.rfftfreq(count)
    spectrum = np.fft.rfft(detrended, axis=0) * np.exp(2j * np.pi * k * shift)[:, None]
    return np.fft.irfft(spectrum, n=count, axis=0) + first + slope * (index + shift)


@dataclass(frozen=True)
class LayerSpec:
    """One turbulent layer: its r0 (m), outer scale, wind (samples/frame)."""

    r0: float
    L0: float | None
    wind: tuple[float, float]
    altitude: float
    fraction: float
    boiling: float | None = None


#: Frames of boiling-angle increments drawn per generator call.
BOILING_CHUNK = 1024


class BoilingAngle:
    """``θ_n``: a seeded Gaussian random walk with increments of variance
    ``2 / τ``, so ``E[cos(θ_n - θ_m)] = exp(-|n - m| / τ)``; linear between
    whole frames."""

    def __init__(self, tau: float, seed: int, stream: int) -> None:
        self.step = np.sqrt(2.0 / tau)
        self.seed = seed
        self.stream = stream
        self._starts = [0.0]  # θ at the start of each chunk
        self._chunks: dict[int, np.ndarray] = {}

    def _chunk(self, c: int) -> np.ndarray:
        while len(self._starts) <= c:
            k = len(self._starts) - 1
            self._starts.append(float(self._angles(k)[-1]))
        return self._angles(c)

    def _angles(self, c: int) -> np.ndarray:
        """θ at frames ``c * CHUNK .. (c + 1) * CHUNK`` (CHUNK + 1 values)."""
        cached = self._chunks.get(c)
        if cached is None:
            steps = rng_for(self.seed, c, self.stream).standard_normal(BOILING_CHUNK)
            cached = self._starts[c] + np.concatenate(
                [[0.0], np.cumsum(steps * self.step)]
            )
            if len(self._chunks) > 8:
                self._chunks.clear()
            self._chunks[c] = cached
        return cached

    def at(self, t: float) -> float:
        whole = math.floor(t)
        c, i = divmod(whole, BOILING_CHUNK)
        angles = self._chunk(c)
        frac = t - whole
        return float(angles[i] + frac * (angles[i + 1] - angles[i]))


class Layer:
    """One frozen-flow layer (see the module docstring)."""

    def __init__(
        self,
        spec: LayerSpec,
        *,
        size: int,
        screen_size: int,
        pixel_scale: float,
        subharmonics: int,
        infinite: bool,
        seed: int,
        index: int,
    ) -> None:
        self.spec = spec
        self.size = size
        self.screen_size = screen_size
        self.pixel_scale = pixel_scale
        self.wind = spec.wind
        self.infinite = infinite and any(spec.wind)
        self.seed = seed
        stream = 10 * index
        self.periodic = fft_screen(
            screen_size, spec.r0, spec.L0, pixel_scale, rng_for(seed, 0, 101 + stream)
        )
        self.subharmonics = Subharmonics.draw(
            screen_size,
            spec.r0,
            spec.L0,
            pixel_scale,
            subharmonics,
            rng_for(seed, 0, 102 + stream),
        )
        self._spectrum: np.ndarray | None = None
        self._static: np.ndarray | None = None
        self._partner: Layer | None = None
        self._angle: BoilingAngle | None = None
        if spec.boiling:
            self._partner = Layer(
                dataclasses.replace(spec, boiling=None),
                size=size,
                screen_size=screen_size,
                pixel_scale=pixel_scale,
                subharmonics=subharmonics,
                infinite=infinite,
                seed=seed,
                index=1000 + index,
            )
            self._angle = BoilingAngle(spec.boiling, seed, 900 + index)
        self._strip: InfiniteScreen | None = None
        if self.infinite:
            self._along = 0 if abs(spec.wind[0]) > abs(spec.wind[1]) else 1
            self._strip = InfiniteScreen(
                screen_size, spec.r0, spec.L0, pixel_scale, seed, stream=index
            )

    def static_screen(self) -> np.ndarray:
        """The ``screen_size``-square static screen (FFT part plus subharmonics)."""
        grid = np.arange(self.screen_size) * self.pixel_scale
        return self.periodic + self.subharmonics.evaluate(grid, grid)

    def phase(self, n: float) -> np.ndarray:
        """The layer at frame ``n``; with boiling ``cos θ_n A + sin θ_n B``
        of two independent screens in the same flow."""
        frozen = self._frozen(n)
        if self._partner is None:
            return frozen
        theta = self._angle.at(n)
        return math.cos(theta) * frozen + math.sin(theta) * self._partner._frozen(n)

    def _frozen(self, n: float) -> np.ndarray:
        if not any(self.wind):  # a static layer: one window for every frame
            if self._static is None:
                self._static = self._periodic_window(0, 0) + self._subharmonic_window(
                    0, 0
                )
                self._static.flags.writeable = False
            return self._static
        oy, ox = (w * n for w in self.wind)
        if self._strip is not None:
            return self._infinite_window(oy, ox)
        return self._periodic_window(oy, ox) + self._subharmonic_window(oy, ox)

    def _subharmonic_window(self, oy: float, ox: float) -> np.ndarray:
        base = np.arange(self.size, dtype=np.float64)
        dx = self.pixel_scale
        return self.subharmonics.evaluate((base + oy) * dx, (base + ox) * dx)

    def _periodic_window(self, oy: float, ox: float) -> np.ndarray:
        m = self.screen_size
        base = np.arange(self.size)
        if float(oy).is_integer() and float(ox).is_integer():
            rows = (base + int(oy)) % m
            cols = (base + int(ox)) % m
            return self.periodic[np.ix_(rows, cols)]
        if self._spectrum is None:
            self._spectrum = np.fft.fft2(self.periodic)
        k = np.fft.fftfreq(m) * m
        ey = np.exp(2j * np.pi * np.outer(base + oy, k) / m)
        ex = np.exp(2j * np.pi * np.outer(k, base + ox) / m)
        return np.real(ey @ self._spectrum @ ex) / (m * m)

    def _infinite_window(self, oy: float, ox: float) -> np.ndarray:
        strip = self._strip
        along, cross = (oy, ox) if self._along == 0 else (ox, oy)
        flip = along < 0 or (along == 0 and self.wind[self._along] < 0)
        m, size = SHIFT_MARGIN, self.size
        t0 = abs(along)
        t_whole = math.floor(t0)
        t_frac = t0 - t_whole
        c_whole = math.floor(cross)
        c_frac = cross - c_whole
        # columns: a fixed-width band aligned to CROSS_ALIGN, so the strip's
        # row cache serves every frame until the wind carries the window out
        first = c_whole - m
        aligned = math.floor(first / CROSS_ALIGN) * CROSS_ALIGN
        band = aligned + np.arange(size + 2 * m + 1 + CROSS_ALIGN, dtype=np.float64)
        block = strip.rows(
            t_whole, size + 2 * m + 1, band
        )  # rows t_whole - m .. (offset m)
        block = block[:, first - aligned : first - aligned + size + 2 * m + 1]
        if t_frac:
            block = fourier_shift_rows(block, t_frac)
        block = block[m : m + size]
        if c_frac:
            block = fourier_shift_rows(block.T, c_frac).T
        window = block[:, m : m + size]
        if flip:
            window = window[::-1]
        return window if self._along == 0 else window.T


class PhaseScreen:
    """Frozen-flow atmosphere of one or more layers (see the module docstring)."""

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
        self.subharmonic_levels = p.integer("subharmonics", 3, minimum=0)
        self.infinite = p.boolean("infinite", True)
        self.r0_wavelength = p.number("r0_wavelength", 500e-9, positive=True)
        self.wavelength = p.number(
            "wavelength", self.r0_wavelength, positive=True, allow_none=True
        )
        if self.wavelength is None:
            self.wavelength = self.r0_wavelength
        self.boiling = p.number("boiling", None, positive=True, allow_none=True)
        raw_layers = p.get("layers")
        self.dtype = p.dtype("dtype", "float32")
        p.done()
        self.seed = int(seed)
        self.shape = (self.size, self.size)
        self.phase_scale = self.r0_wavelength / self.wavelength
        specs = self._layer_specs(raw_layers)
        self.layers = [
            Layer(
                spec,
                size=self.size,
                screen_size=self.screen_size,
                pixel_scale=self.pixel_scale,
                subharmonics=self.subharmonic_levels,
                infinite=self.infinite,
                seed=self.seed,
                index=i,
            )
            for i, spec in enumerate(specs)
        ]

    def _layer_specs(self, raw: Any) -> list[LayerSpec]:
        if raw is None:
            return [LayerSpec(self.r0, self.L0, self.wind, 0.0, 1.0, self.boiling)]
        if not isinstance(raw, (list, tuple)) or not raw:
            raise fake_error(
                self.kind, f"parameter 'layers': must be a non-empty list, got {raw!r}"
            )
        parsed = []
        for i, item in enumerate(raw):
            name = f"layers[{i}]"
            if not isinstance(item, Mapping):
                raise fake_error(
                    self.kind, f"parameter {name!r}: must be a mapping, got {item!r}"
                )
            lp = Params(f"{self.kind}.{name}", item)
            altitude = lp.number("altitude", 0.0, minimum=0.0)
            fraction = lp.number("fraction", 1.0, positive=True)
            L0 = lp.number("L0", self.L0, positive=True, allow_none=True)
            wind = lp.get("wind", list(self.wind))
            direction = lp.number("direction", 0.0)
            boiling = lp.number("boiling", self.boiling, positive=True, allow_none=True)
            lp.done()
            if isinstance(wind, (int, float)) and not isinstance(wind, bool):
                angle = math.radians(direction)
                vector = (wind * math.sin(angle), wind * math.cos(angle))
            else:
                vector = Params(f"{self.kind}.{name}", {"wind": wind}).pair(
                    "wind", (0.0, 0.0)
                )
            parsed.append((altitude, fraction, L0, vector, boiling))
        total = sum(item[1] for item in parsed)
        return [
            LayerSpec(self.r0 * (f / total) ** (-3.0 / 5.0), L0, w, a, f / total, b)
            for a, f, L0, w, b in parsed
        ]

    @property
    def screen(self) -> np.ndarray:
        """The static ``screen_size``-square screen of the first layer
        (radians at ``r0_wavelength``): FFT part plus subharmonics."""
        return self.layers[0].static_screen()

    def phase(self, n: int) -> np.ndarray:
        """Frame ``n`` in float64 (radians at ``wavelength``): the sum of the
        layers' windows at ``n * wind``."""
        total = self.layers[0].phase(n)
        for layer in self.layers[1:]:
            total = total + layer.phase(n)
        return total * self.phase_scale if self.phase_scale != 1.0 else total

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        """The phase of frame ``n`` (``command`` is ignored)."""
        del command
        return self.phase(n).astype(self.dtype)

    def delay(self, n: int) -> float:
        """No latency of its own (see :mod:`~shmpipeline.testing.fakes.faults`)."""
        return 0.0
