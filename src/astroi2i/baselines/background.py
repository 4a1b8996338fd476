"""A smooth background outside the sources: the classical way to take the noise out of the sky
between sources while keeping the sources as they are.

A translation from a shallow survey into a deep one (SDSS → CFHT) keeps the source survey's
noise, resampled and PSF-matched into blobs a few target pixels wide; between the sources the
deep survey's noise-free sky is smooth, so that leftover noise is pure error, and added to the
emulated noise it makes the translated image noisier than the deep survey. An astronomer
removes it as a background is estimated (photutils' ``Background2D`` masks the sources):

1. sources are detected on the image smoothed by a Gaussian of ``smooth`` pixels, at
   ``nsigma`` × that smoothed image's sigma-clipped σ, at least ``npixels`` connected pixels
   (photutils ``detect_sources``), and grown by ``grow`` pixels;
2. the background is the image with the sources masked, smoothed by a Gaussian of ``scale``
   pixels: a normalised convolution (the masked Gaussian average of the unmasked pixels, the
   same as astropy's ``convolve(…, nan_treatment="interpolate")``, written with scipy's
   separable filter because a 16-pixel kernel is slow in astropy's direct convolution);
3. the output is the image on the sources and the background elsewhere, blended over a soft
   edge (the grown source mask smoothed by ``edge`` pixels), NaN kept where the input is NaN.

Sources fainter than the detection threshold are smoothed away with the noise: the threshold is
chosen per band on held-out pairs by PSNR against the truth
(:func:`astroi2i.workflows.twoway_anchors.choose_background`), not by eye.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

__all__ = ["smooth_background", "source_mask"]


def source_mask(image: np.ndarray, nsigma: float, *, npixels: int = 10, smooth: float = 1.5,
                grow: int = 3) -> np.ndarray:  # fmt: skip
    """True on the sources of one (H, W) band (step 1 above); all False where nothing is
    detected or the image has no spread."""
    from astropy.stats import sigma_clipped_stats
    from photutils.segmentation import detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning
    from scipy import ndimage

    finite = np.isfinite(image)
    none = np.zeros(image.shape, bool)
    if finite.sum() < 16:
        return none
    _, median, _ = sigma_clipped_stats(image[finite])
    smoothed = ndimage.gaussian_filter(np.where(finite, image - median, 0.0), smooth)
    _, level, sigma = sigma_clipped_stats(smoothed[finite])
    if not sigma > 0:
        return none
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        segm = detect_sources(smoothed - level, nsigma * sigma, n_pixels=npixels)
    if segm is None:
        return none
    sources = segm.data > 0
    return ndimage.binary_dilation(sources, iterations=grow) if grow else sources


def smooth_background(image: np.ndarray, *, nsigma: Sequence[float] | float,
                      scale: Sequence[float] | float, bands: Sequence[bool] | None = None,
                      edge: float = 2.0, **detect) -> np.ndarray:  # fmt: skip
    """A float32 copy of ``image`` ((C, H, W), physical) with the background between sources
    replaced by its smooth estimate (steps 1–3 above), in the bands where ``bands`` (C
    booleans; default all) is true; ``nsigma`` and ``scale`` per band or one value for all;
    ``detect``: :func:`source_mask`'s keywords."""
    from scipy import ndimage

    image = np.asarray(image)
    out = image.astype(np.float32, copy=True)
    n = image.shape[0]
    nsigma = np.broadcast_to(np.asarray(nsigma, float), (n,))
    scale = np.broadcast_to(np.asarray(scale, float), (n,))
    for c in range(n):
        if bands is not None and not bands[c]:
            continue
        band = image[c].astype(np.float64)
        finite = np.isfinite(band)
        if finite.sum() < 16:
            continue
        sources = source_mask(band, nsigma[c], **detect)
        keep = (finite & ~sources).astype(np.float64)
        if not keep.any():
            continue
        weight = ndimage.gaussian_filter(keep, scale[c], mode="mirror")
        total = ndimage.gaussian_filter(np.where(keep > 0, band, 0.0), scale[c], mode="mirror")
        background = total / np.maximum(weight, 1e-6)
        on_source = np.clip(ndimage.gaussian_filter(sources.astype(np.float64), edge), 0, 1)
        blended = on_source * np.where(finite, band, 0.0) + (1 - on_source) * background
        out[c] = np.where(finite, blended, np.nan)
    return out
