"""A Shack-Hartmann wavefront-sensor camera: phase -> spot image.

Two models: ``model: geometric`` (the default, below) and ``model:
diffraction`` (a Fraunhofer FFT per lenslet with pixel integration and
light spilling into the neighbouring tiles, at ``oversampling`` fine
samples per pixel: :mod:`~shmpipeline.testing.fakes.diffraction`). A
``pupil`` mapping (:mod:`~shmpipeline.testing.fakes.pupil`: diameter,
central obstruction, spiders) masks the light and leaves the subapertures
lit below ``valid_fraction`` dark. ``exposure_steps`` K > 1 averages the
images at ``n + k/K`` of the frozen flow over the exposure.

Geometric model. The detector has ``lenslets`` x ``lenslets`` subapertures
of ``pixels`` x ``pixels`` pixels; the phase (radians) is sampled once per
detector pixel, on a ``(lenslets * pixels)``-square grid. In each
subaperture the mean phase gradient ``g = (g_row, g_col)`` (radians per
sample: the mean of the finite differences inside the tile) moves the spot
from the tile centre ``((pixels-1)/2, (pixels-1)/2)`` by

    shift = pixels_per_radian * g    [pixels]

``pixels_per_radian`` defaults to ``pixels / π``: a tilt of 2π radians
across a subaperture (one λ/d) moves its spot by 2 pixels, as on a
Nyquist-sampled sensor. Each spot is a Gaussian of ``fwhm`` pixels
sampled at pixel centres and scaled so its full (untruncated) integral is
``flux`` photons, plus ``background`` photons per pixel. Noise, drawn from
``numpy.random.default_rng([seed, n, ...])`` (so frame ``n`` is
reproducible on its own): Poisson photon noise (``photon_noise``), then
Gaussian read noise of ``read_noise`` rms, and the rest of the
``detector`` model (bias, gain, dark current, flat field, dead and hot
pixels, full well, EMCCD register, ADC bits:
:mod:`~shmpipeline.testing.fakes.detector`). An integer ``dtype`` (e.g.
``uint16``) digitises like an ADC: rounded to the nearest count and clipped
to the dtype's range (a float dtype keeps the values as they are).
:meth:`ShackHartmann.expose` turns any phase into such a frame.

The phase of frame ``n`` is ``atmosphere.phase(n)`` (a
:class:`~shmpipeline.testing.fakes.phase_screen.PhaseScreen` with the
``atmosphere`` parameters; ``atmosphere: null`` is a flat wavefront) minus,
when a command is given, the surface of the ``mirror``
(:class:`~shmpipeline.testing.fakes.deformable_mirror.DeformableMirror`):
``frame(n, command=c)`` closes the loop.

Parameters: ``lenslets`` (8), ``pixels`` (8), ``fwhm`` (2.0),
``pixels_per_radian`` (pixels / π), ``flux`` (1000), ``background`` (0),
``photon_noise`` (true), ``read_noise`` (0), ``atmosphere`` (mapping of
phase-screen parameters except ``size``; default ``{}``), ``mirror``
(mapping of mirror parameters except ``size``; ``n_act`` defaults to
``lenslets``), ``model`` (geometric), ``oversampling`` (2), ``pupil``
(mapping, none: every pixel lit), ``exposure_steps`` (1), ``detector``
(mapping, see
:mod:`~shmpipeline.testing.fakes.detector`), ``latency_frames`` (0: the mirror follows the last command;
L > 0, integer or fractional, delays it L frames more, see
:mod:`~shmpipeline.testing.fakes.command_delay`), ``dtype`` (float32). Output shape ``(lenslets * pixels,)*2``.
They come as a mapping or as keywords
(``ShackHartmann(lenslets=4, pixels=8, atmosphere=None)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params, fake_error, merged
from shmpipeline.testing.fakes.command_delay import CommandDelay
from shmpipeline.testing.fakes.deformable_mirror import DeformableMirror
from shmpipeline.testing.fakes.detector import Detector
from shmpipeline.testing.fakes.diffraction import DiffractionSpots
from shmpipeline.testing.fakes.phase_screen import PhaseScreen
from shmpipeline.testing.fakes.pupil import Pupil

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


class ShackHartmann:
    """Shack-Hartmann camera (see the module docstring)."""

    kind = "shack_hartmann"

    def __init__(
        self, params: Mapping[str, Any] | None = None, *, seed: int = 0, **kwargs: Any
    ) -> None:
        p = Params(self.kind, merged(self.kind, params, kwargs))
        self.lenslets = p.integer("lenslets", 8, minimum=1)
        self.pixels = p.integer("pixels", 8, minimum=2)
        self.fwhm = p.number("fwhm", 2.0, positive=True)
        self.pixels_per_radian = p.number(
            "pixels_per_radian", self.pixels / np.pi, positive=True
        )
        self.flux = p.number("flux", 1000.0, minimum=0.0)
        self.background = p.number("background", 0.0, minimum=0.0)
        self.photon_noise = p.boolean("photon_noise", True)
        self.read_noise = p.number("read_noise", 0.0, minimum=0.0)
        atmosphere = p.mapping("atmosphere") if p.has("atmosphere") else {}
        mirror = p.mapping("mirror") if p.has("mirror") else {}
        self.latency_frames = p.number("latency_frames", 0.0, minimum=0.0)
        detector = p.mapping("detector")
        self.model = p.get("model", "geometric")
        if self.model not in ("geometric", "diffraction"):
            raise fake_error(
                self.kind,
                f"parameter 'model': must be 'geometric' or 'diffraction', got {self.model!r}",
            )
        self.oversampling = p.integer("oversampling", 2, minimum=1)
        pupil = p.mapping("pupil")
        self.exposure_steps = p.integer("exposure_steps", 1, minimum=1)
        self.dtype = p.dtype("dtype", "float32")
        p.done()
        self.seed = int(seed)
        side = self.lenslets * self.pixels
        self.shape = (side, side)
        for name, sub in (("atmosphere", atmosphere), ("mirror", mirror)):
            if sub is not None and "size" in sub:
                raise fake_error(
                    self.kind,
                    f"parameter '{name}.size': set by lenslets * pixels ({side})",
                )
        self.atmosphere = None
        if atmosphere is not None:
            self.atmosphere = _nested(
                PhaseScreen,
                self.kind,
                "atmosphere",
                {**atmosphere, "size": side},
                self.seed,
            )
        mirror = dict(mirror or {})
        mirror.setdefault("n_act", self.lenslets)
        self.mirror = _nested(
            DeformableMirror, self.kind, "mirror", {**mirror, "size": side}, self.seed
        )
        self.delay_line = CommandDelay(self.latency_frames)
        self.detector = Detector(
            detector or {},
            shape=self.shape,
            dtype=self.dtype,
            photon_noise=self.photon_noise,
            read_noise=self.read_noise,
            seed=self.seed,
            kind=f"{self.kind}.detector",
        )
        self.pupil = None
        if pupil is not None:
            self.pupil = Pupil(
                pupil,
                lenslets=self.lenslets,
                pixels=self.pixels,
                kind=f"{self.kind}.pupil",
            )
        self.diffraction = None
        if self.model == "diffraction":
            try:
                self.diffraction = DiffractionSpots(
                    self.lenslets,
                    self.pixels,
                    self.pixels_per_radian,
                    self.oversampling,
                    None
                    if self.pupil is None
                    else self.pupil.mask * self._valid_pixels(),
                )
            except ValueError as exc:
                raise fake_error(self.kind, f"model 'diffraction': {exc}") from exc
        self._sigma = self.fwhm / FWHM_PER_SIGMA
        self._grid = np.arange(self.pixels, dtype=np.float64)

    # --- physics -----------------------------------------------------------

    def _valid_pixels(self) -> np.ndarray:
        p = self.pixels
        return np.kron(self.pupil.valid, np.ones((p, p)))

    def phase(self, n: int, command: Any = None) -> np.ndarray:
        """The phase (float64, radians) the camera sees at frame ``n`` (the
        start of its exposure when ``exposure_steps > 1``)."""
        if self.atmosphere is None:
            phase = np.zeros(self.shape)
        else:
            phase = self.atmosphere.phase(n)
        shape = self.delay_line.mirror_shape(n, command, self.mirror.surface)
        if shape is not None:
            phase = phase - shape
        return phase

    def spot_shifts(self, phase: np.ndarray) -> np.ndarray:
        """``(lenslets, lenslets, 2)`` spot shifts ``[row, col]`` in pixels
        for a phase (see the module docstring)."""
        phase = np.asarray(phase, dtype=np.float64)
        if phase.shape != self.shape:
            raise fake_error(
                self.kind, f"phase of shape {phase.shape}, expected {self.shape}"
            )
        n, p = self.lenslets, self.pixels
        tiles = phase.reshape(n, p, n, p).transpose(0, 2, 1, 3)  # (n, n, p, p)
        g_row = (tiles[:, :, -1, :] - tiles[:, :, 0, :]).mean(axis=-1) / (p - 1)
        g_col = (tiles[:, :, :, -1] - tiles[:, :, :, 0]).mean(axis=-1) / (p - 1)
        return self.pixels_per_radian * np.stack([g_row, g_col], axis=-1)

    def image(self, phase: np.ndarray) -> np.ndarray:
        """The noiseless spot image (float64, photons) of a phase."""
        phase = np.asarray(phase, dtype=np.float64)
        if self.diffraction is not None:
            if phase.shape != self.shape:
                raise fake_error(
                    self.kind, f"phase of shape {phase.shape}, expected {self.shape}"
                )
            return self.diffraction.image(phase, self.flux) + self.background
        shifts = self.spot_shifts(phase)
        n, p = self.lenslets, self.pixels
        centre = (p - 1) / 2.0
        s = self._sigma
        x = self._grid
        gy = np.exp(-((x - centre - shifts[..., 0, None]) ** 2) / (2 * s * s))
        gx = np.exp(-((x - centre - shifts[..., 1, None]) ** 2) / (2 * s * s))
        scale = self.flux / (2 * np.pi * s * s)
        tiles = scale * gy[..., :, None] * gx[..., None, :]  # (n, n, p, p)
        if self.pupil is not None:
            lit = np.where(self.pupil.valid, self.pupil.fraction, 0.0)
            tiles = tiles * lit[..., None, None]
        img = tiles.transpose(0, 2, 1, 3).reshape(n * p, n * p)
        return img + self.background

    def exposure_image(self, n: int, command: Any = None) -> np.ndarray:
        """The noiseless image of frame ``n``: with ``exposure_steps`` K > 1
        the mean of the images at ``n + k/K`` (k = 0..K-1) of the frozen
        flow, the mirror held at its shape for frame ``n``."""
        shape = self.delay_line.mirror_shape(n, command, self.mirror.surface)
        total = None
        for k in range(self.exposure_steps):
            t = n + k / self.exposure_steps
            phase = (
                np.zeros(self.shape)
                if self.atmosphere is None
                else self.atmosphere.phase(t)
            )
            if shape is not None:
                phase = phase - shape
            img = self.image(phase)
            total = img if total is None else total + img
        return total / self.exposure_steps if self.exposure_steps > 1 else total

    def expose(self, phase: np.ndarray, n: int) -> np.ndarray:
        """Frame ``n`` of this camera looking at ``phase`` (radians, shape
        :attr:`shape`): the spot image read by the :attr:`detector` with
        frame ``n``'s noise, in ``dtype``."""
        return self.detector.read(self.image(phase), n)

    def mean_frame(self, phase: np.ndarray) -> np.ndarray:
        """The noiseless frame (float64, digital numbers) of a phase: what
        calibration measures."""
        return self.detector.mean_frame(self.image(phase))

    def frame(self, n: int, command: Any = None) -> np.ndarray:
        """Camera frame ``n`` (``command``: the mirror's command after frame
        ``n - 1``, closing the loop)."""
        if self.exposure_steps > 1:
            return self.detector.read(self.exposure_image(n, command), n)
        return self.expose(self.phase(n, command), n)

    def delay(self, n: int) -> float:
        """No latency of its own (see :mod:`~shmpipeline.testing.fakes.faults`)."""
        return 0.0


def _nested(cls: type, kind: str, name: str, params: dict, seed: int) -> Any:
    try:
        return cls(params, seed=seed)
    except Exception as exc:  # re-label: the user wrote it under this fake
        message = getattr(exc, "message", None) or str(exc)
        raise fake_error(kind, f"{name}: {message}") from exc
