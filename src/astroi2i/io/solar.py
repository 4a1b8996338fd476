"""Solar FITS headers read the way sunpy reads them.

Many solar archives write headers that plain astropy cannot turn into a sky grid: the old
``CTYPE = 'Solar-X'/'Solar-Y'`` of SOHO/EIT, Hinode or GONG, the observer position spread
over mission-specific keys (``HEC_X``, ``SOLAR_B0`` …), units such as ``counts / pixel``.
sunpy's map sources know each instrument's conventions: :func:`solar_view` hands the header
to ``sunpy.map.Map`` and takes back its helioprojective WCS (with the observer), its unit and
the observation keys it derived, so a SkyImage of a solar file has the WCS and unit sunpy
gives. sunpy is an optional extra: without it a solar header is read as astropy reads it, with
a one-line hint.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from astropy.io import fits

__all__ = ["is_solar", "solar_view", "states_everything", "INSTRUMENT_KEYS"]

log = logging.getLogger(__name__)

#: the keys that say which instrument took an image (sunpy picks its map source by them)
INSTRUMENT_KEYS = ("TELESCOP", "INSTRUME", "DETECTOR", "OBSRVTRY", "WAVELNTH", "WAVEUNIT")

#: helioprojective, heliocentric and the pre-standard solar axis names
_SOLAR_CTYPES = ("HPLN", "HPLT", "SOLAR-X", "SOLAR_X", "SOLAR-Y", "SOLAR_Y", "SOLARX", "SOLARY",
                 "HECR", "SOLX", "SOLY")  # fmt: skip
#: words in TELESCOP/INSTRUME/OBSRVTRY that name a solar mission or instrument
_SOLAR_NAMES = ("SOHO", "SDO", "AIA", "HMI", "EIT", "LASCO", "MDI", "STEREO", "SECCHI", "EUVI",
                "TRACE", "HINODE", "XRT", "SOT", "YOHKOH", "SXT", "SOLAR ORBITER", "SOLO",
                "STIX", "EUI", "PHI", "SUVI", "GOES-R", "GONG", "KCOR", "DKIST", "IRIS", "RHESSI",
                "PROBA2", "SWAP", "NORH")  # fmt: skip


def is_solar(header: fits.Header) -> bool:
    """Whether a header describes a solar image: solar axis types, or a solar instrument."""
    ctypes = " ".join(str(header.get(f"CTYPE{i}", "")).upper() for i in (1, 2))
    if any(name in ctypes for name in _SOLAR_CTYPES):
        return True
    who = " ".join(str(header.get(k, "")).upper() for k in ("TELESCOP", "INSTRUME", "OBSRVTRY"))
    return any(name in who.replace("/", " ").replace("_", " ").split() or
               (" " in name and name in who) for name in _SOLAR_NAMES)  # fmt: skip


def states_everything(header: fits.Header) -> bool:
    """Whether a solar header already states all that sunpy would derive: helioprojective
    axes with units, the observation time, the observer (distance and both angles) and a unit
    astropy parses. Such a header (astroi2i's own outputs and simulations, modern level-1
    files) gives astropy the WCS sunpy builds, so sunpy is not needed to read it."""
    axes = [str(header.get(f"CTYPE{i}", "")).upper() for i in (1, 2)]
    if not (axes[0].startswith("HPLN") and axes[1].startswith("HPLT")):
        return False
    if not all(header.get(f"CUNIT{i}") for i in (1, 2)):
        return False
    if not any(header.get(k) for k in ("DATE-OBS", "DATE_OBS", "DATE-AVG", "DATE-BEG")):
        return False
    angles = ("HGLN_OBS", "HGLT_OBS") if "HGLN_OBS" in header else ("CRLN_OBS", "CRLT_OBS")
    if not all(isinstance(header.get(k), int | float) for k in ("DSUN_OBS", *angles)):
        return False
    text = str(header.get("BUNIT", "")).strip()
    if not text:
        return True
    import astropy.units as u

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            u.Unit(text, format="fits", parse_strict="raise")
        except (ValueError, TypeError):
            return False
    return True


def solar_view(header: fits.Header, shape: tuple[int, int], source):
    """``(header, wcs, unit)`` of a solar header as sunpy's map source for its instrument
    fixes it, or None where sunpy is not installed or cannot read it (then astropy's reading
    applies; a logged line says why). ``header`` comes back with the observer and date keys
    of the fixed WCS and the unit sunpy parsed, so written outputs carry them."""
    try:
        import sunpy.map
    except ImportError:
        log.warning("%s: a solar header; install sunpy (pip install sunpy) so that its "
                    "instrument sources fix the WCS and unit as sunpy.map.Map does",
                    source)  # fmt: skip
        return None
    stub = np.broadcast_to(np.float32(0.0), tuple(shape))  # sunpy needs an array; no memory
    logging.getLogger("sunpy").setLevel(logging.WARNING)  # its INFO lines, for every file
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # read below: what sunpy had to assume
        try:
            smap = sunpy.map.Map(stub, header.copy())
            wcs = smap.wcs
            unit = smap.unit
        except Exception as exc:  # noqa: BLE001 - sunpy raises many kinds for odd headers
            log.warning("%s: sunpy could not read this solar header (%s); read with astropy",
                        source, " ".join(str(exc).split())[:200])  # fmt: skip
            return None
    if not wcs.has_celestial or wcs.pixel_n_dim != 2:
        return None
    _drop_assumptions(wcs, header, [str(w.message) for w in caught])
    fixed = header.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for card in wcs.to_header(relax=True).cards:
            fixed[card.keyword] = (card.value, card.comment)
    return fixed, wcs, unit


def _drop_assumptions(wcs, header: fits.Header, messages: list[str]) -> None:
    """sunpy fills a missing observation time with the current time and a missing observer
    with the Earth: a plausible, silently wrong sky. Such values are removed again, so the
    file says what it said (and an output carries no date the data never had)."""
    said = " ".join(messages).lower()
    if "observation time" in said:
        wcs.wcs.dateobs, wcs.wcs.dateavg = "", ""
        wcs.wcs.mjdobs, wcs.wcs.mjdavg = float("nan"), float("nan")
    if "observer" in said:
        for name in ("dsun_obs", "hgln_obs", "hglt_obs", "crln_obs"):
            setattr(wcs.wcs.aux, name, None)
    # sunpy derives the solar radius from instrument keys where it can, else takes the
    # standard photosphere (695 700 km): only the latter is an assumption
    if "RSUN_REF" not in header and wcs.wcs.aux.rsun_ref == 695700000.0:
        wcs.wcs.aux.rsun_ref = None
