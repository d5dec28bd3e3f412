"""Calibration on the fakes: the interaction matrix and its inverse.

The interaction matrix ``IM`` (slopes per unit command, ``n_slopes x
n_act``) is measured as a pipeline would on the bench: each actuator is
poked push-pull by ``±amplitude`` through the fakes' own optics (the mirror
surface subtracted from a flat wavefront, the camera's noiseless frame,
detector bias and flat field included),
and the slopes are computed with the pipeline's centroid convention
(``cpu.shack_hartmann_centroid`` followed by ``cpu.flatten``): per
``pixels``-square tile the intensity-weighted centroid of the raw pixel
values minus the tile centre ``(t - 1) / 2``, ``[0, 0]`` where the tile sums
to <= 0, ``[row, col]`` per tile, tiles row-major:

    IM[:, j] = (s(+a e_j) - s(-a e_j)) / (2 a).

The reconstructor an integrator ``c += g R s`` needs is ``R = -IM^+``:

- ``method="pinv"``: the Moore-Penrose inverse, singular values below
  ``rcond * σ_max`` discarded (``numpy.linalg.pinv``);
- ``method="tikhonov"``: ``R = -(IM^T IM + α² I)^-1 IM^T`` with ``α =
  alpha * σ_max`` (damped least squares, Tikhonov 1963), which keeps every
  mode with a gain ``σ² / (σ² + α²)`` instead of cutting the weak ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import fake_error

__all__ = ["interaction_matrix", "reconstructor", "tile_centroids"]

KIND = "calibration"


def tile_centroids(image: np.ndarray, tile: int) -> np.ndarray:
    """Slopes of ``image`` in the pipeline's convention (see the module
    docstring): a flat ``(2 * tiles,)`` float64 vector."""
    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape
    rows, cols = height // tile, width // tile
    tiles = image[: rows * tile, : cols * tile].reshape(rows, tile, cols, tile)
    offsets = np.arange(tile, dtype=np.float64) - (tile - 1) / 2.0
    total = tiles.sum(axis=(1, 3))
    row_moment = np.einsum("iajb,a->ij", tiles, offsets)
    col_moment = np.einsum("iajb,b->ij", tiles, offsets)
    safe = np.where(total > 0, total, np.inf)
    return np.stack([row_moment / safe, col_moment / safe], axis=-1).ravel()


def _parts(system: Any, mirror: Any) -> tuple[Any, Any]:
    camera = getattr(system, "camera", system)
    mirror = mirror if mirror is not None else getattr(system, "mirror", None)
    if mirror is None or not hasattr(camera, "image"):
        raise fake_error(
            KIND,
            "give a ShackHartmann (with its mirror), a ClosedLoopOptics, or a "
            "camera and mirror=",
        )
    return camera, mirror


def interaction_matrix(
    system: Any, *, mirror: Any = None, amplitude: float = 0.1
) -> np.ndarray:
    """``IM`` (float64, ``n_slopes x n_act``) of a camera fake and its
    mirror (``system`` is a :class:`ShackHartmann`, whose ``mirror`` is
    used, or a :class:`ClosedLoopOptics`; ``mirror=`` overrides)."""
    if not amplitude > 0:
        raise fake_error(KIND, f"amplitude must be > 0, got {amplitude!r}")
    camera, mirror = _parts(system, mirror)
    n_act = getattr(mirror, "actuators", mirror.n_act * mirror.n_act)
    tile = camera.pixels
    noiseless = getattr(camera, "mean_frame", None) or camera.image
    columns = []
    for j in range(n_act):
        poke = np.zeros(n_act)
        poke[j] = amplitude
        push = tile_centroids(noiseless(-mirror.surface(poke)), tile)
        pull = tile_centroids(noiseless(mirror.surface(poke)), tile)
        columns.append((push - pull) / (2.0 * amplitude))
    return np.stack(columns, axis=1)


def reconstructor(
    interaction: Any,
    *,
    method: str = "pinv",
    rcond: float = 0.05,
    alpha: float = 0.05,
    amplitude: float = 0.1,
) -> np.ndarray:
    """``R = -inverse(IM)`` (float64, ``n_act x n_slopes``). ``interaction``
    is an interaction matrix or a system :func:`interaction_matrix` accepts
    (then measured with ``amplitude``)."""
    if not isinstance(interaction, np.ndarray):
        interaction = interaction_matrix(interaction, amplitude=amplitude)
    im = np.asarray(interaction, dtype=np.float64)
    if im.ndim != 2:
        raise fake_error(KIND, f"interaction matrix must be 2-D, got {im.shape}")
    if method == "pinv":
        return -np.linalg.pinv(im, rcond=rcond)
    if method == "tikhonov":
        sigma_max = float(np.linalg.norm(im, 2))
        damp = (alpha * sigma_max) ** 2
        normal = im.T @ im + damp * np.eye(im.shape[1])
        return -np.linalg.solve(normal, im.T)
    raise fake_error(KIND, f"method must be 'pinv' or 'tikhonov', got {method!r}")
