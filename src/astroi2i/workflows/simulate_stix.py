"""``astroi2i simulate stix``: STIX back-projection/CLEAN pairs of random flares observed
through xrayvision (:mod:`astroi2i.sources.stix`) on the real STIX (u, v) coverage."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from astroi2i.errors import InputError
from astroi2i.io.fits import write_image
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.manifest import write_manifest
from astroi2i.sky.regions import assign_splits

__all__ = ["simulate_stix", "stix_maps", "stix_header", "clean_cards"]

_BEAMS: dict = {}  # one dirty beam per (imaging, coverage) in each worker process


def _stix_wcs(imaging, center: tuple[float, float], date_obs: str):
    """Helioprojective TAN grid: pixel centre k (0-based) at (k − (n_bp−1)/2)·px from
    ``center``, for the BP (n_bp pixels) and the one-pixel-larger CLEAN grid alike (they share
    CRPIX)."""
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["HPLN-TAN", "HPLT-TAN"]
    w.wcs.cunit = ["arcsec", "arcsec"]
    w.wcs.cdelt = [imaging.pixel_size, imaging.pixel_size]
    w.wcs.crpix = [(imaging.map_size + 1) / 2, (imaging.map_size + 1) / 2]
    w.wcs.crval = list(center)
    w.wcs.dateobs = date_obs
    return w


def stix_header(vis, exposure: float, date_obs: str, dsun_m: float | None = None) -> dict:
    """Observation keywords of one simulated (or real) STIX map (the observer distance only
    where known)."""
    lo, hi = vis.energy_range or (4.0, 10.0)
    header = {
        "TELESCOP": "SOLO/STIX",
        "INSTRUME": "STIX",
        "OBSRVTRY": "Solar Orbiter",
        "EXPTIME": float(exposure),
        "DATE-OBS": date_obs,
        "ENERGY_L": float(lo),
        "ENERGY_H": float(hi),
        "RSUN_REF": 695700000.0,
    }
    if dsun_m is not None:
        header.update(DSUN_OBS=float(dsun_m), HGLN_OBS=0.0, HGLT_OBS=0.0)
    return header


def stix_maps(vis, imaging, *, exposure: float, header: dict, beam=None, truth=None):
    """BP, CLEAN (and, with ``truth``, the truth and truth ⊗ clean beam) as SkyImages with a
    helioprojective WCS, fluence units and identical CRPIX; the CLEAN grid is
    ``imaging.clean_shape`` pixels."""
    from astropy.io import fits

    from astroi2i.io.image import SkyImage
    from astroi2i.sources import stix

    hdr = fits.Header(header)
    bp = stix.back_projection(vis, imaging) * exposure
    cleaned = stix.clean_map(vis, imaging, beam=beam)
    per_beam, per_area = "ct / (cm2 keV)", "ct / (arcsec2 cm2 keV)"

    def sky(data, unit, band, extra=()):
        wcs = _stix_wcs(imaging, vis.center, header["DATE-OBS"])
        h = hdr.copy()
        h.update(extra)
        return SkyImage(np.asarray(data, np.float32)[None], wcs, unit, bands=(band,), header=h)

    out = {
        "bp": sky(bp, per_beam, "bp"),
        "clean": sky(cleaned.image * exposure, per_area, "clean", clean_cards(cleaned, imaging)),
    }
    if truth is not None:
        area = imaging.pixel_size**2
        out["truth"] = sky(truth * exposure / area, per_area, "truth")
        beamed = stix.truth_with_beam(truth, imaging) * exposure
        out["truth_beam"] = sky(beamed, per_area, "truth_beam")
    return out


def clean_cards(cleaned, imaging) -> list[tuple]:
    """Header cards that say how far CLEAN went: iterations, cap, gain, stopping threshold
    and the dirty map's noise σ it was measured against, and whether it converged."""
    return [
        ("CLNITER", int(cleaned.iterations), "CLEAN iterations done"),
        ("CLNNMAX", int(imaging.niter), "CLEAN iteration cap"),
        ("CLNGAIN", float(imaging.gain), "CLEAN loop gain"),
        ("CLNTHRSH", float(imaging.threshold), "stop: max residual <= CLNTHRSH * CLNNOISE"),
        ("CLNNOISE", float(cleaned.noise), "[ct/(cm2 keV s)/beam] BP noise sigma, rates"),
        ("CLNCONV", bool(cleaned.converged), "CLEAN reached its stopping rule"),
    ]


