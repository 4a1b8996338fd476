"""BUNIT texts as astropy units: one parse (cached) for every reader, each band's unit as its
file spells it, and the comparison that ``translate``, ``evaluate`` and the training data use
to refuse data in another unit."""

from __future__ import annotations

import functools
import warnings

import astropy.units as u

from astroi2i.io.image import unit_to_string

__all__ = ["unit_of", "unit_mismatch", "band_units"]


def band_units(images) -> tuple[str, ...]:
    """One unit string per band of ``images`` (SkyImages or open image sources), as each
    file's BUNIT spells it (else the unit it was read with; ``""`` for none)."""
    return tuple(
        str(image.header.get("BUNIT", "")).strip() or unit_to_string(image.unit)
        for image in images
        for _ in image.bands
    )


def unit_of(text: str) -> u.UnitBase | str:
    """The astropy unit a BUNIT text means (FITS syntax first; dimensionless for ``""``), or
    the text itself where astropy does not know it."""
    return _unit_of(text.strip())


def unit_mismatch(given: str, wanted: str) -> str | None:
    """None where two BUNIT texts mean one unit (``nmgy`` and ``nanomaggy``); else the words
    that say they differ, with the conversion factor where astropy knows one."""
    a, b = unit_of(given), unit_of(wanted)
    if a == b or str(a) == str(b):
        return None
    if not isinstance(a, str) and not isinstance(b, str) and a.is_equivalent(b):
        return f"is in {given!r}, not {wanted!r} (1 {given} = {a.to(b):.6g} {wanted})"
    return f"is in {given!r}, not {wanted!r}"


@functools.lru_cache(maxsize=256)
def _unit_of(text: str) -> u.UnitBase | str:
    """The unit a BUNIT text means (FITS syntax first), or the text itself. Cached: a failed
    parse costs ~2 ms in astropy's spelling suggestions, for every file of a batch."""
    if not text:
        return u.dimensionless_unscaled
    for fmt in ("fits", None):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return u.Unit(text, format=fmt, parse_strict="raise")
        except (ValueError, TypeError):
            continue
    return text
