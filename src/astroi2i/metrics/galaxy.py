"""Science metrics of translated galaxy stamps against the real target-survey stamp: noise
fidelity (background pixel distribution and noise power spectrum) and galaxy properties
(flux, half-light radius, ellipticity; photutils). All in the units they are given (call them
on physical data and say so).

The background is the target's pixels outside its sources: photutils segmentation at
``nsigma`` × the sigma-clipped noise, each source grown by ``grow`` pixels.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = [
    "background_mask",
    "central_segment",
    "galaxy_properties",
    "noise_fidelity",
    "radial_power",
    "segment_flux",
]


def _stats(image: np.ndarray, mask: np.ndarray | None = None) -> tuple[float, float]:
    from astropy.stats import sigma_clipped_stats

    _, median, std = sigma_clipped_stats(image, mask=mask, sigma=3.0, maxiters=10)
    return float(median), float(std)


def _segments(image: np.ndarray, nsigma: float, npixels: int):
    from photutils.segmentation import detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning

    median, std = _stats(image)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NoDetectionsWarning)
        return detect_sources(image - median, nsigma * std, n_pixels=npixels)


def background_mask(
    target: np.ndarray, *, nsigma: float = 1.5, npixels: int = 5, grow: int = 3
) -> np.ndarray:
    """True on the target's background pixels (outside every source, grown by ``grow``)."""
    from scipy.ndimage import binary_dilation

    segm = _segments(target, nsigma, npixels)
    if segm is None:
        return np.isfinite(target)
    sources = binary_dilation(segm.data > 0, iterations=grow) if grow else segm.data > 0
    return ~sources & np.isfinite(target)


def radial_power(image: np.ndarray, background: np.ndarray, n_bins: int = 12):
    """Azimuthally averaged power spectrum of the background: the image minus its background
    median, sources set to 0, normalised by the background fraction. Returns (k, P) with k
    in cycles per pixel, the zero frequency left out."""
    values = np.where(background, image - np.median(image[background]), 0.0)
    power = np.abs(np.fft.fftshift(np.fft.fft2(values))) ** 2 / max(background.sum(), 1)
    h, w = image.shape
    ky, kx = np.meshgrid(np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w)),
                         indexing="ij")  # fmt: skip
    k = np.hypot(ky, kx)
    edges = np.linspace(0.0, 0.5, n_bins + 1)
    index = np.digitize(k, edges) - 1
    p = np.array([power[index == i].mean() if (index == i).any() else np.nan
                  for i in range(n_bins)])  # fmt: skip
    centres = 0.5 * (edges[1:] + edges[:-1])
    return centres[1:], p[1:]


def noise_fidelity(pred: np.ndarray, target: np.ndarray, background: np.ndarray) -> dict:
    """How well the prediction's background noise matches the target's, on ``background``.

    - ``bg_sigma_ratio``: robust σ (1.4826 MAD) of the prediction over the target's (1 = same
      noise level; 0 = a noise-free prediction);
    - ``bg_w1``: Wasserstein-1 distance between the two background pixel histograms, in
      units of the target's σ (0 = the same distribution);
    - ``psd_dex``: mean |log10 P_pred(k) / P_target(k)| over radial frequency bins of the
      background power spectrum (0 = the same noise spectrum; 1 = a factor 10 off; capped
      at 6 per bin).
    """
    from scipy.stats import median_abs_deviation, wasserstein_distance

    ok = background & np.isfinite(pred) & np.isfinite(target)
    if ok.sum() < 16:
        return {"bg_sigma_ratio": np.nan, "bg_w1": np.nan, "psd_dex": np.nan}
    p, t = pred[ok], target[ok]
    sigma_t = float(median_abs_deviation(t, scale="normal"))
    sigma_p = float(median_abs_deviation(p, scale="normal"))
    if not sigma_t > 0:
        return {"bg_sigma_ratio": np.nan, "bg_w1": np.nan, "psd_dex": np.nan}
    _, psd_p = radial_power(np.where(ok, pred, 0.0), ok)
    _, psd_t = radial_power(np.where(ok, target, 0.0), ok)
    # a noise-free prediction has (numerically) no background power: cap the gap at 6 dex
    ratio = np.clip(np.log10(np.maximum(psd_p, 1e-300) / np.maximum(psd_t, 1e-300)), -6, 6)
    return {
        "bg_sigma_ratio": sigma_p / sigma_t,
        "bg_w1": float(wasserstein_distance(p, t)) / sigma_t,
        "psd_dex": float(np.nanmean(np.abs(ratio))),
    }