def _stix_sample(task: dict) -> dict:
    """One simulated STIX observation, written as four FITS files (runs in a worker)."""
    from astroi2i.sources import stix

    imaging, coverage, settings = task["imaging"], task["coverage"], task["settings"]
    rng = np.random.default_rng([settings["seed"], task["index"]])
    flare = stix.random_flare(
        rng, task["n_sources"], flux_range=settings["flux_range"], max_offset=settings["offset"]
    )
    truth = stix.render_sources(flare, imaging.map_size, imaging.pixel_size)
    vis = stix.observe(
        truth,
        coverage,
        pixel_size=imaging.pixel_size,
        exposure=settings["exposure"],
        rng=rng,
        background=settings["background"],
    )
    # a flare somewhere on the disk, seen from Solar Orbiter at 0.3–1 AU, in 2021–2024
    r, phi = 800.0 * np.sqrt(rng.uniform()), rng.uniform(0, 2 * np.pi)
    vis = replace(vis, center=(float(r * np.cos(phi)), float(r * np.sin(phi))))
    day = int(rng.integers(0, 4 * 365))
    date = (np.datetime64("2021-01-01T00:00:00") + np.timedelta64(day * 86400, "s")).astype(str)
    header = stix_header(vis, settings["exposure"], date, rng.uniform(0.3, 1.0) * 1.495978707e11)
    key = (imaging, hash(coverage.u.tobytes() + coverage.v.tobytes()))
    if key not in _BEAMS:
        _BEAMS.clear()
        _BEAMS[key] = stix.dirty_beam(coverage, imaging)
    maps = stix_maps(
        vis, imaging, exposure=settings["exposure"], header=header, beam=_BEAMS[key], truth=truth
    )
    name, out, split = task["id"], Path(task["out"]), task["split"]
    provenance = {
        "task": "simulate stix",
        "flare": "; ".join(
            f"{s.kind} x={s.x:.1f} y={s.y:.1f} flux={s.flux:.3g} fwhm={s.fwhm:.1f}"
            for s in flare.sources
        )[:600],
        "imaging": imaging.describe(),
        "noise": f"Poisson counts, {stix.COUNTS_PER_RATE} ct per rate unit per s, "
        f"background {settings['background']:g}",
    }
    row = {"split": split, "id": name}
    for column, image in maps.items():
        path = out / split / f"{name}_{column}.fits"
        write_image(image, path, provenance=provenance, overwrite=task["overwrite"])
        row[column] = str(path.relative_to(out))
    row.update(
        n_sources=flare.n_sources,
        multiplicity="single" if flare.n_sources == 1 else "multiple",
        kinds="+".join(flare.kinds),
        flux=round(flare.flux, 4),
    )
    return row


def simulate_stix(
    out,
    n: int,
    *,
    seed: int = 0,
    imaging=None,
    exposure: float = 60.0,
    flux_range: tuple[float, float] = (5.0, 300.0),
    background: float = 0.0,
    max_offset: float = 50.0,
    fractions: dict[str, float] | None = None,
    workers: int = 1,
    overwrite: bool = False,
) -> Path:
    """Simulated STIX observations: ``n`` random flares (1–4 sources, balanced by count),
    visibilities on the real STIX (u, v) coverage shipped with xrayvision with count noise,
    BP and CLEAN with xrayvision. Writes ``OUT/<split>/<id>_{bp,clean,truth,truth_beam}.fits``
    and ``OUT/manifest.csv`` (columns split, id, bp, clean, truth, truth_beam, n_sources,
    multiplicity, kinds, flux). The result depends only on ``seed`` and the settings, not on
    ``workers``."""
    from astroi2i.sources import stix

    out = Path(out)
    require_empty_folder(out, overwrite=overwrite)
    if n < 1:
        raise InputError(f"--n must be ≥ 1, got {n}")
    if exposure <= 0:
        raise InputError(f"--exposure must be > 0 s, got {exposure}")
    if not 0 < flux_range[0] <= flux_range[1]:
        raise InputError(f"--flux range must be 0 < min ≤ max, got {flux_range}")
    if imaging is None or isinstance(imaging, dict):  # the CLI's options, or the defaults
        imaging = stix.StixImaging(**(imaging or {}))
    if not (0 < imaging.gain <= 1 and imaging.niter >= 1 and imaging.threshold >= 0):
        raise InputError(
            f"CLEAN needs 0 < --gain ≤ 1, --niter ≥ 1 and --clean-threshold ≥ 0; got "
            f"{imaging.gain:g}, {imaging.niter}, {imaging.threshold:g}"
        )
    try:
        coverage = stix.real_stix_visibilities()
    except ImportError as err:
        raise InputError(
            "simulate stix needs xrayvision: pip install 'astroi2i[stix]' (PyPI xrayvisim)"
        ) from err
    coverage = replace(coverage, center=(0.0, 0.0))
    counts = np.arange(n) % 4 + 1  # balanced by number of sources
    np.random.default_rng(seed).shuffle(counts)
    names = [f"stix{i:05d}" for i in range(n)]
    splits = assign_splits(names, fractions or {"train": 0.8, "val": 0.1, "test": 0.1}, seed=seed)
    settings = {
        "seed": seed,
        "exposure": float(exposure),
        "flux_range": tuple(float(f) for f in flux_range),
        "background": float(background),
        "offset": float(max_offset),
    }
    tasks = [
        {
            "index": i,
            "id": names[i],
            "split": splits[i],
            "n_sources": int(counts[i]),
            "imaging": imaging,
            "coverage": coverage,
            "settings": settings,
            "out": str(out),
            "overwrite": overwrite,
        }
        for i in range(n)
    ]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            rows = list(pool.map(_stix_sample, tasks, chunksize=8))
    else:
        rows = [_stix_sample(t) for t in tasks]
    return write_manifest(rows, out / "manifest.csv", overwrite=True)


# --- inpainting -------------------------------------------------------------------------------
