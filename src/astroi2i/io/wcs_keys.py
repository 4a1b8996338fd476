"""The WCS keywords of a header, checked before astropy reads them: astropy fills what is
missing or unreadable with defaults (CRVAL 0, CRPIX 0, CDELT 1 degree), which gives a sky
position made of defaults instead of an error. Both checks here refuse such a header with a
one-line :class:`~astroi2i.errors.InputError` naming the file and the keyword."""

from __future__ import annotations

import re

import numpy as np
from astropy.io import fits

from astroi2i.errors import InputError

__all__ = ["check_wcs_keys", "SKY_AXES", "SOLAR_AXES"]

#: longitude → latitude axis names (CTYPE's first four characters, less the padding) of the
#: sky's frames (equatorial, Galactic, ecliptic, supergalactic) and the Sun's
#: (helioprojective, heliographic Stonyhurst and Carrington)
SKY_AXES = {"RA": "DEC", "GLON": "GLAT", "ELON": "ELAT", "SLON": "SLAT"}
SOLAR_AXES = {"HPLN": "HPLT", "HGLN": "HGLT", "CRLN": "CRLT"}

#: numeric WCS keywords: a NaN or unparsable value in one of them makes astropy fall back to a
#: default (CRVAL 0, CDELT 1), a silently wrong sky position
_WCS_NUMBER = re.compile(
    r"^(CRVAL|CRPIX|CDELT|CROTA)\d$|^(CD|PC)\d_\d$|^(LONPOLE|LATPOLE|EQUINOX)$"
)
#: the axis names that make a CTYPE celestial
_CELESTIAL = {name for axes in (SKY_AXES, SOLAR_AXES) for pair in axes.items() for name in pair}


def check_wcs_keys(header: fits.Header, source) -> None:
    """Refuse a header whose WCS astropy would complete with defaults: a numeric WCS keyword
    that is not a finite number, or image axes 1 and 2 that CTYPE declares celestial without
    a reference value (CRVALi), a reference pixel (CRPIXi) or a scale (CDELTi, CDi_j or
    PCi_j)."""
    for card in header.cards:
        if not _WCS_NUMBER.match(card.keyword):
            continue
        try:
            value = card.value
        except fits.VerifyError:
            value = str(card.image[10:]).split("/")[0].strip().strip("'").strip()
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise InputError(
                f"{source}: WCS keyword {card.keyword} is {value!r}, not a finite number; refusing "
                "to read a sky position that astropy would replace with a default"
            )
    for i in (1, 2):
        ctype = str(header.get(f"CTYPE{i}", "")).upper()
        if ctype[:4].rstrip("-") not in _CELESTIAL:
            continue
        scale = [f"CDELT{i}", *(f"{m}{i}_{j}" for m in ("CD", "PC") for j in (1, 2))]
        for needed, default in ((f"CRVAL{i}", "0"), (f"CRPIX{i}", "pixel 0"),
                                (scale, "1 degree per pixel")):  # fmt: skip
            names = needed if isinstance(needed, list) else [needed]
            if not any(name in header for name in names):
                raise InputError(
                    f"{source}: CTYPE{i} = {ctype!r} declares a celestial axis, but the header "
                    f"has no {' or '.join(names[:2])}{' …' if len(names) > 2 else ''}; astropy "
                    f"would assume {default}: refusing to read a sky position made of defaults"
                )
