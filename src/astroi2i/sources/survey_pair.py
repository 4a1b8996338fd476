"""A synthetic galaxy field seen by two surveys: the same galaxies and stars, observed through
different PSFs, pixel noise and depth, on one TAN grid. This is what ``quickstart`` trains on.

Galaxies are Sérsic profiles (astropy.modeling) with random index, size, ellipticity, angle,
flux and colour; stars are PSF-shaped point sources. Pixel values are fluxes per pixel in
nanomaggies. Each survey convolves the true sky with its Gaussian PSF and adds Gaussian sky
noise of its own depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astroi2i.io.fits import write_image
from astroi2i.io.image import SkyImage
from astroi2i.io.manifest import write_manifest

__all__ = ["SurveySpec", "render_truth", "observe", "simulate_survey_pair", "SHALLOW", "DEEP"]

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@dataclass(frozen=True)
class SurveySpec:
    """One survey's view: PSF FWHM (pixels), per-pixel noise sigma (nanomaggies), names."""

    name: str
    psf_fwhm: float
    noise_sigma: float
    telescope: str = "SIMULATED"
    exptime: float = 60.0
    band_depth: dict[str, float] = field(default_factory=dict)


SHALLOW = SurveySpec(
    "shallow", psf_fwhm=3.2, noise_sigma=0.12, telescope="SIM-SHALLOW", exptime=54.0
)
DEEP = SurveySpec("deep", psf_fwhm=1.6, noise_sigma=0.02, telescope="SIM-DEEP", exptime=600.0)


def _field_wcs(shape: tuple[int, int], ra: float, dec: float, scale_arcsec: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    wcs.wcs.cdelt = [-scale_arcsec / 3600, scale_arcsec / 3600]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    return wcs


def render_truth(
    shape: tuple[int, int],
    bands: tuple[str, ...],
    rng: np.random.Generator,
    *,
    density: float = 1.5e-3,
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """Noise-free, PSF-free sky (C, H, W) in nanomaggies per pixel, and the star list
    (x, y, r-band flux). About ``density`` galaxies per pixel."""
    from astropy.modeling.models import Sersic2D

    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    sky = np.zeros((len(bands), h, w))
    n_gal = rng.poisson(density * h * w)
    for _ in range(n_gal):
        flux = 10 ** rng.uniform(0.3, 2.3)  # 2–200 nmgy total
        r_eff = 10 ** rng.uniform(0.1, 0.9)  # 1.3–8 px
        n = rng.uniform(0.7, 3.5)
        ellip = rng.uniform(0.0, 0.7)
        theta = rng.uniform(0, np.pi)
        x0, y0 = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        profile = Sersic2D(
            amplitude=1.0, r_eff=r_eff, n=n, x_0=x0, y_0=y0, ellip=ellip, theta=theta
        )
        img = profile(x, y)
        total = img.sum()
        if total <= 0:
            continue
        colour = rng.uniform(0.35, 1.0)  # g/r flux ratio: redder and bluer galaxies
        for c, band in enumerate(bands):
            sky[c] += img * (flux / total) * (colour if band == "g" else 1.0)
    stars = []
    for _ in range(rng.poisson(0.3e-3 * h * w)):
        stars.append((rng.uniform(0, w), rng.uniform(0, h), 10 ** rng.uniform(0.5, 2.5)))
    return sky, stars


def observe(
    sky: np.ndarray, stars, bands, spec: SurveySpec, rng: np.random.Generator
) -> np.ndarray:
    """The survey's image: sky ⊗ Gaussian PSF + stars (PSF-shaped) + Gaussian noise."""
    from scipy.ndimage import gaussian_filter

    sigma = spec.psf_fwhm * FWHM_TO_SIGMA
    h, w = sky.shape[-2:]
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.empty_like(sky)
    for c, band in enumerate(bands):
        img = gaussian_filter(sky[c], sigma, mode="constant")
        for sx, sy, flux in stars:
            psf = np.exp(-((x - sx) ** 2 + (y - sy) ** 2) / (2 * sigma**2)) / (2 * np.pi * sigma**2)
            img += psf * flux * (0.6 if band == "g" else 1.0)
        noise = spec.band_depth.get(band, spec.noise_sigma)
        out[c] = img + rng.normal(0.0, noise, img.shape)
    return out.astype(np.float32)


def _write(data, wcs, band, spec: SurveySpec, path: Path, seed: int) -> None:
    header = fits.Header()
    header["TELESCOP"] = spec.telescope
    header["FILTER"] = band
    header["EXPTIME"] = spec.exptime
    header["OBJECT"] = path.stem.split("_")[0]
    image = SkyImage(data, wcs, "nanomaggy", bands=(band,), header=header)
    write_image(
        image,
        path,
        provenance={
            "simulated": f"astroi2i survey-pair, seed {seed}",
            "survey": spec.name,
            "psf_fwhm_px": spec.psf_fwhm,
            "noise_sigma": spec.noise_sigma,
        },
        overwrite=True,
    )


def simulate_survey_pair(
    out_dir,
    *,
    splits: dict[str, tuple[int, int]] | None = None,
    bands: tuple[str, ...] = ("g", "r"),
    shallow: SurveySpec = SHALLOW,
    deep: SurveySpec = DEEP,
    pixel_scale: float = 0.4,
    bad_column_fraction: float = 0.3,
    seed: int = 0,
) -> Path:
    """Write paired shallow/deep FITS fields and a manifest ``manifest.csv``.

    Parameters
    ----------
    splits : dict
        split name → (number of fields, field size in pixels). Default: 8 train fields of 160²,
        8 val of 96², 6 test of 128² (8 validation fields, not 2 as before 2026-12-07: the
        correction weight, σ's conformal calibration and its offset are all chosen on them).
    bad_column_fraction : float
        Fraction of shallow fields that get a NaN bad column (tests the mask path).

    Returns
    -------
    Path of the manifest, with columns split, id, shallow_<band>…, deep_<band>….
    """
    out = Path(out_dir)
    splits = splits or {"train": (8, 160), "val": (8, 96), "test": (6, 128)}
    rng = np.random.default_rng(seed)
    rows = []
    for split, (count, size) in splits.items():
        for i in range(count):
            key = f"{split}{i:03d}"
            wcs = _field_wcs((size, size), 150.0 + 0.2 * len(rows), 2.0, pixel_scale)
            sky, stars = render_truth((size, size), bands, rng)
            low = observe(sky, stars, bands, shallow, rng)
            high = observe(sky, stars, bands, deep, rng)
            if rng.uniform() < bad_column_fraction:
                col = int(rng.integers(0, size))
                low[:, :, col] = np.nan
            row = {"split": split, "id": key}
            for c, band in enumerate(bands):
                for spec, data in ((shallow, low), (deep, high)):
                    name = f"{spec.name}_{band}"
                    path = out / split / f"{key}_{name}.fits"
                    _write(data[c], wcs, band, spec, path, seed)
                    row[name] = str(path.relative_to(out))
            rows.append(row)
    return write_manifest(rows, out / "manifest.csv", overwrite=True)
