"""Galaxy postage stamps seen by two surveys with different pixel scales, PSFs and depths, drawn
with GalSim: the SDSS ↔ CFHT setting of Lin et al. (two-way translation), and S-PLUS → Legacy
Survey fields for super-resolution (the SRGAN seed system).

Each galaxy is a de Vaucouleurs bulge plus an exponential disk (GalSim profiles) with its own
bulge fraction, sizes, axis ratio, angle, r magnitude and colours (the bulge is redder than the
disk, so colour changes across the galaxy), sometimes with a neighbour galaxy or a star. A
survey draws it through its Moffat PSF onto its own pixel grid, centred on the same sky position
(stamps of one galaxy share their centre, so their WCSs agree on the sky), and adds Gaussian sky
noise from its 5σ point-source depth per band.

Units follow the surveys: SDSS frames are in nanomaggies per pixel (zero point 22.5);
CFHTLS/MegaPipe stacks are ADU with zero point 30, i.e. 10^(0.4·7.5) ≈ 1000 × nanomaggies.
That factor is why Lin et al. divide CFHT by 1000 (``SignedSqrtStretch(flux_scale=1000)``).

S-PLUS → Legacy (``SPLUS``, ``LEGACY``; bands g, r, z): S-PLUS 128² at 0.55″/px, Legacy 256² at
0.275″/px over the same 70.4″ field (exactly ×2; the real Legacy pixel is 0.262″), both in
nanomaggies per pixel, so a Legacy pixel holds 1/4 of the flux of the S-PLUS pixel it divides.
Seeing (FWHM) S-PLUS g/r/z 1.50/1.40/1.35″ vs Legacy DR9 medians 1.29/1.18/1.11″; 5σ point-source
depths S-PLUS 21.2/21.0/20.3 vs Legacy 24.0/23.4/22.5 AB: Legacy is 2.2–2.8 mag deeper. Each
field holds a bright central galaxy plus field galaxies and stars anywhere in it
(:func:`random_field`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from astroi2i.io.fits import write_image
from astroi2i.io.image import SkyImage
from astroi2i.io.manifest import write_manifest

__all__ = ["StampSurvey", "SDSS", "CFHT", "SPLUS", "LEGACY", "GalaxyParams", "random_galaxy",
           "random_field", "draw_stamp", "simulate_galaxy_pairs", "BANDS"]  # fmt: skip

BANDS = ("u", "g", "r", "i", "z")
#: colours of an old (bulge) and a young (disk) population relative to r, AB magnitudes
_BULGE_COLOUR = {"u": 2.6, "g": 0.85, "r": 0.0, "i": -0.40, "z": -0.70}
_DISK_COLOUR = {"u": 1.2, "g": 0.40, "r": 0.0, "i": -0.20, "z": -0.30}


@dataclass(frozen=True)
class StampSurvey:
    """One survey's stamp: size (pixels), pixel scale (arcsec), PSF FWHM per band (arcsec,
    Moffat β), 5σ point-source depth per band (AB mag), zero point (flux unit = 10^(−0.4(m−zp))),
    BUNIT and the bands it observes."""

    name: str
    size: int
    pixel_scale: float
    psf_fwhm: dict
    depth: dict
    zero_point: float
    unit: str
    telescope: str
    moffat_beta: float = 3.0
    bands: tuple = BANDS

    def noise_sigma(self, band: str) -> float:
        """Per-pixel Gaussian σ (in the survey's unit) that puts a point source of the band's
        depth at S/N 5 in an optimal (PSF-weighted) measurement: σ_pix = F_lim / (5 √N_eff),
        N_eff = 4π σ_psf² / scale² for a Gaussian-equivalent PSF."""
        f_lim = 10 ** (-0.4 * (self.depth[band] - self.zero_point))
        sigma_psf = self.psf_fwhm[band] / 2.3548 / self.pixel_scale
        return float(f_lim / (5.0 * np.sqrt(4 * np.pi * sigma_psf**2)))


SDSS = StampSurvey(
    "sdss", 64, 0.396,
    psf_fwhm={"u": 1.53, "g": 1.44, "r": 1.32, "i": 1.26, "z": 1.29},
    depth={"u": 22.0, "g": 22.2, "r": 22.2, "i": 21.3, "z": 20.5},
    zero_point=22.5, unit="nanomaggy", telescope="SDSS 2.5m (simulated)",
)  # fmt: skip
CFHT = StampSurvey(
    "cfht", 136, 0.187,
    psf_fwhm={"u": 0.85, "g": 0.78, "r": 0.71, "i": 0.64, "z": 0.68},
    depth={"u": 24.7, "g": 25.0, "r": 24.6, "i": 24.2, "z": 23.3},
    zero_point=30.0, unit="adu", telescope="CFHT MegaCam (simulated)",
)  # fmt: skip
SPLUS = StampSurvey(
    "splus", 128, 0.55,
    psf_fwhm={"g": 1.50, "r": 1.40, "z": 1.35},
    depth={"g": 21.2, "r": 21.0, "z": 20.3},
    zero_point=22.5, unit="nanomaggy", telescope="T80-South S-PLUS (simulated)",
    bands=("g", "r", "z"),
)  # fmt: skip
LEGACY = StampSurvey(
    "legacy", 256, 0.275,
    psf_fwhm={"g": 1.29, "r": 1.18, "z": 1.11},
    depth={"g": 24.0, "r": 23.4, "z": 22.5},
    zero_point=22.5, unit="nanomaggy", telescope="Legacy Surveys DR9 (simulated)",
    bands=("g", "r", "z"),
)  # fmt: skip


@dataclass(frozen=True)
class GalaxyParams:
    """A galaxy (and optional neighbour/star) in sky units: arcsec, AB magnitudes.
    ``r_mag = inf``: no galaxy, only the star."""

    r_mag: float
    bulge_fraction: float
    bulge_hlr: float
    disk_hlr: float
    q: float
    beta_deg: float
    dx: float
    dy: float
    neighbour: tuple | None = None  # (dx, dy, r_mag, hlr, q, beta_deg)
    star: tuple | None = None  # (dx, dy, r_mag)


def random_galaxy(rng: np.random.Generator) -> GalaxyParams:
    """A random bright galaxy (r 16–19.5) centred within ±0.4″, with a neighbour in 30% and a
    star in 20% of stamps."""
    neighbour = star = None
    if rng.uniform() < 0.3:
        neighbour = (*rng.uniform(-9, 9, 2), rng.uniform(19, 22), 10 ** rng.uniform(-0.4, 0.2),
                     rng.uniform(0.3, 1.0), rng.uniform(0, 180))  # fmt: skip
    if rng.uniform() < 0.2:
        star = (*rng.uniform(-10, 10, 2), rng.uniform(17, 21))
    return GalaxyParams(
        r_mag=float(rng.uniform(16.0, 19.5)),
        bulge_fraction=float(rng.beta(1.2, 2.0)),
        bulge_hlr=float(10 ** rng.uniform(-0.5, 0.1)),
        disk_hlr=float(10 ** rng.uniform(-0.1, 0.5)),
        q=float(rng.uniform(0.25, 1.0)),
        beta_deg=float(rng.uniform(0, 180)),
        dx=float(rng.uniform(-0.4, 0.4)),
        dy=float(rng.uniform(-0.4, 0.4)),
        neighbour=neighbour,
        star=star,
    )


def random_field(rng: np.random.Generator, half_width: float) -> list[GalaxyParams]:
    """A field ``2 × half_width`` arcsec across: a bright central galaxy (:func:`random_galaxy`)
    plus Poisson(4) fainter galaxies (r 18–22) and Poisson(2) stars (r 16–21) at uniform
    positions (a star is an entry with ``r_mag = inf``: no galaxy, only its ``star``)."""
    field = [random_galaxy(rng)]
    edge = 0.9 * half_width
    for _ in range(rng.poisson(4.0)):
        g = random_galaxy(rng)
        field.append(GalaxyParams(
            r_mag=float(rng.uniform(18.0, 22.0)), bulge_fraction=g.bulge_fraction,
            bulge_hlr=g.bulge_hlr, disk_hlr=g.disk_hlr, q=g.q, beta_deg=g.beta_deg,
            dx=float(rng.uniform(-edge, edge)), dy=float(rng.uniform(-edge, edge)),
        ))  # fmt: skip
    for _ in range(rng.poisson(2.0)):
        star = (*rng.uniform(-edge, edge, 2), rng.uniform(16.0, 21.0))
        field.append(GalaxyParams(np.inf, 0.0, 0.3, 0.3, 1.0, 0.0, 0.0, 0.0, star=star))
    return field


def _flux(mag: float, survey: StampSurvey) -> float:
    return float(10 ** (-0.4 * (mag - survey.zero_point)))


def _band_flux(r_mag: float, bulge_fraction: float, band: str) -> tuple[float, float]:
    """(bulge, disk) magnitudes in ``band`` for a galaxy whose total r magnitude is ``r_mag``."""
    m_bulge = r_mag - 2.5 * np.log10(max(bulge_fraction, 1e-6)) + _BULGE_COLOUR[band]
    m_disk = r_mag - 2.5 * np.log10(max(1 - bulge_fraction, 1e-6)) + _DISK_COLOUR[band]
    return m_bulge, m_disk


def _scene(params: GalaxyParams, survey: StampSurvey, band: str):
    """The GalSim profile of one galaxy (+ neighbour, + star) in ``band``, through the PSF."""
    import galsim

    psf = galsim.Moffat(beta=survey.moffat_beta, fwhm=survey.psf_fwhm[band])
    star_colour = {"u": 1.3, "g": 0.5, "r": 0.0, "i": -0.15, "z": -0.2}[band]
    if not np.isfinite(params.r_mag):
        sx, sy, smag = params.star
        return psf.withFlux(_flux(smag + star_colour, survey)).shift(sx, sy)
    shear = galsim.Shear(q=params.q, beta=params.beta_deg * galsim.degrees)
    m_bulge, m_disk = _band_flux(params.r_mag, params.bulge_fraction, band)
    parts = []
    if params.bulge_fraction > 1e-3:
        parts.append(galsim.DeVaucouleurs(half_light_radius=params.bulge_hlr,
                                          flux=_flux(m_bulge, survey)))  # fmt: skip
    if params.bulge_fraction < 1 - 1e-3:
        parts.append(galsim.Exponential(half_light_radius=params.disk_hlr,
                                        flux=_flux(m_disk, survey)))  # fmt: skip
    obj = galsim.Add(parts).shear(shear).shift(params.dx, params.dy)
    if params.neighbour is not None:
        nx, ny, nmag, hlr, q, beta = params.neighbour
        colour = 0.5 * (_BULGE_COLOUR[band] + _DISK_COLOUR[band])
        neigh = galsim.Exponential(half_light_radius=hlr, flux=_flux(nmag + colour, survey))
        obj = obj + neigh.shear(q=q, beta=beta * galsim.degrees).shift(nx, ny)
    scene = galsim.Convolve(obj, psf)
    if params.star is not None:
        sx, sy, smag = params.star
        scene = scene + psf.withFlux(_flux(smag + star_colour, survey)).shift(sx, sy)
    return scene


def draw_stamp(
    params: GalaxyParams | list[GalaxyParams], survey: StampSurvey,
    rng: np.random.Generator | None, *, bands=None, with_truth: bool = False,
):  # fmt: skip
    """(bands, size, size) float32 stamp in the survey's unit (``bands``: the survey's by
    default) of one galaxy or a field of them; noise-free when ``rng`` is None.
    ``with_truth``: (noisy stamp, noise-free stamp), the second being the first's expectation
    (the same draw of the noise as without it)."""
    import galsim

    bands = survey.bands if bands is None else bands
    objects = [params] if isinstance(params, GalaxyParams) else list(params)
    out = np.empty((len(bands), survey.size, survey.size), np.float32)
    truth = np.empty_like(out)
    for c, band in enumerate(bands):
        scene = galsim.Add([_scene(p, survey, band) for p in objects])
        image = galsim.ImageF(survey.size, survey.size, scale=survey.pixel_scale)
        scene.drawImage(image=image)
        data = image.array.astype(np.float64)
        truth[c] = data
        if rng is not None:
            data = data + rng.normal(0.0, survey.noise_sigma(band), data.shape)
        out[c] = data
    return (out, truth) if with_truth else out


def stamp_wcs(survey: StampSurvey, ra: float, dec: float) -> WCS:
    """TAN WCS of a stamp centred on (ra, dec): the centre of the middle pixel (or of the four
    middle pixels) is (ra, dec), the same point GalSim draws the galaxy around."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra, dec]
    wcs.wcs.crpix = [(survey.size + 1) / 2, (survey.size + 1) / 2]
    wcs.wcs.cdelt = [-survey.pixel_scale / 3600, survey.pixel_scale / 3600]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    return wcs