def central_segment(target: np.ndarray, *, nsigma: float = 2.0, npixels: int = 5, grow: int = 4):
    """The target's segment of its central galaxy (the segment under the centre, else the
    nearest), grown by ``grow`` pixels, as a photutils ``SegmentationImage`` with that one
    label; None when the target has no source."""
    from photutils.segmentation import SourceCatalog

    segm = _segments(target, nsigma, npixels)
    if segm is None:
        return None
    h, w = target.shape
    label = int(segm.data[h // 2, w // 2])
    if label == 0:
        cat = SourceCatalog(target, segm)
        d = np.hypot(np.asarray(cat.xcentroid) - w / 2, np.asarray(cat.ycentroid) - h / 2)
        label = int(cat.labels[int(np.nanargmin(d))])
    segm.keep_labels([label])
    if grow:
        from scipy.ndimage import binary_dilation

        segm.data = np.where(binary_dilation(segm.data == label, iterations=grow), label, 0)
    return segm


def segment_flux(image: np.ndarray, segm) -> float:
    """The flux of ``image`` in the one segment of ``segm`` (:func:`central_segment`), less
    the image's own background median (sigma-clipped, outside the segment): the same number
    as :func:`galaxy_properties`' flux, without the catalogue's other properties."""
    inside = segm.data > 0
    median, _ = _stats(image, mask=inside | ~np.isfinite(image))
    return float(np.sum(image[inside] - median))


def galaxy_properties(
    pred: np.ndarray, target: np.ndarray, *, nsigma: float = 2.0, npixels: int = 5, grow: int = 4
) -> dict:
    """Flux, half-light radius and ellipticity of the central galaxy in both images, measured
    with photutils' SourceCatalog on the *target's* segment of that galaxy (the segment under
    the centre, else the nearest) grown by ``grow`` pixels (so a blurrier prediction's wings
    are counted), each image less its own background median (:func:`central_segment`).

    Returns the target's values (``flux``, ``r50`` in pixels, ``ellipticity``) and the errors
    ``flux_err`` = |F_p/F_t − 1|, ``r50_err`` = |r_p/r_t − 1|, ``ell_err`` = |e_p − e_t|;
    NaN when the target has no source.
    """
    from photutils.segmentation import SourceCatalog

    nan = {k: np.nan for k in ("flux", "r50", "ellipticity", "flux_err", "r50_err", "ell_err")}
    segm = central_segment(target, nsigma=nsigma, npixels=npixels, grow=grow)
    if segm is None:
        return nan
    values = {}
    for name, image in (("t", target), ("p", pred)):
        background = segm.data == 0
        median, _ = _stats(image, mask=~background | ~np.isfinite(image))
        cat = SourceCatalog(image - median, segm)
        values[name] = (
            float(cat.segment_flux[0]),
            float(np.asarray(cat.flux_radius(0.5))[0]),
            float(cat.ellipticity[0]),
        )
    (ft, rt, et), (fp, rp, ep) = values["t"], values["p"]
    return {
        "flux": ft,
        "r50": rt,
        "ellipticity": et,
        "flux_err": abs(fp / ft - 1) if ft > 0 else np.nan,
        "r50_err": abs(rp / rt - 1) if rt > 0 else np.nan,
        "ell_err": abs(ep - et),
    }
