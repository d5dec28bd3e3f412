"""A camera detector: photons -> digital numbers, with its noise and defects.

Per pixel and frame ``n`` (generators ``default_rng([seed, n, k])``; the
maps are drawn once from ``default_rng([seed, 0, 500 + k])``):

1. electrons ``λ = flat · photons + dark_current`` (``flat = 1 + flat_rms
   · N(0, 1)``, ``dark_current`` in e- per pixel per frame);
2. shot noise ``e ~ Poisson(λ)`` (``photon_noise``; else ``e = λ``), capped
   at ``full_well``;
3. an EMCCD register (``em_gain`` G > 1) multiplies: ``e ~ Gamma(e, G)``,
   mean ``G λ`` and variance ``2 G² λ`` (excess noise factor √2; Basden,
   Haniff & Mackay 2003, MNRAS 345, 985);
4. read noise ``+ N(0, read_noise²)`` e-;
5. dead pixels read 0 e- and hot pixels add ``hot_level`` e- (seeded maps of
   ``dead_pixels``/``hot_pixels``: a count or a fraction of the pixels);
6. digital numbers ``DN = bias + e / gain`` (``gain`` in e- per DN); with
   ``adc_bits`` they are rounded and clipped to ``[0, 2^bits - 1]``; an
   integer output dtype rounds and clips to its range.

So a frame of ``n_e`` mean electrons has mean ``bias + n_e / gain`` and
variance ``(n_e + read_noise²) / gain²`` (``(2 G² n_e + read_noise²) /
gain²`` with an EM register), plus ``1/12`` DN² once rounded; the bias
pedestal keeps the negative read-noise excursions of a dark pixel inside
an unsigned range (with ``bias: 0`` they are clipped at 0, as an ADC does).
With every setting at its default (bias 0, gain 1, no dark, flat or
defects, no full well, no EM register, no ADC bits) a frame is the shot
noise plus the read noise, rounded only for integer dtypes.

Parameters (``detector`` mapping of a camera fake): ``bias`` (DN, 0),
``gain`` (e-/DN, 1), ``dark_current`` (e-/pixel/frame, 0), ``flat_rms``
(0), ``dead_pixels`` (0), ``hot_pixels`` (0), ``hot_level`` (e-, 1000),
``full_well`` (e-, null), ``em_gain`` (1: none), ``adc_bits`` (null).
``photon_noise`` and ``read_noise`` stay the camera's own parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, how_many, rng_for


class Detector:
    """The detector of a camera fake (see the module docstring)."""

    def __init__(
        self,
        params: Mapping[str, Any] | None,
        *,
        shape: tuple[int, int],
        dtype: np.dtype,
        photon_noise: bool,
        read_noise: float,
        seed: int,
        kind: str = "detector",
    ) -> None:
        p = Params(kind, params)
        self.bias = p.number("bias", 0.0)
        self.gain = p.number("gain", 1.0, positive=True)
        self.dark_current = p.number("dark_current", 0.0, minimum=0.0)
        self.flat_rms = p.number("flat_rms", 0.0, minimum=0.0)
        dead = p.count("dead_pixels", 0)
        hot = p.count("hot_pixels", 0)
        self.hot_level = p.number("hot_level", 1000.0, minimum=0.0)
        self.full_well = p.number("full_well", None, positive=True, allow_none=True)
        self.em_gain = p.number("em_gain", 1.0, minimum=1.0)
        self.adc_bits = p.get("adc_bits")
        if self.adc_bits is not None:
            self.adc_bits = p.integer("adc_bits", 16, minimum=1)
        p.done()
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.photon_noise = photon_noise
        self.read_noise = read_noise
        self.seed = int(seed)
        size = int(np.prod(self.shape))
        self.flat = None
        if self.flat_rms:
            self.flat = 1.0 + self.flat_rms * rng_for(seed, 0, 500).standard_normal(
                self.shape
            )
        order = rng_for(seed, 0, 501).permutation(size)
        n_dead, n_hot = how_many(dead, size), how_many(hot, size)
        self.dead = np.zeros(size, bool)
        self.dead[order[:n_dead]] = True
        self.hot = np.zeros(size, bool)
        self.hot[order[n_dead : n_dead + n_hot]] = True
        self.dead = self.dead.reshape(self.shape)
        self.hot = self.hot.reshape(self.shape)
        self._defects = bool(n_dead or n_hot)

    def electrons(self, photons: np.ndarray) -> np.ndarray:
        """Mean electrons ``λ`` of a photon image (flat and dark applied)."""
        e = photons if self.flat is None else photons * self.flat
        return e + self.dark_current if self.dark_current else e

    def mean_frame(self, photons: np.ndarray) -> np.ndarray:
        """The noiseless digital frame (float64): the expectation of
        :meth:`read` before rounding, full well and ADC range aside."""
        e = self.electrons(np.asarray(photons, dtype=np.float64)) * self.em_gain
        e = self._defect(e)
        return self.bias + e / self.gain

    def _defect(self, e: np.ndarray) -> np.ndarray:
        if not self._defects:
            return e
        e = np.where(self.dead, 0.0, e)
        return np.where(self.hot, e + self.hot_level, e)

    def read(self, photons: np.ndarray, n: int) -> np.ndarray:
        """Frame ``n`` of a photon image, in the output dtype."""
        e = self.electrons(np.asarray(photons, dtype=np.float64))
        if self.photon_noise:
            e = rng_for(self.seed, n, 1).poisson(e).astype(np.float64)
        if self.full_well is not None:
            e = np.minimum(e, self.full_well)
        if self.em_gain > 1.0:
            rng = rng_for(self.seed, n, 3)
            out = np.zeros_like(e)
            lit = e > 0
            out[lit] = rng.gamma(e[lit], self.em_gain)
            e = out
        if self.read_noise:
            e = e + rng_for(self.seed, n, 2).normal(0.0, self.read_noise, e.shape)
        e = self._defect(e)
        dn = e if (self.bias == 0.0 and self.gain == 1.0) else self.bias + e / self.gain
        if self.adc_bits is not None:
            dn = np.clip(np.rint(dn), 0, 2**self.adc_bits - 1)
        if self.dtype.kind in "iu":
            info = np.iinfo(self.dtype)
            dn = np.clip(np.rint(dn), info.min, info.max)
        return dn.astype(self.dtype)