def _write_stamp(data, survey: StampSurvey, ra, dec, path: Path, key: str, simulated: str,
                 noise_free: bool = False):  # fmt: skip
    header = fits.Header()
    header["TELESCOP"] = survey.telescope
    header["OBJECT"] = key
    bands = survey.bands
    image = SkyImage(data, stamp_wcs(survey, ra, dec), survey.unit, bands=bands, header=header)
    write_image(
        image,
        path,
        provenance={
            "simulated": simulated,
            "survey": survey.name,
            "zero_point": survey.zero_point,
            "psf_fwhm_arcsec": ",".join(f"{survey.psf_fwhm[b]:.2f}" for b in bands),
            "noise_sigma": "0 (noise-free truth)"
            if noise_free
            else ",".join(f"{survey.noise_sigma(b):.4g}" for b in bands),
        },
        overwrite=True,
    )


def simulate_galaxy_pairs(
    out_dir,
    *,
    paired: dict[str, int],
    unpaired: int,
    seed: int = 0,
    a: StampSurvey = SDSS,
    b: StampSurvey = CFHT,
    fields: bool = False,
    preset: str = "sdss-cfht",
) -> Path:
    """Write stamps of both surveys and a manifest with columns split, id, ``a.name``,
    ``b.name`` (cubes of each survey's bands), ``a.name_truth``, ``b.name_truth`` (the same
    stamps without noise: their expectation), kind (paired / unpaired_a / unpaired_b) and
    r_mag (of the central galaxy). ``fields``: each stamp is a :func:`random_field` over the
    survey pair's common footprint, not one galaxy.

    ``paired``: split name → number of galaxies seen by both surveys. ``unpaired``: galaxies
    seen by only one survey, per survey, all in the train split (the semi-supervised pools;
    their cell of the other survey is empty).
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    rows = []

    def add(split, kind, surveys):
        key = f"{split}{len(rows):05d}"
        half = 0.5 * min(a.size * a.pixel_scale, b.size * b.pixel_scale)
        params = random_field(rng, half) if fields else random_galaxy(rng)
        central = params[0] if fields else params
        ra, dec = 150.0 + (0.03 if fields else 0.01) * len(rows), 2.2  # fields do not overlap
        row = {"split": split, "id": key, a.name: "", b.name: "", f"{a.name}_truth": "",
               f"{b.name}_truth": "", "kind": kind, "r_mag": round(central.r_mag, 3)}  # fmt: skip
        simulated = f"astroi2i simulate survey-pair --preset {preset}, seed {seed}"
        for survey in surveys:
            stamp, truth = draw_stamp(params, survey, rng, with_truth=True)
            for column, data, clean in ((survey.name, stamp, False),
                                        (f"{survey.name}_truth", truth, True)):  # fmt: skip
                path = out / split / f"{key}_{column}.fits"
                _write_stamp(data, survey, ra, dec, path, key, simulated, noise_free=clean)
                row[column] = str(path.relative_to(out))
        rows.append(row)

    for split, count in paired.items():
        for _ in range(count):
            add(split, "paired", (a, b))
    for _ in range(unpaired):
        add("train", "unpaired_a", (a,))
        add("train", "unpaired_b", (b,))
    return write_manifest(rows, out / "manifest.csv", overwrite=True)
