"""An infinite, non-repeating phase screen for frozen flow (modal extrusion).

The screen is infinite along the wind (coordinate ``t``, rows) and, across
it (``x``), a sum of plane-wave modes on a frequency grid set by a width
``W`` (samples):

    φ(t, x) = Σ_m u_m(t) cos(2π ν_m x / W) + v_m(t) sin(2π ν_m x / W),

``ν_m`` = 0, then twelve logarithmic cells from 1/160 to 1.5 (the low
orders an FFT grid lacks, so the screen is not periodic across the wind
either), then the integers 2 .. W/2 (:func:`cross_modes`). For a
stationary field of spectrum Φ the modes are independent Gaussian
processes along ``t`` with covariance

    g_m(τ) = Σ_{f_t} P_m(f_t) Δf_t cos(2π f_t τ dx),
    P_m(f_t) = ∫_{cell m} Φ(f_x, f_t) df_x   (both signs of f_x)

(:func:`strip_power`: the ``f_x`` integral is exact, so the lowest mode
keeps the ``f_t^(-8/3)`` law of a strip and stays finite for Kolmogorov;
the cells next to ``f_t = 0`` are integrated in ``f_t`` too; the sum runs
over a :data:`COVARIANCE_LENGTH`-sample axis, piston excluded). Each new
row is drawn, mode by mode, from its exact conditional Gaussian given the
rows at the lags ``S`` = :data:`LAGS` (1..8, then sparse up to 256: the
stencil idea of Assémat, Wilson & Gendron 2006, "Method for simulating
infinitely long and non stationary phase screens with optimized memory
storage", Opt. Express 14, 988, exact per mode here because the modes are
independent):

    a_new = g_S^T G_SS^-1 a_S + sqrt(g(0) - g_S^T G_SS^-1 g_S) ξ.

The correlations kept are exact at the lags of ``S``, so the screen never
repeats and frames many screen widths apart are independent. For
Kolmogorov on a 128-wide grid the expected ``D(r)`` is 0.93-0.95 of
``6.88 (r/r0)^(5/3)`` along the wind for 2 <= r <= 16, 0.88 at 64 and 0.85
at 128, and 1.01-1.04 across it for 2 <= r <= 32 (0.96 at 64) (the low cells' positions
:data:`LOG_CELL_POSITION` were chosen for that). Rows are made in chunks of
:data:`CHUNK` from a per-chunk seeded generator and a checkpoint of the
state, so any row is a pure function of the seed and its index, and asking
frames in any order gives the same values.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np

from shmpipeline.testing.fakes._params import rng_for
from shmpipeline.testing.fakes.turbulence import KOLMOGOROV_PSD

#: Rows per chunk (one generator draw each).
CHUNK = 256
#: Samples of the along-wind axis on which the mode covariances are computed.
COVARIANCE_LENGTH = 1 << 14
#: Lags (rows) each new row is conditioned on.
LAGS = (1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
#: Along-wind frequency cells next to zero integrated over (each side) ...
NEAR_ZERO_CELLS = 4
#: ... with this many points each.
NEAR_ZERO_QUADRATURE = 64
#: Logarithmic cross-wind cells below the first integer frequency.
LOG_CELLS = 12
#: Where in its (logarithmic) cell a low mode sits: ``lo^p hi^(1-p)``;
#: 0.3 puts the expected cross-wind D(r) within 5% of Kolmogorov for
#: 2 <= r <= W/4 (the cell's power is concentrated near its low edge, its
#: contribution to D near its high edge).
LOG_CELL_POSITION = 0.3
#: A checkpoint of the state is kept every this many chunks.
CHECKPOINT_EVERY = 8
#: Chunks of rows kept in memory.
CACHED_CHUNKS = 8


def _line_integral_table() -> tuple[np.ndarray, np.ndarray]:
    """``F(z) = ∫_0^z (1 + u²)^(-11/6) du`` tabulated on a log grid."""
    z = np.concatenate([[0.0], np.geomspace(1e-8, 1e8, 4001)])
    integrand = (1.0 + z * z) ** (-11.0 / 6.0)
    steps = 0.5 * (integrand[1:] + integrand[:-1]) * np.diff(z)
    return z, np.concatenate([[0.0], np.cumsum(steps)])


_LINE_Z, _LINE_F = _line_integral_table()


def cross_modes(
    width: int, cells: int = LOG_CELLS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cross-wind mode frequencies (cycles per ``width`` samples) and the
    bounds ``[lo, hi)`` of the frequency cell each carries (``|f_x|``, same
    unit). Below 1.5 the cells are logarithmic (``cells`` of them down to
    1/160, each carried at ``lo^0.3 hi^0.7``, plus a constant mode for the
    innermost cell); above they are the unit cells of the integers
    ``2 .. width/2``, as on an FFT grid. The low cells are what an FFT
    screen lacks; they make the screen non-periodic across the wind too."""
    edges = np.geomspace(1.0 / 160.0, 1.5, cells + 1)
    whole = np.arange(2, width // 2 + 1, dtype=np.float64)
    lo = np.concatenate([[0.0], edges[:-1], whole - 0.5])
    hi = np.concatenate([[edges[0]], edges[1:], np.minimum(whole + 0.5, width / 2.0)])
    nu = np.concatenate(
        [
            [0.0],
            edges[:-1] ** LOG_CELL_POSITION * edges[1:] ** (1 - LOG_CELL_POSITION),
            whole,
        ]
    )
    return nu, lo, hi


def strip_power(
    lo: np.ndarray,
    hi: np.ndarray,
    df_x: float,
    ft: np.ndarray,
    r0: float,
    L0: float | None,
) -> np.ndarray:
    """Power of each cross-wind mode at along-wind frequency ``ft``:
    ``∫ Φ(f_x, f_t) df_x`` over its cell ``|f_x| ∈ [lo, hi) Δf`` (both
    signs), integrated exactly in ``f_x`` so the lowest mode keeps the
    ``f_t^(-8/3)`` law of a strip and stays finite for Kolmogorov."""
    q2 = ft[None, :] ** 2 + (0.0 if L0 is None else L0**-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.sqrt(q2)
        upper = np.interp(hi[:, None] * df_x / q, _LINE_Z, _LINE_F)
        lower = np.interp(lo[:, None] * df_x / q, _LINE_Z, _LINE_F)
        cell = (upper - lower) * q ** (-8.0 / 3.0)
        # f_t = 0 without an outer scale: ∫ f_x^(-11/3) = 3/8 [lo^(-8/3) - hi^(-8/3)]
        at_zero = 0.375 * ((lo * df_x) ** (-8.0 / 3.0) - (hi * df_x) ** (-8.0 / 3.0))
    cell = np.where(q2 > 0, cell, at_zero[:, None])
    cell = np.where(np.isfinite(cell), cell, 0.0)
    return 2.0 * KOLMOGOROV_PSD * r0 ** (-5.0 / 3.0) * cell


@functools.lru_cache(maxsize=16)
def extrusion_tables(width: int, r0: float, L0: float | None, dx: float) -> dict:
    """The regression tables of a strip (cached: screens of other seeds
    share them)."""
    _, lo, hi = cross_modes(width)
    return conditioning(mode_covariances(width, lo, hi, r0, L0, dx))


def mode_covariances(
    width: int, lo: np.ndarray, hi: np.ndarray, r0: float, L0: float | None, dx: float
) -> np.ndarray:
    """``g_m(τ)`` for ``τ = 0 .. max(LAGS)``: shape (modes, max_lag + 1)."""
    n = COVARIANCE_LENGTH
    df_t = 1.0 / (n * dx)
    df_x = 1.0 / (width * dx)
    ft = np.fft.fftfreq(n, d=dx)
    power = strip_power(lo, hi, df_x, ft, r0, L0)  # (modes, n)
    # the cells nearest f_t = 0 hold the steep part of Φ: integrate them
    # over f_t too (midpoint rule; the point f_t = 0 itself is avoided)
    sub = (np.arange(NEAR_ZERO_QUADRATURE) + 0.5) / NEAR_ZERO_QUADRATURE - 0.5
    for k in range(-NEAR_ZERO_CELLS, NEAR_ZERO_CELLS + 1):
        points = (k + sub) * df_t
        power[:, k] = strip_power(lo, hi, df_x, points, r0, L0).mean(axis=1)
    power[0, 0] = 0.0  # no piston
    cov = np.real(np.fft.ifft(power, axis=1)) * n * df_t
    return cov[:, : max(LAGS) + 1]


def conditioning(cov: np.ndarray) -> dict[int, tuple]:
    """For each number of available lags: the lags used, the regression
    coefficients (modes, k) and the innovation std (modes,)."""
    tables = {}
    lags = np.asarray(LAGS)
    for count in range(len(LAGS) + 1):
        use = lags[:count]
        if count == 0:
            tables[0] = (use, np.zeros((cov.shape[0], 0)), np.sqrt(cov[:, 0]))
            continue
        diff = np.abs(use[:, None] - use[None, :])
        gss = cov[:, diff]  # (modes, k, k)
        gs = cov[:, use]  # (modes, k)
        jitter = 1e-12 * cov[:, :1, None] * np.eye(count)
        coef = np.linalg.solve(gss + jitter, gs[..., None])[..., 0]
        innovation = cov[:, 0] - np.einsum("mk,mk->m", coef, gs)
        tables[count] = (use, coef, np.sqrt(np.maximum(innovation, 0.0)))
    return tables


class InfiniteScreen:
    """Rows ``t = 0, 1, ...`` of a screen periodic across (``width``
    samples) and infinite along the wind, as modal coefficients."""

    def __init__(
        self,
        width: int,
        r0: float,
        L0: float | None,
        dx: float,
        seed: int,
        stream: int = 0,
    ) -> None:
        self.width = int(width)
        self.dx = float(dx)
        self.seed = int(seed)
        self.stream = int(stream)
        self._nu, lo, hi = cross_modes(self.width)
        self.modes = self._nu.size
        self._tables = extrusion_tables(self.width, r0, L0, self.dx)
        self._lags = np.asarray(LAGS)
        self._memory = max(LAGS)
        self._checkpoints: dict[int, np.ndarray] = {
            0: np.zeros((self._memory, 2, self.modes))
        }
        self._chunks: OrderedDict[int, np.ndarray] = OrderedDict()
        self._spatial: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._has_sine = (self._nu > 0) & (2 * self._nu != self.width)

    def _table_for(self, t: int) -> tuple:
        count = int(np.searchsorted(self._lags, t, side="right"))
        return self._tables[count]

    def _make_chunk(self, c: int) -> np.ndarray:
        """Rows of chunk ``c`` (CHUNK, 2, modes); needs checkpoint ``c``."""
        state = self._checkpoints[c].copy()  # rows t-memory .. t-1, oldest first
        noise = rng_for(self.seed, c, 300 + self.stream).standard_normal(
            (CHUNK, 2, self.modes)
        )
        mem = self._memory
        ring = np.concatenate([state, np.empty((CHUNK, 2, self.modes))])
        steady = c * CHUNK >= mem  # every lag available: one table for the chunk
        if steady:
            use, coef, innov = self._tables[len(LAGS)]
            weights = np.ascontiguousarray(coef.T)[:, None, :]  # (k, 1, modes)
            innovations = innov * noise
            back = mem - use  # ring rows of the lags for row 0
            for i in range(CHUNK):
                ring[mem + i] = (weights * ring[back + i]).sum(axis=0) + innovations[i]
        else:
            for i in range(CHUNK):
                use, coef, innov = self._table_for(c * CHUNK + i)
                k = mem + i
                past = ring[k - use]  # (count, 2, modes)
                ring[k] = np.einsum("mk,kjm->jm", coef, past) + innov * noise[i]
        rows = ring[mem:].copy()
        rows[:, 1, ~self._has_sine] = 0.0
        self._checkpoints[c + 1] = ring[-mem:].copy()
        for old in [k for k in self._checkpoints if k % CHECKPOINT_EVERY and k <= c]:
            del self._checkpoints[old]
        return rows

    def _chunk(self, c: int) -> np.ndarray:
        rows = self._chunks.get(c)
        if rows is not None:
            self._chunks.move_to_end(c)
            return rows
        start = max(k for k in self._checkpoints if k <= c)
        for k in range(start, c + 1):
            rows = self._make_chunk(k)
            if k >= c - 1:
                self._chunks[k] = rows
        while len(self._chunks) > CACHED_CHUNKS:
            self._chunks.popitem(last=False)
        return self._chunks[c]

    def coefficients(self, start: int, count: int) -> np.ndarray:
        """Modal coefficients of rows ``start .. start + count - 1``
        (``start >= 0``): shape (count, 2, modes)."""
        out = np.empty((count, 2, self.modes))
        t = start
        while t < start + count:
            c, i = divmod(t, CHUNK)
            take = min(CHUNK - i, start + count - t)
            out[t - start : t - start + take] = self._chunk(c)[i : i + take]
            t += take
        return out

    def rows(self, start: int, count: int, x: np.ndarray) -> np.ndarray:
        """The screen (float64, radians) on rows ``start ..`` and cross-wind
        positions ``x`` (samples, any real values: exact modal evaluation).
        Unit-spaced positions are evaluated a whole chunk at a time and
        cached, so a row's values do not depend on which frames were asked
        before it."""
        x = np.asarray(x, dtype=np.float64)
        if x.size > 1 and np.all(np.diff(x) == 1.0):
            return self._cached_rows(start, count, float(x[0]), x.size)
        return self._evaluate(self.coefficients(start, count), x)

    def _evaluate(self, coef: np.ndarray, x: np.ndarray) -> np.ndarray:
        angle = 2.0 * np.pi * np.outer(self._nu, x) / self.width
        cosine = np.ascontiguousarray(coef[:, 0])  # strided views miss BLAS
        sine = np.ascontiguousarray(coef[:, 1])
        return cosine @ np.cos(angle) + sine @ np.sin(angle)

    def _cached_rows(self, start: int, count: int, x0: float, size: int) -> np.ndarray:
        out = np.empty((count, size))
        x = x0 + np.arange(size, dtype=np.float64)
        t = start
        while t < start + count:
            c, i = divmod(t, CHUNK)
            key = (c, x0, size)
            rows = self._spatial.get(key)
            take = min(CHUNK - i, start + count - t)
            if rows is None:
                rows = self._evaluate(self._chunk(c), x)
                self._spatial[key] = rows
                while len(self._spatial) > CACHED_CHUNKS:
                    self._spatial.popitem(last=False)
            else:
                self._spatial.move_to_end(key)
            out[t - start : t - start + take] = rows[i : i + take]
            t += take
        return out
