"""Isotropic linear filters on one grid: applied through the FFT as a radial gain G(|k|), and
fitted between an image and its reference as the radially averaged transfer function.

The transfer function that best predicts ``t`` from ``x`` in the least-squares sense, at each
radial frequency k, is H(k) = ⟨Re X·T*⟩ / ⟨|X|²⟩ (X, T the Fourier transforms; averages over
the frequencies of a bin and over image pairs): the Wiener filter of x towards t. Fitted
between a survey regridded onto another's grid and that survey's own images, it is the PSF
matching (and noise suppression) an astronomer does before comparing two surveys: where the
target survey's PSF is broader it damps the high frequencies, where the regridded image is
noisier it damps what noise dominates. Noise in ``t`` that is independent of ``x`` leaves the
cross term's expectation unchanged, so H can be fitted against noisy targets. H(0) is pinned
to 1, so the filter keeps every flux.
"""

from __future__ import annotations

import numpy as np

__all__ = ["N_BINS", "radial_filter", "radial_response", "stored_filter", "transfer_sums",
           "fitted_transfer"]  # fmt: skip

#: radial bins of a fitted transfer function, evenly spaced in |k| from 0 to the corner
#: frequency √2/2 (cycles per pixel)
N_BINS = 16


def _radius(h: int, w: int) -> np.ndarray:
    return np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.rfftfreq(w), indexing="ij"))


def radial_response(shape: tuple[int, int], k, gains, interpolation: str = "k2") -> np.ndarray:
    """(C, H, W // 2 + 1) float64: per band, the radial gain ``gains[c]`` given at radial
    frequencies ``k`` (cycles per pixel) on the half-plane grid of ``rfft2`` for images of
    ``shape``: linear in k² in between (``interpolation`` "k2"; "k": linear in |k|, as filters
    stored before 2026-12-07 were applied, so that old models translate as they did), the end
    values beyond.

    Linear in k², because a smooth isotropic transfer function (any PSF with a finite second
    moment) is a function of k², 1 − a·k² + …, near k = 0. Linear in |k| from H(0) = 1 it would
    have a cusp there, i.e. a kernel with power-law wings that carries a few per cent of a
    galaxy's flux out of any aperture (measured on the simulated SDSS ↔ CFHT pair: −2.3 % and
    +4.0 % in a fixed aperture, against −0.4 % and −0.1 % in k²)."""
    if interpolation not in ("k", "k2"):
        raise ValueError(f"interpolation {interpolation!r}: 'k' or 'k2'")
    power = 2 if interpolation == "k2" else 1
    radius, k = _radius(*shape) ** power, np.asarray(k, np.float64) ** power
    return np.stack([np.interp(radius, k, np.asarray(g, np.float64)) for g in gains])


def stored_filter(entry: dict) -> tuple:
    """(k, gains, interpolation) of a stored filter (``{"k", "gain"[, "interpolation"]}``; no
    ``interpolation``: "k", how it was applied when it was stored)."""
    return entry["k"], np.asarray(entry["gain"]), entry.get("interpolation", "k")


def radial_filter(images: np.ndarray, k, gains, interpolation: str = "k2") -> np.ndarray:
    """``images`` (C, H, W) filtered band by band with the radial gain of
    :func:`radial_response`, periodic at the edges. NaN pixels are taken as 0 for the filter
    and stay NaN."""
    images = np.asarray(images)
    out = np.empty_like(images)
    response = radial_response(images.shape[-2:], k, gains, interpolation)
    for c in range(images.shape[0]):
        bad = ~np.isfinite(images[c])
        spectrum = np.fft.rfft2(np.where(bad, 0.0, images[c]).astype(np.float64))
        shaped = np.fft.irfft2(spectrum * response[c], s=images.shape[-2:])
        out[c] = np.where(bad, np.nan, shaped).astype(images.dtype)
    return out


def transfer_sums(x: np.ndarray, t: np.ndarray, n_bins: int = N_BINS):
    """Per radial bin, Σ Re X·T*, Σ |X|² and Σ |X|²·|k| of two (H, W) images (each less its
    mean; NaN in ``t`` as its mean) — summed over pairs, the first two's ratio is the fitted
    transfer function, the last two's the radius at which the bin measured it."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    t = np.where(np.isfinite(t), t, np.nanmean(t))
    fx, ft = np.fft.rfft2(x - x.mean()), np.fft.rfft2(t - t.mean())
    index = np.minimum((_radius(*x.shape) / (np.sqrt(0.5) / n_bins)).astype(int), n_bins - 1)
    # the half-plane rfft2 keeps: columns 1 … W/2 − 1 stand for two frequencies each
    weight = np.full(fx.shape, 2.0)
    weight[:, 0] = 1.0
    if x.shape[1] % 2 == 0:
        weight[:, -1] = 1.0
    power = weight * np.abs(fx) ** 2
    cross = np.bincount(index.ravel(), (weight * (fx * ft.conj()).real).ravel(), n_bins)
    return (cross, np.bincount(index.ravel(), power.ravel(), n_bins),
            np.bincount(index.ravel(), (power * _radius(*x.shape)).ravel(), n_bins))  # fmt: skip


def fitted_transfer(cross, power, moment=None, *, max_gain: float = 2.0) -> tuple[list, list]:
    """(k, H) from summed :func:`transfer_sums` of shape (C, n_bins): H per band, clipped to
    [0, ``max_gain``], with k = 0, H = 1 in front (fluxes kept); an empty bin gets its
    neighbours' value.

    Each bin's H is placed at the radius where it was measured: with ``moment`` (the third
    sum), the power-weighted mean |k| of the bin's frequencies over all bands; else the bin's
    centre. On a 64² stamp the lowest bin holds a handful of frequencies whose power (a
    galaxy's) sits at its low end: placed at the centre, its H is applied to lower
    frequencies than it was measured at, which damps them too much and takes 1–2 % of a
    galaxy's flux out of a fixed aperture (measured on the simulated SDSS ↔ CFHT pair)."""
    cross, power = np.atleast_2d(cross).astype(float), np.atleast_2d(power).astype(float)
    n_bins = cross.shape[-1]
    k = (np.arange(n_bins) + 0.5) * np.sqrt(0.5) / n_bins
    if moment is not None:
        total = power.sum(axis=0)
        measured = np.atleast_2d(moment).astype(float).sum(axis=0) / np.where(total > 0, total, 1)
        k = np.where(total > 0, measured, k)
    gains = []
    for c_row, p_row in zip(cross, power):
        ok = p_row > 0
        h = np.clip(c_row[ok] / p_row[ok], 0.0, max_gain)
        h = np.interp(k, k[ok], h) if ok.any() else np.ones(n_bins)
        gains.append([1.0, *(round(float(v), 6) for v in h)])  # plain floats: checkpoints
    return [0.0, *(round(float(v), 6) for v in k)], gains
