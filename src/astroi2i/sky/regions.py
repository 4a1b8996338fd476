"""Train/val/test splits by sky region, so that no object (and no overlapping stamp) appears
in two splits: stamps are grouped into HEALPix cells of about ``region_deg`` on the sky, and
whole cells are dealt to the splits."""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["sky_cells", "assign_splits"]


def sky_cells(ra_deg: np.ndarray, dec_deg: np.ndarray, region_deg: float) -> np.ndarray:
    """Nested HEALPix index (ICRS) of each position, at the smallest order whose cells are
    still at least ``region_deg`` across."""
    import astropy.units as u
    from astropy_healpix import HEALPix

    nside = 1
    while HEALPix(nside=nside * 2).pixel_resolution.to_value(u.deg) >= region_deg and nside < 2**29:
        nside *= 2
    grid = HEALPix(nside=nside, order="nested")
    return np.asarray(grid.lonlat_to_healpix(ra_deg * u.deg, dec_deg * u.deg), np.int64)


def _rank(key: str, seed: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "big")


def assign_splits(cells: list[str], fractions: dict[str, float], *, seed: int = 0) -> list[str]:
    """A split name for each stamp, given the region (cell) of each stamp.

    Cells are put in a seeded pseudo-random order and dealt out so that each split receives
    about its fraction of the *stamps*; every stamp of a cell gets the same split.
    """
    total = sum(fractions.values())
    if total <= 0 or any(f < 0 for f in fractions.values()):
        raise ValueError(f"split fractions must be ≥ 0 and not all 0, got {fractions}")
    names = list(fractions)
    bounds = np.cumsum([fractions[n] / total for n in names])
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell] = counts.get(cell, 0) + 1
    order = sorted(counts, key=lambda c: _rank(c, seed))
    split_of, done = {}, 0
    for cell in order:
        centre = (done + counts[cell] / 2) / len(cells)  # where the cell's stamps sit
        split_of[cell] = names[min(int(np.searchsorted(bounds, centre)), len(names) - 1)]
        done += counts[cell]
    return [split_of[c] for c in cells]
