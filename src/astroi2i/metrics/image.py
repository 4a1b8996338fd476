"""Masked image metrics for one band: PSNR, SSIM, MAE and the total-flux ratio.

All functions take 2-D float arrays ``pred`` and ``target`` and an optional boolean ``invalid``
mask (True = ignore). They are unit-agnostic: call them on physical or stretched data and say
which in the report.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "psnr",
    "ssim",
    "mae",
    "flux_ratio",
    "source_flux_ratio",
    "band_metrics",
    "data_range",
]


def _valid(pred: np.ndarray, target: np.ndarray, invalid: np.ndarray | None) -> np.ndarray:
    if pred.shape != target.shape:
        raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
    ok = np.isfinite(pred) & np.isfinite(target)
    if invalid is not None:
        ok &= ~invalid
    return ok


def data_range(target: np.ndarray, valid: np.ndarray) -> float:
    """max − min of the target's valid pixels (the PSNR peak used throughout)."""
    values = target[valid]
    return float(values.max() - values.min()) if values.size else float("nan")


def psnr(pred, target, invalid=None, *, data_range_: float | None = None) -> float:
    """10·log10(R² / MSE) over valid pixels; R is the target's valid range unless given."""
    ok = _valid(pred, target, invalid)
    if not ok.any():
        return float("nan")
    mse = float(np.mean((pred[ok].astype(np.float64) - target[ok]) ** 2))
    r = data_range(target, ok) if data_range_ is None else data_range_
    return float("inf") if mse == 0 else float(10 * np.log10(r**2 / mse))


def mae(pred, target, invalid=None) -> float:
    """Mean absolute error over valid pixels."""
    ok = _valid(pred, target, invalid)
    return (
        float(np.mean(np.abs(pred[ok].astype(np.float64) - target[ok])))
        if ok.any()
        else float("nan")
    )


def flux_ratio(pred, target, invalid=None) -> float:
    """Σ pred / Σ target over pixels valid in both (1 = total flux preserved)."""
    ok = _valid(pred, target, invalid)
    total = float(np.sum(target[ok], dtype=np.float64))
    return float(np.sum(pred[ok], dtype=np.float64) / total) if total != 0 else float("nan")


def source_flux_ratio(pred, target, invalid=None, *, level: float = 0.1) -> float:
    """Σ pred / Σ target over the source region: valid pixels where the target is at least
    ``level`` × its peak. Unlike the total-flux ratio it ignores the background, where a
    residual map (CLEAN's) can sum to nearly zero or below."""
    ok = _valid(pred, target, invalid)
    if not ok.any():
        return float("nan")
    region = ok & (target >= level * target[ok].max())
    total = float(np.sum(target[region], dtype=np.float64))
    return float(np.sum(pred[region], dtype=np.float64) / total) if total > 0 else float("nan")


def ssim(pred, target, invalid=None, *, data_range_: float | None = None) -> float:
    """Mean SSIM (Wang et al. 2004; Gaussian window σ=1.5, as scikit-image with
    ``gaussian_weights=True``) over pixels whose whole 11×11 window is valid. Invalid pixels
    are filled with the target before the SSIM map is computed and then excluded."""
    from skimage.metrics import structural_similarity

    ok = _valid(pred, target, invalid)
    if not ok.any():
        return float("nan")
    r = data_range(target, ok) if data_range_ is None else data_range_
    t = np.where(ok, target, 0.0).astype(np.float64)
    p = np.where(ok, pred, t).astype(np.float64)
    if min(t.shape) < 7:
        return float("nan")
    _, smap = structural_similarity(
        t, p, data_range=r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, full=True
    )
    inner = ndimage.binary_erosion(ok, structure=np.ones((11, 11)), border_value=0)
    inner &= ok
    return float(smap[inner].mean()) if inner.any() else float(smap[ok].mean())


def band_metrics(pred, target, invalid=None) -> dict[str, float]:
    """PSNR, SSIM, MAE and flux ratio for one band."""
    ok = _valid(pred, target, invalid)
    r = data_range(target, ok) if ok.any() else float("nan")
    return {
        "psnr": psnr(pred, target, invalid, data_range_=r),
        "ssim": ssim(pred, target, invalid, data_range_=r),
        "mae": mae(pred, target, invalid),
        "flux_ratio": flux_ratio(pred, target, invalid),
        "n_valid": int(ok.sum()),
    }
