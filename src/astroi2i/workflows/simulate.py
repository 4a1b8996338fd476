"""``astroi2i simulate``: training data with a manifest.

``survey-pair``: LR/HR pairs from sharp FITS images through the physical degradation simulator
(:mod:`astroi2i.sources.degrade`), or GalSim stamps of a survey pair. ``coronagraph`` and
``holes``: inpainting training scenes and test images with missing blocks. (``stix`` is
:mod:`astroi2i.workflows.simulate_stix`.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, write_image
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.manifest import write_manifest
from astroi2i.sky.regions import assign_splits
from astroi2i.sources.degrade import Degradation, degrade

__all__ = [
    "simulate_survey_pair",
    "simulate_pairs",
    "simulate_coronagraph",
    "simulate_holes",
    "simulate_galaxy_survey_pair",
]

#: survey pairs ``simulate survey-pair --preset`` knows: (domain A, domain B) and what a stamp
#: holds (one galaxy for two-way translation, a field of galaxies and stars for super-resolution)
PRESETS = {
    "sdss-cfht": ("SDSS", "CFHT", "galaxy"),
    "splus-legacy": ("SPLUS", "LEGACY", "field"),
}


def simulate_pairs(
    images: list,
    out,
    degradation: Degradation,
    *,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write ``OUT/<split>/<name>_lr.fits`` and ``_hr.fits`` for every input image and a
    manifest with columns split, id, lr, hr. Splits are dealt per input file (seeded), so
    every image is entirely in one split."""
    out = Path(out)
    require_empty_folder(out, overwrite=overwrite)
    if degradation.factor < 1:
        raise InputError(f"--factor must be ≥ 1, got {degradation.factor}")
    psfs = (degradation.psf_in_fwhm, degradation.psf_out_fwhm)
    if degradation.depth_ratio is not None and min(psfs) <= 0:
        raise InputError(f"--depth-ratio needs --psf-in and --psf-out > 0, got {psfs}")
    paths = [Path(str(p)) for p in images]
    names = [p.name.split(".")[0] for p in paths]
    if len(set(names)) != len(names):
        raise InputError("input images must have distinct file names (they become sample ids)")
    splits = assign_splits(names, fractions or {"train": 0.8, "val": 0.1, "test": 0.1}, seed=seed)
    loaded = [read_image(p) for p in paths]  # all inputs are checked before anything is written
    rows = []
    for i, (name, image, split) in enumerate(zip(names, loaded, splits)):
        low, high = degrade(image, degradation, seed=seed + i)
        provenance = {
            "task": "simulate survey-pair",
            "source": paths[i].name,
            "degradation": repr(degradation).replace("\n", " ")[:300],
        }
        row = {"split": split, "id": name}
        for column, img in (("lr", low), ("hr", high)):
            path = out / split / f"{name}_{column}.fits"
            write_image(
                img.replace(bands=(column,) * img.n_bands if img.n_bands == 1 else img.bands),
                path,
                provenance=provenance,
                overwrite=overwrite,
            )
            row[column] = str(path.relative_to(out))
        rows.append(row)
    return write_manifest(rows, out / "manifest.csv", overwrite=True)


