"""Scores inside a hole (the classical fills it is compared with are in :mod:`astroi2i.baselines`).

Both baselines see exactly what the model sees: the image with the hole (and any other invalid
pixels) removed. The PSNR peak is the valid target range over the whole image, so holes of
different contents are comparable; SSIM is the mean of the full-image SSIM map over the hole.
The RMSE is also given by depth into the hole (distance to the nearest known pixel): a fill
is only as trustworthy as its error at the depth of the pixel in question, and the edge and
the interior of a block differ by factors (docs/inpainting.md).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["DEPTH_BINS", "depth_bin", "hole_depth", "hole_metrics"]

# depth ranges (pixels, inclusive; None = no upper end) of the RMSE-by-depth columns
DEPTH_BINS = ((1, 4), (5, 8), (9, None))


def hole_depth(missing: np.ndarray) -> np.ndarray:
    """Each missing pixel's distance to the nearest known pixel, in pixels (chessboard: 1 on
    the edge of a hole, 16 in the middle of a 32² block); 0 for known pixels."""
    return ndimage.distance_transform_cdt(missing, metric="chessboard")


def depth_bin(depth: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
    """The pixels of :func:`hole_depth` ``depth`` from ``lo`` to ``hi`` (inclusive; None: no
    upper end)."""
    return (depth >= lo) & (depth <= (hi if hi is not None else depth.max()))


def _depth_key(lo: int, hi: int | None) -> str:
    return f"rmse_depth_{lo}_{hi if hi is not None else 'up'}"


def hole_metrics(
    pred: np.ndarray, target: np.ndarray, hole: np.ndarray, missing: np.ndarray | None = None
) -> dict[str, float]:
    """PSNR, SSIM, MAE and the flux ratio Σpred/Σtarget over the ``hole`` pixels (2-D), and
    the RMSE of the hole pixels in each of :data:`DEPTH_BINS` (``rmse_depth_1_4`` …; NaN where
    the hole has no pixel that deep). Depth is measured to the nearest pixel that is not
    ``missing`` (default: not in ``hole``)."""
    from skimage.metrics import structural_similarity

    from astroi2i.metrics.image import flux_ratio, mae, psnr

    nan = float("nan")
    ok = hole & np.isfinite(target) & np.isfinite(pred)
    if not ok.any():
        empty = {_depth_key(lo, hi): nan for lo, hi in DEPTH_BINS}
        return {"psnr": nan, "ssim": nan, "mae": nan, "flux_ratio": nan, **empty, "n_hole": 0}
    depth = hole_depth(hole if missing is None else missing)
    by_depth = {}
    for lo, hi in DEPTH_BINS:
        sel = ok & depth_bin(depth, lo, hi)
        err = pred[sel].astype(np.float64) - target[sel]
        by_depth[_depth_key(lo, hi)] = float(np.sqrt(np.mean(err**2))) if sel.any() else nan
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
        **by_depth,
        "n_hole": int(ok.sum()),
    }
