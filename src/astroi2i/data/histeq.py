"""Histogram equalisation with a stored CDF (CorKit's stretch), exactly invertible: a
:class:`~astroi2i.data.stretches.Stretch` registered in ``STRETCHES`` like the others."""

from __future__ import annotations

import numpy as np

from astroi2i.data.stretches import STRETCHES, Stretch, pooled_samples

__all__ = ["HistEqStretch"]


@STRETCHES.register
class HistEqStretch(Stretch):
    """Histogram equalisation with a stored CDF (CorKit), exactly invertible.

    ``fit`` stores ``n_levels`` quantile knots per band. ``forward`` interpolates linearly
    between them (so y ∈ [0, 1] over the training range and y is uniform-distributed on it) and
    continues linearly outside with slope 1/(range), so every value stays invertible.

    Quantisation bound: the map is piecewise linear, so ``inverse`` undoes ``forward`` up to the
    float rounding of y (spacing ≤ 2⁻²³·|y| in float32, 2⁻⁵² in float64) times the local slope
    dx/dy. :meth:`roundtrip_bound` returns that worst case per band for float32 data.
    """

    def __init__(self, *, n_levels: int = 4096, knots: list[list[float]] | None = None) -> None:
        if n_levels < 2:
            raise ValueError(f"n_levels must be ≥ 2, got {n_levels}")
        self.n_levels = int(n_levels)
        self.knots = None if knots is None else [np.asarray(k, np.float64) for k in knots]

    @property
    def fitted(self) -> bool:
        return self.knots is not None

    def fit(self, images):
        levels = np.linspace(0.0, 1.0, self.n_levels)
        self.knots = [np.quantile(v, levels) for v in pooled_samples(images)]
        return self

    def _band_knots(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        knots = self.knots[c if len(self.knots) > 1 else 0]
        levels = np.linspace(0.0, 1.0, knots.size)
        keep = np.concatenate([[True], np.diff(knots) > 0])  # flat CDF steps: keep the first
        return knots[keep], levels[keep]

    def _apply(self, x: np.ndarray, invert: bool) -> np.ndarray:
        out = np.empty_like(x)
        n = x.shape[-3]
        if len(self.knots) not in (1, n):
            raise ValueError(f"stretch fitted for {len(self.knots)} bands, data has {n}")
        for c in range(n):
            k, lv = self._band_knots(c)
            span = max(k[-1] - k[0], np.finfo(float).tiny)
            src, dst = (lv, k) if invert else (k, lv)
            v = x[..., c, :, :]
            r = np.interp(v, src, dst)
            lo, hi = v < src[0], v > src[-1]
            slope = span if invert else 1.0 / span  # outside the knots: linear, invertible
            r = np.where(lo, dst[0] + (v - src[0]) * slope, r)
            r = np.where(hi, dst[-1] + (v - src[-1]) * slope, r)
            out[..., c, :, :] = r
        return out

    def _forward(self, x, exposure):
        return self._apply(x, invert=False)

    def _inverse(self, y, exposure):
        return self._apply(y, invert=True)

    def roundtrip_bound(self, x: np.ndarray) -> np.ndarray:
        """Worst absolute round-trip error per band for float32 data ``x`` (C, H, W)."""
        eps = np.finfo(np.float32).eps
        bounds = []
        for c in range(x.shape[-3]):
            k, lv = self._band_knots(c)
            slope = np.max(np.diff(k) / np.diff(lv)) if k.size > 1 else 1.0
            slope = max(slope, k[-1] - k[0])
            ymax = 1.0 + np.nanmax(np.abs(x[c]) - k[-1]).clip(0) / max(k[-1] - k[0], 1e-300)
            bounds.append(2 * eps * ymax * slope + 2 * eps * np.nanmax(np.abs(x[c])))
        return np.asarray(bounds)

    def params(self):
        return {"n_levels": self.n_levels, "knots": None if self.knots is None else self.knots}

    def to_dict(self):
        knots = None if self.knots is None else [k.tolist() for k in self.knots]
        return {"type": "HistEqStretch", "n_levels": self.n_levels, "knots": knots}