def simulate_survey_pair(
    images: list,
    out,
    *,
    preset: str | None = None,
    psf_file=None,
    stamps: dict | None = None,
    degradation: dict | None = None,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """``simulate survey-pair``: sharp ``images`` degraded by a :class:`Degradation` built from
    ``degradation`` (its keyword arguments; ``psf_file`` a PSF image as the kernel), or, with
    ``preset``, GalSim stamps of a survey pair (``stamps``: the keyword arguments of
    :func:`simulate_galaxy_survey_pair`). Options of the other kind are an error, not ignored."""
    stamps, degradation = stamps or {}, degradation or {}
    if preset is not None:
        if images:
            raise InputError(f"{images[0]}: --preset simulates its own galaxies; give no images")
        if degradation or psf_file:
            name = next(iter(degradation), "psf_file")
            raise InputError(f"{name}: a degradation option; --preset {preset} sets its own")
        return simulate_galaxy_survey_pair(out, preset=preset, seed=seed, overwrite=overwrite,
                                           **stamps)  # fmt: skip
    if not images:
        raise InputError("simulate survey-pair: give sharp FITS images, or --preset")
    if stamps:
        raise InputError(f"--{next(iter(stamps))}: only with --preset (stamp counts)")
    kernel = read_image(psf_file).data[0] if psf_file else None
    return simulate_pairs(images, out, Degradation(psf_kernel=kernel, **degradation),
                          fractions=fractions, seed=seed, overwrite=overwrite)  # fmt: skip


def simulate_galaxy_survey_pair(
    out,
    *,
    preset: str = "sdss-cfht",
    paired: int = 300,
    unpaired: int | None = None,
    val: int | None = None,
    test: int = 60,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Galaxy stamps seen by two surveys (GalSim; :mod:`astroi2i.sources.galaxy_stamps`):
    ``paired`` training stamps seen by both, ``unpaired`` more seen by only one survey (per
    survey; default 300 for ``sdss-cfht``, 0 for ``splus-legacy``), and ``val``/``test``
    paired stamps (``val`` default 60 for ``sdss-cfht``, whose validation pairs choose a
    two-way model's finish by the median of 60 galaxies' flux errors, as it is scored on the
    test pairs; 20 for ``splus-legacy``). Returns the manifest path (columns split, id, one
    per survey — sdss, cfht or splus, legacy —, kind, r_mag; the other survey's cell of an
    unpaired row is empty)."""
    from astroi2i.sources import galaxy_stamps

    try:
        import galsim  # noqa: F401
    except ImportError:
        raise InputError(
            "--preset: simulating galaxy stamps needs GalSim: pip install 'astroi2i[sim]'"
        ) from None
    if preset not in PRESETS:
        raise InputError(f"--preset {preset}: unknown; known: {', '.join(PRESETS)}")
    a, b, content = PRESETS[preset]
    if unpaired is None:
        unpaired = 300 if content == "galaxy" else 0
    if val is None:
        val = 60 if content == "galaxy" else 20
    counts = {"--paired": paired, "--unpaired": unpaired, "--val": val, "--test": test}
    for flag, n in counts.items():
        if n < 0:
            raise InputError(f"{flag}: must be ≥ 0, got {n}")
    if paired + unpaired == 0:
        raise InputError("--paired/--unpaired: no training galaxies requested")
    out = Path(out)
    require_empty_folder(out, overwrite=overwrite)
    splits = {k: n for k, n in (("train", paired), ("val", val), ("test", test)) if n}
    return galaxy_stamps.simulate_galaxy_pairs(
        out, paired=splits, unpaired=unpaired, seed=seed, a=getattr(galaxy_stamps, a),
        b=getattr(galaxy_stamps, b), fields=content == "field", preset=preset,
    )  # fmt: skip


def simulate_coronagraph(
    out,
    n: int,
    *,
    size: int = 256,
    seed: int = 0,
    fractions: dict[str, float] | None = None,
    overwrite: bool = False,
) -> Path:
    """``n`` synthetic LASCO C3-like scenes (:mod:`astroi2i.sources.coronagraph`) as
    ``OUT/<split>/<id>.fits`` (DN/s, NaN on the occulter, pylon and outside the field stop, a
    helioprojective grid) and ``OUT/manifest.csv`` with the column ``image``."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from astroi2i.io.image import SkyImage
    from astroi2i.sources.coronagraph import coronagraph_scene

    out = Path(out)
    require_empty_folder(out, overwrite=overwrite)
    if n < 1 or size < 64:
        raise InputError(f"--n must be ≥ 1 and --size ≥ 64, got {n} and {size}")
    names = [f"scene{i:05d}" for i in range(n)]
    splits = assign_splits(names, fractions or {"train": 0.8, "val": 0.1, "test": 0.1}, seed=seed)
    arcsec = 30 * 959.63 / (0.47 * size)  # the field stop at 30 R☉
    rows = []
    for i, (name, split) in enumerate(zip(names, splits)):
        image, _ = coronagraph_scene(np.random.default_rng([seed, i]), size)
        wcs = WCS(naxis=2)
        wcs.wcs.ctype, wcs.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
        wcs.wcs.crpix, wcs.wcs.cdelt = [(size + 1) / 2] * 2, [arcsec, arcsec]
        header = fits.Header(
            {"TELESCOP": "SOHO", "INSTRUME": "LASCO", "DETECTOR": "C3 (synthetic)"}
        )
        sky = SkyImage(image[None], wcs, "DN / s", bands=("image",), header=header)
        path = out / split / f"{name}.fits"
        write_image(sky, path, provenance={"task": "simulate coronagraph"}, overwrite=overwrite)
        rows.append({"split": split, "id": name, "image": str(path.relative_to(out))})
    return write_manifest(rows, out / "manifest.csv", overwrite=True)


def simulate_holes(
    images: list,
    out,
    *,
    block: int = 32,
    max_blocks: int = 4,
    max_size: int = 3,
    zeros: bool = False,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Cut random 32n×32n blocks (on the 32-pixel grid) out of each image, for scoring
    inpainting on images kept out of training. Writes ``OUT/damaged/<name>.fits`` (the hole set
    to NaN, or to exact zeros with ``zeros``, like lost telemetry), ``OUT/holes/<name>.fits``
    (1 = removed where the image had data: the pixels to score) and ``OUT/truth/<name>.fits``
    (the image as it was)."""
    from astroi2i.sky.masks import random_blocks

    out = Path(out)
    require_empty_folder(out, overwrite=overwrite)
    loaded = [(Path(str(p)), read_image(p)) for p in images]
    names = [p.name.split(".")[0] for p, _ in loaded]
    if len(set(names)) != len(names):
        raise InputError("input images must have distinct file names")
    for i, ((path, image), name) in enumerate(zip(loaded, names)):
        rng = np.random.default_rng([seed, i])
        blocks = random_blocks(
            image.shape, rng, block=block, max_blocks=max_blocks, max_size=max_size
        )
        hole = blocks & ~image.pixel_mask  # what can be scored
        damaged = image.data.copy()
        damaged[:, blocks] = 0.0 if zeros else np.nan  # whole blocks, as telemetry is lost
        provenance = {"task": "simulate holes", "source": path.name, "block": block}
        write_image(image, out / "truth" / f"{name}.fits", provenance=provenance)
        write_image(
            image.replace(
                data=damaged, mask=image.mask & ~blocks if zeros else image.mask | blocks
            ),
            out / "damaged" / f"{name}.fits",
            provenance=provenance,
        )
        flags = image.replace(data=hole[None].astype(np.float32), mask=np.zeros_like(hole))
        write_image(flags.replace(unit="", bands=("hole",)), out / "holes" / f"{name}.fits")
    return out
