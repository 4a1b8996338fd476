"""The classical answer to super-resolution: cubic-spline upsampling by an integer factor."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["bicubic_upsample"]


def bicubic_upsample(data: np.ndarray, factor: int, flux_scale=1.0) -> np.ndarray:
    """(…, C, H, W) → (…, C, f·H, f·W) by cubic-spline interpolation (scipy.ndimage.zoom,
    order 3, ``grid_mode``: pixel edges stay aligned, as a WCS made f× finer by
    :func:`astroi2i.sky.geometry.rescale_wcs` expects), times ``flux_scale`` per band: 1/f² for
    per-pixel flux units (the total flux is kept), 1 for surface brightness. float64; the
    caller puts its fill value into invalid pixels first."""
    data = np.asarray(data, np.float64)
    f = int(factor)
    lead, (c, h, w) = data.shape[:-3], data.shape[-3:]
    flat = data.reshape(-1, c, h, w)
    out = np.empty((flat.shape[0], c, h * f, w * f))
    scale = np.broadcast_to(np.asarray(flux_scale, np.float64), (c,))
    for n in range(flat.shape[0]):
        for b in range(c):
            zoomed = ndimage.zoom(flat[n, b], f, order=3, mode="nearest", grid_mode=True)
            out[n, b] = zoomed * scale[b]
    return out.reshape(*lead, c, h * f, w * f)
