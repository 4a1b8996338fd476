"""Classical fills of missing pixels: the baselines every inpainting model is scored against,
and the starting point of the biharmonic-residual network."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["biharmonic_fill", "border_mean_fill"]


def biharmonic_fill(image: np.ndarray, missing: np.ndarray, *, split: bool = False) -> np.ndarray:
    """scikit-image's biharmonic inpainting of the ``missing`` pixels of a 2-D image
    (``split``: solve each connected region on its own, the same fill, faster when there are
    many regions)."""
    from skimage.restoration import inpaint_biharmonic

    known = np.where(missing, 0.0, np.nan_to_num(image)).astype(np.float64)
    return inpaint_biharmonic(known, missing, split_into_regions=split).astype(np.float32)


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
