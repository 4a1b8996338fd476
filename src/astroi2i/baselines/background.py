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
   pixels: a normalised convolution (Knutsson & Westin 1993). ``order=0`` is the masked
   Gaussian average of the unmasked pixels (the same as astropy's ``convolve(…,
   nan_treatment="interpolate")``, written with scipy's separable filter because a 16-pixel
   kernel is slow in astropy's direct convolution). ``order=1`` fits a plane by Gaussian-
   weighted least squares to the unmasked pixels around each pixel (local linear
   regression): next to a source the unmasked neighbours all lie on its far side, so their
   average is biased low where a galaxy's wing falls off, and the plane removes that bias to
   first order (a linear sky gradient is reproduced exactly). Where the unmasked pixels do
   not constrain a plane (the normalised moment matrix's determinant below
   ``_WELL_POSED``), the average is used;
3. the output is the image on the sources and the background elsewhere, blended over a soft
   edge (the grown source mask smoothed by ``edge`` pixels), NaN kept where the input is NaN.

Sources fainter than the detection threshold are smoothed away with the noise: the threshold
and scale are chosen per band on held-out pairs against the truth, by PSNR among the
choices that keep galaxy fluxes within the regrid reference's
(:func:`astroi2i.workflows.twoway_anchors.choose_finish`), not by eye.
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


#: below this determinant of the scale-normalised moment matrix (1 in open sky, 0.36 on the
#: edge of a half plane) a local plane is not fitted and the average is used
_WELL_POSED = 0.05


def _separable(image: np.ndarray, kernel_y: np.ndarray, kernel_x: np.ndarray) -> np.ndarray:
    """The correlation with ``kernel_y`` ⊗ ``kernel_x``, zero outside the image (beyond the
    edge there are no pixels, rather than mirrored ones that would bend a plane)."""
    from scipy import ndimage

    out = ndimage.correlate1d(image, kernel_y, axis=0, mode="constant")
    return ndimage.correlate1d(out, kernel_x, axis=1, mode="constant")


def _local_linear(band: np.ndarray, keep: np.ndarray, scale: float) -> np.ndarray:
    """At each pixel, the value at that pixel of the plane fitted by least squares to the
    ``keep`` pixels of ``band`` with Gaussian weights of ``scale`` pixels (step 2,
    ``order=1``): the normal equations' moments are separable correlations with the
    Gaussian times powers of the offset, solved per pixel by Cramer's rule."""
    radius = int(4 * scale + 0.5)
    u = np.arange(-radius, radius + 1, dtype=np.float64)
    g = np.exp(-0.5 * (u / scale) ** 2)
    g /= g.sum()
    g1, g2 = g * u / scale, g * (u / scale) ** 2
    f = np.where(keep > 0, band, 0.0)
    m00, m10, m01 = _separable(keep, g, g), _separable(keep, g1, g), _separable(keep, g, g1)
    m20, m02, m11 = _separable(keep, g2, g), _separable(keep, g, g2), _separable(keep, g1, g1)
    b0, b1, b2 = _separable(f, g, g), _separable(f, g1, g), _separable(f, g, g1)
    # the plane's value at the centre: Cramer's rule for the first unknown
    det = m00 * (m20 * m02 - m11**2) - m10 * (m10 * m02 - m11 * m01) + m01 * (m10 * m11 - m20 * m01)
    num = b0 * (m20 * m02 - m11**2) - m10 * (b1 * m02 - m11 * b2) + m01 * (b1 * m11 - m20 * b2)
    average = b0 / np.maximum(m00, 1e-6)
    posed = det > _WELL_POSED * np.maximum(m00, 1e-6) ** 3
    return np.where(posed, num / np.where(posed, det, 1.0), average)


def smooth_background(image: np.ndarray, *, nsigma: Sequence[float] | float,
                      scale: Sequence[float] | float, bands: Sequence[bool] | None = None,
                      order: Sequence[int] | int = 0, edge: float = 2.0,
                      **detect) -> np.ndarray:  # fmt: skip
    """A float32 copy of ``image`` ((C, H, W), physical) with the background between sources
    replaced by its smooth estimate (steps 1–3 above), in the bands where ``bands`` (C
    booleans; default all) is true; ``nsigma``, ``scale`` and ``order`` (0: the masked
    average, 1: the local plane) per band or one value for all; ``detect``:
    :func:`source_mask`'s keywords."""
    from scipy import ndimage

    image = np.asarray(image)
    out = image.astype(np.float32, copy=True)
    n = image.shape[0]
    nsigma = np.broadcast_to(np.asarray(nsigma, float), (n,))
    scale = np.broadcast_to(np.asarray(scale, float), (n,))
    order = np.broadcast_to(np.asarray(order, int), (n,))
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
        if order[c] == 1:
            background = _local_linear(band, keep, scale[c])
        else:
            weight = ndimage.gaussian_filter(keep, scale[c], mode="mirror")
            total = ndimage.gaussian_filter(np.where(keep > 0, band, 0.0), scale[c],
                                            mode="mirror")  # fmt: skip
            background = total / np.maximum(weight, 1e-6)
        on_source = np.clip(ndimage.gaussian_filter(sources.astype(np.float64), edge), 0, 1)
        blended = on_source * np.where(finite, band, 0.0) + (1 - on_source) * background
        out[c] = np.where(finite, blended, np.nan)
    return out
