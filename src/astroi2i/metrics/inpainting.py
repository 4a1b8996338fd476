"""Scores inside a hole, and the classical fills inpainting is compared with.

Both baselines see exactly what the model sees: the image with the hole (and any other invalid
pixels) removed. The PSNR peak is the valid target range over the whole image, so holes of
different contents are comparable; SSIM is the mean of the full-image SSIM map over the hole.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["biharmonic_fill", "border_mean_fill", "hole_metrics"]


def biharmonic_fill(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting of the ``missing`` pixels of a 2-D image."""
    from skimage.restoration import inpaint_biharmonic

    known = np.where(missing, 0.0, np.nan_to_num(image)).astype(np.float64)
    return inpaint_biharmonic(known, missing).astype(np.float32)


def border_mean_fill(image: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Each connected hole filled with the mean of the valid pixels on its 1-pixel border."""
    out = np.array(image, np.float32, copy=True)
    labels, n = ndimage.label(missing)
    valid = ~missing & np.isfinite(out)
    for i in range(1, n + 1):
        hole = labels == i
        ring = ndimage.binary_dilation(hole) & valid
        out[hole] = float(out[ring].mean()) if ring.any() else 0.0
    return out


def hole_metrics(pred: np.ndarray, target: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM, MAE and the flux ratio Σpred/Σtarget over the ``hole`` pixels (2-D)."""
    from skimage.metrics import structural_similarity

    from astroi2i.metrics.image import flux_ratio, mae, psnr

    ok = hole & np.isfinite(target) & np.isfinite(pred)
    if not ok.any():
        nan = float("nan")
        return {"psnr": nan, "ssim": nan, "mae": nan, "flux_ratio": nan, "n_hole": 0}
    finite = np.isfinite(target)
    peak = float(target[finite].max() - target[finite].min())
    t = np.where(finite, target, 0.0).astype(np.float64)
    p = np.where(np.isfinite(pred), pred, t).astype(np.float64)
    _, smap = structural_similarity(
        t, p, data_range=peak, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        full=True,
    )  # fmt: skip
    outside = ~hole
    return {
        "psnr": psnr(pred, target, outside, data_range_=peak),
        "ssim": float(smap[ok].mean()),
        "mae": mae(pred, target, outside),
        "flux_ratio": flux_ratio(pred, target, outside),
        "n_hole": int(ok.sum()),
    }
