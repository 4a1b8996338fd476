"""What a file's header says its bands are, and the names they get."""

from __future__ import annotations

from pathlib import Path

from astropy.io import fits

from astroi2i.errors import InputError

__all__ = ["header_band_labels", "band_labels"]


#: the third axis of a cube that is a spectral coordinate (FITS WCS paper III)
_SPECTRAL = ("WAVE", "AWAV", "FREQ", "ENER", "WAVN", "VRAD", "VOPT", "ZOPT", "VELO", "BETA")


def header_band_labels(header, n: int) -> tuple[str, ...]:
    """What a file's header says each of its ``n`` bands is: ``BANDn`` keys, else
    ``FILTERn`` keys, else ``FILTER`` for a single band, else a cube's spectral axis
    (``CTYPE3`` WAVE, FREQ …: each plane's coordinate, e.g. ``4770Angstrom``); ``""`` where
    it says nothing. Band names and the band-order check come from here."""
    for prefix in ("BAND", "FILTER"):
        stored = [header.get(f"{prefix}{i + 1}") for i in range(n)]
        if all(isinstance(b, str) and b.strip() for b in stored):
            return tuple(b.strip() for b in stored)
    if n == 1:
        return (str(header.get("FILTER", "") or "").strip(),)
    ctype = str(header.get("CTYPE3", "")).upper()
    if ctype[:4] in _SPECTRAL and all(isinstance(header.get(k), int | float)
                                      for k in ("CRVAL3", "CDELT3")):  # fmt: skip
        crpix, unit = float(header.get("CRPIX3", 1.0)), str(header.get("CUNIT3", "")).strip()
        values = [header["CRVAL3"] + (i + 1 - crpix) * header["CDELT3"] for i in range(n)]
        return tuple(f"{v:.6g}{unit}" for v in values)
    return ("",) * n


def band_labels(images) -> tuple[str, ...]:
    """:func:`header_band_labels` of several images (anything with ``header`` and
    ``n_bands``: SkyImages, open sources), band after band."""
    return tuple(b for im in images for b in header_band_labels(im.header, im.n_bands))


def _band_names(header: fits.Header, n: int, source, bands) -> tuple[str, ...]:
    if bands is not None:
        bands = tuple(bands)
        if len(bands) != n:
            raise InputError(f"{source}: {len(bands)} band names given for {n} channels")
        return bands
    labels = header_band_labels(header, n)
    if all(labels):
        return labels
    stem = Path(str(source)).name.split(".")[0] if isinstance(source, str | Path) else "band"
    base = str(header.get("FILTER", "") or stem).strip()
    return (base,) if n == 1 else tuple(f"{base}_{i}" for i in range(n))
