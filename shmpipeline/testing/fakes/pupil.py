"""The telescope pupil on the wavefront-sensor grid and its valid subapertures.

A circle of ``diameter`` (a fraction of the grid's side, 1.0: touching its
edges) centred on the grid, minus a central obstruction of ``obstruction``
times the diameter and ``spiders`` vanes of ``spider_width`` samples, the
first at ``spider_angle`` degrees from +x, the others evenly spaced. A
sample is lit when its centre is inside (no anti-aliasing). Subaperture
``(i, j)`` is valid when its lit fraction is at least ``valid_fraction``
(0.5); invalid ones receive no light.

Parameters (``pupil`` mapping of a camera fake): ``diameter`` (1.0),
``obstruction`` (0), ``spiders`` (0), ``spider_width`` (1.0),
``spider_angle`` (0), ``valid_fraction`` (0.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shmpipeline.testing.fakes._params import Params


class Pupil:
    """An illumination mask and the valid-subaperture map (see the module docstring)."""

    def __init__(
        self,
        params: Mapping[str, Any] | None,
        *,
        lenslets: int,
        pixels: int,
        kind: str = "pupil",
    ) -> None:
        p = Params(kind, params)
        self.diameter = p.number("diameter", 1.0, positive=True)
        self.obstruction = p.number("obstruction", 0.0, minimum=0.0)
        self.spiders = p.integer("spiders", 0, minimum=0)
        self.spider_width = p.number("spider_width", 1.0, minimum=0.0)
        self.spider_angle = p.number("spider_angle", 0.0)
        self.valid_fraction = p.number("valid_fraction", 0.5, minimum=0.0)
        p.done()
        side = lenslets * pixels
        centre = (side - 1) / 2.0
        y, x = np.mgrid[0:side, 0:side].astype(np.float64) - centre
        radius = np.hypot(y, x)
        outer = self.diameter * side / 2.0
        lit = radius <= outer
        if self.obstruction:
            lit &= radius >= self.obstruction * outer
        for k in range(self.spiders):
            angle = np.radians(self.spider_angle) + np.pi * 2 * k / self.spiders
            along = x * np.cos(angle) + y * np.sin(angle)
            across = -x * np.sin(angle) + y * np.cos(angle)
            lit &= ~((np.abs(across) < self.spider_width / 2.0) & (along > 0))
        #: (side, side) float64: 1 where lit.
        self.mask = lit.astype(np.float64)
        tiles = self.mask.reshape(lenslets, pixels, lenslets, pixels)
        #: (lenslets, lenslets): lit fraction of each subaperture.
        self.fraction = tiles.mean(axis=(1, 3))
        #: (lenslets, lenslets) bool: subapertures that get light.
        self.valid = self.fraction >= self.valid_fraction
