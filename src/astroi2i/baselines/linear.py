"""The classical answer to a same-grid translation: each target band a linear combination of
the input bands after a Gaussian smoothing, target ≈ Σᵢ aᵢ · (G_σ ∗ inputᵢ) + c, with σ and
the coefficients fitted by least squares on the training pixels, in physical units.

σ = 0 is the plain linear fit of the input bands (multi-input: K ≈ aJ + bH + c); a single
input band with a ≈ 1, c ≈ 0 and σ > 0 is the Gaussian smoothing whose width minimises the
training error (denoising a shallow image towards a deep one). Both are one line of classical
image processing that a learned model must beat before it is believed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = ["LinearSmoothBaseline", "SMOOTHING_GRID"]

#: Gaussian widths (σ, pixels) tried by the fit
SMOOTHING_GRID = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)

#: pixels per image the least-squares fit uses at most (sampled, seeded): enough for a handful
#: of coefficients, and the fit stays fast on large training sets
_FIT_PIXELS = 200_000


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """NaN-aware Gaussian smoothing of a (C, H, W) array (normalised convolution: invalid
    pixels neither contribute nor count), NaN where a pixel was invalid."""
    if sigma <= 0:
        return np.asarray(image, np.float64)
    out = np.empty(image.shape, np.float64)
    for c, band in enumerate(np.asarray(image, np.float64)):
        ok = np.isfinite(band)
        if ok.all():  # nothing to renormalise: one filter instead of two
            out[c] = ndimage.gaussian_filter(band, sigma, mode="nearest")
            continue
        num = ndimage.gaussian_filter(np.where(ok, band, 0.0), sigma, mode="nearest")
        den = ndimage.gaussian_filter(ok.astype(np.float64), sigma, mode="nearest")
        with np.errstate(invalid="ignore", divide="ignore"):
            out[c] = np.where(ok & (den > 1e-6), num / den, np.nan)
    return out


@dataclass(frozen=True)
class LinearSmoothBaseline:
    """target[k] ≈ Σᵢ coef[k, i] · (G_sigma ∗ input[i]) + offset[k]."""

    sigma: float
    coef: tuple[tuple[float, ...], ...]
    offset: tuple[float, ...]

    @classmethod
    def fit(cls, inputs, targets, *, grid=SMOOTHING_GRID, seed: int = 0):
        """Fit on lists of (C_in, H, W) inputs and (C_out, H, W) targets (NaN = invalid), one
        pair per training image; σ is the grid value with the least training error."""
        rng = np.random.default_rng(seed)
        samples = []  # per image: flat indices of pixels valid in every band of both
        for x, y in zip(inputs, targets):
            ok = (np.isfinite(x).all(axis=0) & np.isfinite(y).all(axis=0)).ravel()
            idx = np.flatnonzero(ok)
            if idx.size > _FIT_PIXELS:
                idx = rng.choice(idx, _FIT_PIXELS, replace=False)
            samples.append(idx)
        if sum(i.size for i in samples) < 3:
            raise ValueError("the baseline fit needs valid training pixels")
        yy = np.concatenate([y.reshape(y.shape[0], -1)[:, i] for y, i in zip(targets, samples)],
                            axis=1)  # fmt: skip
        best = None
        for sigma in grid:
            xs = [smooth(x, sigma) for x in inputs]
            xx = np.concatenate([x.reshape(x.shape[0], -1)[:, i] for x, i in zip(xs, samples)],
                                axis=1)  # fmt: skip
            ok = np.isfinite(xx).all(axis=0)  # smoothing can leave isolated NaN at the edges
            design = np.vstack([xx[:, ok], np.ones(int(ok.sum()))]).T
            solution, *_ = np.linalg.lstsq(design, yy[:, ok].T, rcond=None)
            error = float(np.mean((design @ solution - yy[:, ok].T) ** 2))
            if best is None or error < best[0]:
                best = (error, sigma, solution)
        _, sigma, solution = best
        coef = tuple(tuple(float(v) for v in row) for row in solution[:-1].T)
        return cls(float(sigma), coef, tuple(float(v) for v in solution[-1]))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(C_out, H, W) float32 from (C_in, H, W) physical inputs; NaN where an input was."""
        xs = smooth(x, self.sigma)
        out = np.empty((len(self.coef), *xs.shape[1:]), np.float32)
        for k, row in enumerate(self.coef):
            # a sum of a few scaled bands, not np.tensordot: a BLAS call starts OpenBLAS's
            # threads, which then spin beside torch's and made every later convolution of a
            # translate 3–5× slower on 2 cores (measured: 44 → 87 ms per STIX map)
            total = np.full(xs.shape[1:], self.offset[k], np.float64)
            for a, band in zip(row, xs):
                total += a * band
            out[k] = total
        return out

    def describe(self) -> str:
        """One line for reports: the fitted formula."""
        terms = []
        for k, row in enumerate(self.coef):
            parts = " + ".join(f"{a:.4g}·x{i}" for i, a in enumerate(row))
            sign = "−" if self.offset[k] < 0 else "+"
            terms.append(f"y{k} = {parts} {sign} {abs(self.offset[k]):.4g}")
        blur = f" after a Gaussian σ = {self.sigma:g} px" if self.sigma else ""
        return "; ".join(terms) + blur

    def to_dict(self) -> dict:
        return {"type": "LinearSmoothBaseline", "sigma": self.sigma,
                "coef": [list(r) for r in self.coef], "offset": list(self.offset)}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> LinearSmoothBaseline:
        return cls(float(d["sigma"]), tuple(tuple(map(float, r)) for r in d["coef"]),
                   tuple(map(float, d["offset"])))  # fmt: skip
