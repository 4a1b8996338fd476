"""FITS in, FITS out: :func:`read_image` turns any image HDU into a SkyImage, and
:func:`write_image` writes one with a fresh, verified header and provenance."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from astroi2i.errors import InputError
from astroi2i.io.bands import _band_names, band_labels, header_band_labels
from astroi2i.io.image import SkyImage, unit_to_string
from astroi2i.io.units import unit_of
from astroi2i.io.wcs_keys import check_wcs_keys

__all__ = [
    "read_image",
    "write_image",
    "image_hdus",
    "require_valid_pixels",
    "header_band_labels",
    "band_labels",
    "sky_metadata",
    "OBSERVATION_KEYS",
    "OBSERVATION_CONTEXT_KEYS",
    "PROCESSING_KEYS",
]

log = logging.getLogger(__name__)

#: Where and when an observation was made: true of the data and of any prediction made from it
#: (helioprojective WCS needs the observer position).
OBSERVATION_CONTEXT_KEYS = (
    "OBJECT", "DATE-OBS", "DATE_OBS", "DATE-END", "MJD-OBS",
    "DSUN_OBS", "HGLN_OBS", "HGLT_OBS", "CRLN_OBS", "CRLT_OBS", "RSUN_REF", "RSUN_OBS",
    "OBSGEO-X", "OBSGEO-Y", "OBSGEO-Z",
)  # fmt: skip

#: Observation keywords carried from an input header into a written file. Everything else
#: (in particular stale CD/PC/SIP/distortion keys) is rebuilt from the WCS or dropped.
OBSERVATION_KEYS = (
    "TELESCOP", "INSTRUME", "DETECTOR", "FILTER", "OBSERVER", "SURVEY",
    "EXPTIME", "XPOSURE", "EXPOSURE", "WAVELNTH", "WAVEUNIT", "OBSRVTRY", "ENERGY_L", "ENERGY_H",
    *OBSERVATION_CONTEXT_KEYS,
)  # fmt: skip

#: Keywords that say how the pixels were made and stay true while only the grid is copied or
#: cropped: the depth of a STIX CLEAN (:func:`astroi2i.workflows.simulate_stix.clean_cards`).
PROCESSING_KEYS = ("CLNITER", "CLNNMAX", "CLNGAIN", "CLNTHRSH", "CLNNOISE", "CLNCONV")


_WARNED: set[tuple[str, str]] = set()


def _warn_once(source, message: str, *args) -> None:
    """Log a warning about a file once per process: a file read at every validation (or
    every tile) would otherwise repeat the same line hundreds of times."""
    key = (str(source), message % args if args else message)
    if key not in _WARNED:
        _WARNED.add(key)
        log.warning("%s: " + message, source, *args)


def _fail(source, problem: str) -> InputError:
    return InputError(f"{source}: {problem}")


def image_hdus(hdul: fits.HDUList) -> list[int]:
    """Indices of the HDUs that hold an image of at least two dimensions (the ``MASK`` and
    ``UNCERT`` extensions next to another image, as astroi2i and CCDData write them, are
    not: they describe that image)."""
    found = []
    for i, hdu in enumerate(hdul):
        if hdu.name in ("WCSDVARR", "D2IMARR"):  # distortion look-up tables belong to the WCS
            continue
        if hdu.name in ("MASK", "UNCERT") and i > 0:  # describe the image before them
            continue
        if isinstance(hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
            if hdu.header.get("NAXIS", 0) >= 2 or isinstance(hdu, fits.CompImageHDU):
                if hdu.shape and len(hdu.shape) >= 2:
                    found.append(i)
    return found


def _describe(hdul: fits.HDUList, indices: list[int]) -> str:
    return ", ".join(
        f"{i} ({hdul[i].name or 'PRIMARY'}, {'×'.join(map(str, hdul[i].shape))})" for i in indices
    )


def _select_hdu(hdul: fits.HDUList, hdu, source) -> int:
    candidates = image_hdus(hdul)
    if hdu is None:
        if not candidates:
            raise _fail(source, f"no image HDU (HDUs: {[h.name for h in hdul]})")
        if len(candidates) > 1:
            raise _fail(
                source,
                f"{len(candidates)} image HDUs, which one is meant is ambiguous: "
                f"{_describe(hdul, candidates)}; name one with path:HDU",
            )
        return candidates[0]
    try:
        index = hdul.index_of(int(hdu) if str(hdu).lstrip("-").isdigit() else hdu)
    except (KeyError, IndexError):
        raise _fail(
            source, f"has no HDU {hdu!r} (image HDUs: {_describe(hdul, candidates)})"
        ) from None
    if index not in candidates:
        raise _fail(
            source, f"HDU {hdu!r} is not an image (image HDUs: {_describe(hdul, candidates)})"
        )
    return index


def _parse_unit(text: str, source) -> u.UnitBase | str:
    unit = unit_of(text)
    if isinstance(unit, str):
        _warn_once(source, "BUNIT %r is not a unit astropy understands; kept as text", unit)
    return unit


def _celestial_wcs(header: fits.Header, hdul, source) -> WCS | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(header, fobj=hdul, relax=True)
        except Exception as exc:  # noqa: BLE001 - any WCS failure means "no usable WCS"
            _warn_once(source, "WCS could not be parsed (%s); reading without WCS", exc)
            return None
    if not wcs.has_celestial:
        _warn_once(source, "no celestial WCS; pixels are read without sky coordinates")
        return None
    if sorted((wcs.wcs.lng, wcs.wcs.lat)) != [0, 1]:
        _warn_once(source, "celestial axes are not the image axes; reading without WCS")
        return None
    return wcs if wcs.naxis == 2 else wcs.celestial


def sky_metadata(header: fits.Header, hdul, shape: tuple[int, int], source):
    """``(header, wcs, unit)`` of an image HDU: a solar header as sunpy's instrument sources
    fix it (:func:`astroi2i.io.solar.solar_view`), unless it already states everything sunpy
    would derive; any other as astropy reads it."""
    from astroi2i.io.solar import is_solar, solar_view, states_everything

    check_wcs_keys(header, source)
    needs_sunpy = is_solar(header) and not states_everything(header)
    fixed = solar_view(header, shape, source) if needs_sunpy else None
    if fixed is None:
        return header, _celestial_wcs(header, hdul, source), _parse_unit(
            str(header.get("BUNIT", "")), source)  # fmt: skip
    header, wcs, unit = fixed
    text = str(header.get("BUNIT", "")).strip()
    if unit is None or _same_unit(text, unit):  # keep the spelling the file uses
        return header, wcs, _parse_unit(text, source)
    header["BUNIT"] = unit_to_string(unit)  # e.g. 'counts / pixel', which sunpy knows
    return header, wcs, unit


def _same_unit(text: str, unit) -> bool:
    return unit_of(text) == unit


def _from_hdu(hdu, hdul, source, bands) -> SkyImage:
    header = hdu.header.copy()
    raw = hdu.data
    if raw is None:
        raise _fail(source, "image HDU has no data")
    data = np.asarray(raw)
    invalid = None
    blank = header.get("BLANK")
    if blank is not None and np.issubdtype(data.dtype, np.integer):
        invalid = data == blank
    while data.ndim > 3 and data.shape[0] == 1:  # degenerate leading (Stokes/frequency) axes
        data = data[0]
        invalid = None if invalid is None else invalid[0]
    if data.ndim not in (2, 3):
        raise _fail(source, f"image has {data.ndim} non-degenerate axes; 2 or 3 are supported")
    with np.errstate(over="ignore"):
        data = data.astype(np.float32)  # native byte order, float32
    n_inf = int(np.isinf(data).sum())
    if n_inf:
        log.warning(
            "%s: %d pixel(s) are infinite (or beyond float32's range); they are treated as "
            "invalid, like NaN", source, n_inf,
        )  # fmt: skip
    if data.ndim == 2:
        data = data[None]
        invalid = None if invalid is None else invalid[None]
    mask = ~np.isfinite(data)
    if invalid is not None:
        mask |= invalid
        data[invalid] = np.nan
    mask = mask[0] if mask.shape[0] == 1 else mask
    header, wcs, unit = sky_metadata(header, hdul, data.shape[-2:], source)
    names = _band_names(header, data.shape[0], source, bands)
    return SkyImage(data, wcs, unit, mask, names, header)


def resolve_path(source, hdu=None) -> tuple[Path, object]:
    """(path, hdu) from ``path`` or ``path:HDU``; raises for a missing file or a folder."""
    path = Path(source)
    if hdu is None and not path.exists():
        head, sep, tail = str(source).rpartition(":")
        if sep and head and tail and Path(head).exists():
            path, hdu = Path(head), tail
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise _fail(path, "is a folder, not a FITS file")
    return path, hdu


def read_image(source, hdu=None, bands=None) -> SkyImage:
    """Read an image HDU into a :class:`~astroi2i.sky.SkyImage`.

    Parameters
    ----------
    source : str, Path, HDUList, image HDU, SkyImage or (array, WCS)
        A path may carry the HDU as ``path:HDU`` (index or EXTNAME) when ``hdu`` is None.
    hdu : int or str, optional
        Which HDU. Needed only when the file holds more than one image HDU.
    bands : sequence of str, optional
        Band names; by default ``BAND1..n`` keys, else FILTER or the file name.

    Returns
    -------
    SkyImage
        float32 (C, H, W) in native byte order; BZERO/BSCALE applied; NaN and BLANK masked; a
        3-D cube gives C bands; BUNIT parsed (kept as text with a logged warning if unknown).

    Raises
    ------
    InputError
        Not FITS, truncated, no image HDU, an ambiguous or missing HDU, or >3 real axes.
    """
    if isinstance(source, SkyImage):
        return source
    if isinstance(source, tuple) and len(source) == 2:
        array, wcs = source
        return SkyImage(np.asarray(array, np.float32), wcs, bands=tuple(bands or ()))
    if isinstance(source, fits.HDUList):
        index = _select_hdu(source, hdu, "HDUList")
        return _from_hdu(source[index], source, "HDUList", bands)
    if isinstance(source, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
        return _from_hdu(source, None, source.name or "HDU", bands)
    path, hdu = resolve_path(source, hdu)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with fits.open(path, memmap=False) as hdul:
                index = _select_hdu(hdul, hdu, path)
                image = _from_hdu(hdul[index], hdul, path, bands)
        except InputError:
            raise
        except (OSError, ValueError, TypeError, IndexError) as exc:
            if "reshape" in str(exc) or "truncated" in str(exc).lower():
                raise _fail(
                    path, "FITS file is truncated (data shorter than the header says)"
                ) from None
            raise _fail(path, f"not a readable FITS file ({exc})") from None
    for w in caught:
        if "truncated" in str(w.message).lower():
            raise _fail(path, "FITS file is truncated (data shorter than the header says)")
    return image


def require_valid_pixels(image: SkyImage, source) -> None:
    """Raise InputError when a band has no valid pixel at all."""
    for c, band in enumerate(image.bands):
        if image.band_mask[c].all():
            raise _fail(source, f"band {band!r} has no valid pixel (all NaN, BLANK or masked)")


def fresh_header(image: SkyImage, provenance) -> fits.Header:
    """The header :func:`write_image` writes for ``image`` (its data are not used): WCS, BUNIT,
    whitelisted observation keys, band names, ORIGIN/DATE and HISTORY provenance."""
    return fits.Header([c if isinstance(c, fits.Card) else fits.Card(*c)
                        for c in fresh_cards(image, provenance)])  # fmt: skip


def fresh_cards(image: SkyImage, provenance) -> list:
    """:func:`fresh_header`'s cards in order: the WCS's as astropy's ``Card`` objects, the
    others as ``(keyword, value, comment)`` (rendered through a cache by the row writer: a
    card built key by key costs ~50 µs in astropy, a good part of a small file's translation)."""
    cards: list = []
    if image.wcs is not None:  # a new header: start from it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            cards = list(image.wcs.to_header(relax=True).cards)
    taken = {card.keyword for card in cards}  # the WCS's own (e.g. DATE-OBS) are not repeated
    unit = unit_to_string(image.unit)
    original = str(image.header.get("BUNIT", "")).strip()
    if original and original != unit and _parse_unit(original, "header") == image.unit:
        unit = original  # the same unit: keep the spelling the data came with
    if unit:
        cards.append(("BUNIT", unit, "physical unit of the pixel values"))
    for key in OBSERVATION_KEYS + PROCESSING_KEYS:
        if key in image.header and key not in taken:
            value = image.header[key]
            if isinstance(value, float) and not np.isfinite(value):
                continue
            if isinstance(value, str | int | float | bool):
                cards.append((key, value, image.header.comments[key]))
    cards += [(f"BAND{i + 1}", band, f"name of band {i + 1}") for i, band in enumerate(image.bands)]
    from astroi2i import __version__

    cards.append(("ORIGIN", f"astroi2i {__version__}", None))
    cards.append(("DATE", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "file written (UTC)"))
    if isinstance(provenance, Mapping):
        items = [f"{k}: {v}" for k, v in provenance.items()]
    else:
        items = [str(p) for p in (provenance or ())]
    for item in [f"written by astroi2i {__version__}", *map(_ascii, items)]:
        # 72 characters a card (80 less the keyword field), as astropy splits a long HISTORY
        cards += [("HISTORY", item[i : i + 72], None) for i in range(0, max(len(item), 1), 72)]
    return cards


_ASCII = str.maketrans(
    {
        "²": "^2",
        "³": "^3",
        "×": "x",
        "″": '"',
        "′": "'",
        "→": "->",
        "≤": "<=",
        "≥": ">=",
        "σ": "sigma",
        "⊗": "(x)",
        "–": "-",
        "—": "-",
        "·": "*",
    }
)


def _ascii(text: str) -> str:
    """FITS cards hold printable ASCII only: common symbols are spelled out, accents dropped."""
    import unicodedata

    text = unicodedata.normalize("NFKD", str(text).translate(_ASCII))
    return "".join(c for c in text if 32 <= ord(c) < 127)


def _context(header: fits.Header) -> fits.Header:
    """An extension's copy of the image's sky and observation keys (sunpy reads every HDU
    as a map of its own)."""
    skip = {"SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "EXTEND", "HISTORY",
            "COMMENT", ""}  # fmt: skip
    return fits.Header([card for card in header.cards if card.keyword not in skip])


def write_image(
    image: SkyImage,
    path,
    *,
    provenance: Mapping[str, object] | Sequence[str] | None = None,
    overwrite: bool = False,
    mask_extension: bool = False,
) -> Path:
    """Write a SkyImage as FITS with a fresh header.

    The header is built from the WCS (``to_header(relax=True)``), BUNIT, a whitelist of
    observation keys (:data:`OBSERVATION_KEYS`), band names (``BANDn``) and HISTORY cards with
    ``provenance``. Invalid pixels are written as NaN. The file is verified, written to a
    temporary name and renamed, so a failure never leaves a partial file.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists; pass overwrite=True (--overwrite) to replace it")
    data = image.data.copy()
    data[image.band_mask] = np.nan
    header = fresh_header(image, provenance)
    primary = fits.PrimaryHDU(data[0] if image.n_bands == 1 else data, header=header)
    hdus = [primary]
    if image.uncertainty is not None:  # CCDData's convention: σ in the image's unit
        sigma = image.uncertainty[0] if image.n_bands == 1 else image.uncertainty
        ext = fits.ImageHDU(sigma, header=_context(header), name="UNCERT")
        ext.header["UTYPE"] = ("StdDevUncertainty", "astropy.nddata uncertainty class")
        hdus.append(ext)
    if mask_extension:
        # a 0/1 flag image (BITPIX 8, the FITS convention for masks), not pixel values
        flags = np.asarray(image.band_mask, dtype=np.uint8)
        hdus.append(fits.ImageHDU(flags[0] if image.mask.ndim == 2 else flags, name="MASK"))
    hdul = fits.HDUList(hdus)
    hdul.verify("exception")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        hdul.writeto(tmp, overwrite=True, checksum=True)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
