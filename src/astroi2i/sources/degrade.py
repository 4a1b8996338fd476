"""A physical degradation simulator: turn a sharp, deep image into what a shallower survey
with a broader PSF and coarser pixels would record, keeping both on consistent WCS grids.

Steps, in this order:

1. convolve with the kernel that turns the input PSF into the output PSF (Gaussian →
   Gaussian: σ_k² = σ_out² − σ_in²; or a Moffat or a user-given PSF image, used as the kernel
   itself), with astropy.convolution (edges extended, NaN interpolated);
2. rebin by ``factor``: sums of f×f blocks for per-pixel quantities (flux-conserving), means
   for surface brightness;
3. add a sky level, Poisson noise (``gain`` electrons per data unit) and Gaussian read noise,
   then remove the sky again.

The coarse WCS is :func:`~astroi2i.sky.geometry.rescale_wcs` with 1/factor, so the HR grid is
exactly the LR grid made ``factor`` times finer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from astroi2i.sky.geometry import is_surface_brightness, rescale_wcs
from astroi2i.sky.image import SkyImage

__all__ = ["Degradation", "degrade", "FWHM_TO_SIGMA", "SPLUS_LIKE_FROM_LEGACY"]

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class Degradation:
    """Parameters, in pixels of the *input* (high-resolution) image and its data units.

    psf_in_fwhm : FWHM of the input PSF (0 if unresolved/unknown).
    psf_out_fwhm : FWHM of the target survey's PSF.
    moffat_beta : use a Moffat profile of that β for the output PSF (else Gaussian).
    psf_kernel : a PSF image (2-D array, any normalisation) used as the kernel instead.
    factor : integer rebinning factor (output pixel = factor × input pixel).
    sky, gain, read_noise : sky level per output pixel (data units), electrons per data unit
        (0 disables Poisson noise), Gaussian read noise σ per output pixel (data units).
    """

    factor: int = 2
    psf_in_fwhm: float = 0.0
    psf_out_fwhm: float = 2.0
    moffat_beta: float | None = None
    psf_kernel: np.ndarray | None = None
    sky: float = 0.0
    gain: float = 0.0
    read_noise: float = 0.0


#: S-PLUS-like (0.55″/px, seeing ~1.3″, shallower) from Legacy-Survey-like (0.262″/px, ~1.1″)
#: images, in Legacy pixels: factor 2, PSF 1.1″ → 1.4″ (FWHM 4.2 → 5.3 px); noise levels are
#: survey- and band-specific and must be set from the data (sky, gain, read noise).
SPLUS_LIKE_FROM_LEGACY = Degradation(factor=2, psf_in_fwhm=4.2, psf_out_fwhm=5.3)


def _kernel(d: Degradation):
    from astropy.convolution import CustomKernel, Gaussian2DKernel, Moffat2DKernel

    if d.psf_kernel is not None:
        k = np.asarray(d.psf_kernel, float)
        return CustomKernel(k / k.sum())
    if d.moffat_beta is not None:
        alpha = d.psf_out_fwhm / (2 * np.sqrt(2 ** (1 / d.moffat_beta) - 1))
        kernel = Moffat2DKernel(gamma=alpha, alpha=d.moffat_beta)
        kernel.normalize()
        return kernel
    var = (d.psf_out_fwhm * FWHM_TO_SIGMA) ** 2 - (d.psf_in_fwhm * FWHM_TO_SIGMA) ** 2
    if var <= 0:
        return None  # the input is already at least as blurred
    return Gaussian2DKernel(np.sqrt(var))


def degrade(image: SkyImage, d: Degradation, *, seed: int = 0) -> tuple[SkyImage, SkyImage]:
    """(low-resolution image, high-resolution image cropped to a multiple of the factor).

    Invalid input pixels are interpolated by the convolution where possible; an output pixel
    whose block holds any invalid input pixel is invalid.
    """
    from astropy.convolution import convolve

    f = int(d.factor)
    h, w = (image.shape[0] // f) * f, (image.shape[1] // f) * f
    hr = image.replace(data=image.data[:, :h, :w].copy(), mask=image.band_mask[:, :h, :w].copy())
    kernel = _kernel(d)
    rng = np.random.default_rng(seed)
    surface = is_surface_brightness(image.unit)
    lr = np.empty((hr.n_bands, h // f, w // f), np.float32)
    lr_mask = np.empty_like(lr, dtype=bool)
    for c in range(hr.n_bands):
        band = np.where(hr.band_mask[c], np.nan, hr.data[c]).astype(float)
        if kernel is not None:
            # "extend": the sky beyond the edge continues the edge, so a flat background keeps
            # its level (a zero fill would darken and de-flux the borders)
            band = convolve(
                band, kernel, boundary="extend", nan_treatment="interpolate", preserve_nan=True
            )
        blocks = band.reshape(h // f, f, w // f, f)
        binned = blocks.mean(axis=(1, 3)) if surface else blocks.sum(axis=(1, 3))
        if d.gain > 0:
            electrons = np.clip((binned + d.sky) * d.gain, 0, None)
            binned = rng.poisson(np.nan_to_num(electrons)) / d.gain - d.sky
        if d.read_noise > 0:
            binned = binned + rng.normal(0.0, d.read_noise, binned.shape)
        lr_mask[c] = hr.band_mask[c].reshape(h // f, f, w // f, f).any(axis=(1, 3))
        lr[c] = np.where(lr_mask[c], np.nan, binned)
    wcs = None if image.wcs is None else rescale_wcs(image.wcs, 1.0 / f)
    mask = lr_mask[0] if hr.n_bands == 1 else lr_mask  # the SkyImage convention for one band
    low = SkyImage(lr, wcs, image.unit, mask, image.bands, image.header)
    if hr.wcs is not None:
        hr = hr.replace(wcs=hr.wcs.deepcopy())
    return low, hr
