"""The noise floor of a noisy target: the PSNR that a perfect, noiseless prediction would
score against it. A model at (or near) the floor ties with the truth; gains below it are not
measurable against this target."""

from __future__ import annotations

import numpy as np
from astropy.stats import mad_std

__all__ = ["pixel_noise", "noise_floor_psnr"]


#: Immerkær's (1996) noise kernel: the difference of two Laplacians, blind to structure up to
#: second order (flat sky, gradients, curvature); for white noise σ its output has σ·6
_KERNEL = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def pixel_noise(image: np.ndarray, invalid: np.ndarray | None = None) -> float:
    """Robust σ of a 2-D image's pixel noise: the MAD-σ of the image filtered with Immerkær's
    3×3 kernel, divided by 6. Structure up to second order does not enter the filtered image
    and the MAD ignores what is left of sources; exact for white noise, an underestimate where
    the noise is correlated between pixels (resampled images)."""
    from scipy import ndimage

    data = np.asarray(image, np.float64)
    if invalid is not None:
        data = np.where(invalid, np.nan, data)
    filtered = ndimage.convolve(data, _KERNEL, mode="constant", cval=np.nan)
    filtered = filtered[np.isfinite(filtered)]  # a NaN anywhere in the 3×3 leaves it out
    return float(mad_std(filtered) / 6.0) if filtered.size else float("nan")


def noise_floor_psnr(target: np.ndarray, invalid: np.ndarray | None = None) -> float:
    """20·log10(peak / σ): the PSNR of the noiseless truth against ``target`` (same peak as
    :func:`astroi2i.metrics.image.psnr`, the target's valid range); inf for a noiseless
    target."""
    from astroi2i.metrics.image import data_range

    ok = np.isfinite(target) if invalid is None else np.isfinite(target) & ~invalid
    sigma = pixel_noise(target, ~ok)
    if not ok.any() or not np.isfinite(sigma):
        return float("nan")
    return float("inf") if sigma == 0 else float(20 * np.log10(data_range(target, ok) / sigma))
