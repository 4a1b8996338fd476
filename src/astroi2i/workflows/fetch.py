"""``astroi2i fetch``: HiPS cutouts of N surveys for a list of targets, every survey on the same
TAN grid per target, written as FITS with a manifest ready for ``train``.

Finished cutouts are kept in ``OUT/cutouts/<target>/<survey>.fits`` and skipped on the next run,
so an interrupted acquisition resumes where it stopped. A target whose cutouts cannot all be
had is reported and left out of the manifest; the run goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, write_image
from astroi2i.io.manifest import write_manifest
from astroi2i.sky.regions import assign_splits, sky_cells
from astroi2i.sources.hips import FetchError, HipsClient, Target, safe_name, target_wcs

__all__ = ["fetch", "fetch_targets", "FetchResult", "parse_surveys"]

log = logging.getLogger(__name__)


@dataclass
class FetchResult:
    manifest: Path
    downloaded: int = 0
    cached: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # target → reason
    complete: int = 0


def parse_surveys(items: list[str]) -> dict[str, str]:
    """``["dss2=CDS/P/DSS2/red", …]`` → {column name: HiPS id}."""
    out = {}
    for item in items:
        name, sep, hips = item.partition("=")
        if not sep or not name or not hips:
            raise InputError(f"--survey {item!r}: expected NAME=HIPS_ID, e.g. dss2=CDS/P/DSS2/red")
        out[name] = hips
    return out


def _valid(path: Path) -> bool:
    try:
        read_image(path)
        return True
    except (InputError, OSError, ValueError):
        return False


def _save(hdul: fits.HDUList, target: Target, name: str, hips: str, server: str, path: Path):
    image = read_image(hdul)
    header = image.header.copy()
    header["OBJECT"] = target.name
    header["SURVEY"] = hips
    image = image.replace(header=header, bands=(name,))
    write_image(
        image,
        path,
        overwrite=True,
        provenance={
            "task": "fetch",
            "hips": hips,
            "service": server,
            "grid": f"TAN at ({target.ra:.6f}, {target.dec:.6f}) deg, fov {target.fov_deg:.5f}",
        },
    )


def fetch_targets(
    surveys: dict[str, str],
    out,
    *,
    targets_csv=None,
    ngc: list[str] | None = None,
    limit: int | None = None,
    client_options: dict | None = None,
    **options,
) -> tuple[list[Target], FetchResult]:
    """``astroi2i fetch``: the targets of a CSV (``targets_csv``) or of OpenNGC (``ngc``: names,
    or every NGC object), at most ``limit``, fetched through a :class:`HipsClient` made with
    ``client_options``; ``options`` go to :func:`fetch`. Returns (targets, result)."""
    from astroi2i.sources.hips import ngc_targets, read_targets

    if targets_csv is not None:
        targets = read_targets(targets_csv)[:limit]
    else:
        targets = ngc_targets(ngc or None, limit=limit)
    client = HipsClient(**(client_options or {}))
    return targets, fetch(targets, surveys, out, client=client, **options)


def fetch(
    targets: list[Target],
    surveys: dict[str, str],
    out,
    *,
    pixels: int = 256,
    client: HipsClient | None = None,
    fractions: dict[str, float] | None = None,
    seed: int = 0,
) -> FetchResult:
    """Fetch every survey for every target; returns counts, failures and the manifest path.

    The manifest has split, id (target name), one column per survey, ra, dec and fov_deg;
    splits are dealt by sky region (HEALPix cells twice the largest field of view).
    """
    if not targets:
        raise InputError("no targets to fetch")
    if not surveys:
        raise InputError("no surveys given (--survey NAME=HIPS_ID …)")
    out = Path(out)
    client = client or HipsClient()
    result = FetchResult(out / "manifest.csv")
    rows = []
    for target in targets:
        folder = out / "cutouts" / safe_name(target.name)
        wcs = target_wcs(target, pixels)
        row = {"id": target.name}
        for name, hips in surveys.items():
            path = folder / f"{safe_name(name)}.fits"
            if path.exists() and _valid(path):
                result.cached += 1
            else:
                try:
                    hdul = client.cutout(hips, wcs)
                    _save(hdul, target, name, hips, client.server, path)
                    result.downloaded += 1
                except (FetchError, InputError) as exc:
                    result.failed[target.name] = str(exc)
                    log.warning("%s: %s", target.name, exc)
                    break
            row[name] = str(path.relative_to(out))
        else:
            row.update(ra=target.ra, dec=target.dec, fov_deg=target.fov_deg)
            rows.append(row)
    result.complete = len(rows)
    if rows:
        region = 2 * max(t.fov_deg for t in targets)
        cells = sky_cells(
            np.array([r["ra"] for r in rows]), np.array([r["dec"] for r in rows]), region
        )
        fractions = fractions or {"train": 0.8, "val": 0.1, "test": 0.1}
        for row, split in zip(rows, assign_splits([str(c) for c in cells], fractions, seed=seed)):
            row["split"] = split
        ordered = [
            {"split": r["split"], **{k: v for k, v in r.items() if k != "split"}} for r in rows
        ]
        write_manifest(ordered, result.manifest, overwrite=True)
    return result
