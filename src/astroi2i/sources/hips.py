"""HiPS cutouts through the CDS hips2fits service (astroquery.hips2fits), made robust for long
acquisition runs: timeouts, retries with exponential backoff, a request-rate limit, and a check
that every answer is a complete FITS image of the requested size (truncated bodies and HTML
error pages are retried, never written)."""

from __future__ import annotations

import logging
import re
import time
import warnings
from dataclasses import dataclass

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

__all__ = [
    "Target",
    "read_targets",
    "ngc_targets",
    "target_wcs",
    "HipsClient",
    "FetchError",
    "safe_name",
]

log = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """A cutout could not be obtained after all retries."""


@dataclass(frozen=True)
class Target:
    name: str
    ra: float  # deg, ICRS
    dec: float  # deg
    fov_deg: float  # edge of the square cutout


def safe_name(name: str) -> str:
    """A file-system-safe version of a target name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name.strip()) or "target"


def _number(value, where: str, low: float, high: float) -> float:
    """A finite number in [low, high] (RA is taken in [0, 360]), or a one-line error."""
    from astroi2i.errors import InputError

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where} is {str(value)!r}, not a number (degrees)") from None
    if not np.isfinite(number) or not low <= number <= high:
        raise InputError(f"{where} is {number:g}, outside [{low:g}, {high:g}]")
    return number


def read_targets(path, *, default_fov_arcmin: float = 5.0) -> list[Target]:
    """Targets from a CSV with ``name`` and optionally ``ra``, ``dec`` (deg) and ``fov_arcmin``.
    Rows without coordinates are resolved by name (Sesame, needs the network)."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    from astroi2i.errors import InputError

    try:
        table = Table.read(path, format="ascii.csv")
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for a bad table
        raise InputError(f"{path}: not a readable CSV table ({exc})") from None
    if "name" not in table.colnames:
        raise InputError(f"{path}: needs a 'name' column (and optionally ra, dec, fov_arcmin)")
    targets = []
    for row in table:
        name = str(row["name"])
        has = {c: c in table.colnames and not np.ma.is_masked(row[c]) for c in ("ra", "dec")}
        if has["ra"] and has["dec"]:
            ra = _number(row["ra"], f"{path}: target {name!r}: ra", 0.0, 360.0)
            dec = _number(row["dec"], f"{path}: target {name!r}: dec", -90.0, 90.0)
        else:
            try:
                coord = SkyCoord.from_name(name)
            except Exception as exc:  # noqa: BLE001 - name resolution fails in many ways
                raise InputError(f"{path}: could not resolve {name!r} ({exc})") from None
            ra, dec = coord.icrs.ra.deg, coord.icrs.dec.deg
        fov = default_fov_arcmin
        if "fov_arcmin" in table.colnames and not np.ma.is_masked(row["fov_arcmin"]):
            fov = _number(row["fov_arcmin"], f"{path}: target {name!r}: fov_arcmin", 0.0, 600.0)
            if fov == 0.0:
                raise InputError(f"{path}: target {name!r}: fov_arcmin must be positive")
        targets.append(Target(name, ra, dec, fov / 60.0))
    return targets


def ngc_targets(
    names: list[str] | None = None,
    *,
    limit: int | None = None,
    scale: float = 1.5,
    min_fov_arcmin: float = 2.0,
) -> list[Target]:
    """NGC/IC objects from the OpenNGC database shipped by ``pyongc`` (offline). The field of
    view is ``scale`` × the major axis (at least ``min_fov_arcmin``)."""
    from pyongc import ongc

    from astroi2i.errors import InputError

    if names:
        try:
            objects = [ongc.Dso(n) for n in names]
        except Exception as exc:  # noqa: BLE001 - pyongc raises ObjectNotFound and friends
            raise InputError(f"--ngc: {exc}") from None
    else:
        objects = list(ongc.listObjects(catalog="NGC"))
    targets = []
    for obj in objects:
        ra, dec = obj.rad_coords if hasattr(obj, "rad_coords") else (None, None)
        if ra is None:
            continue
        major = (obj.dimensions or (None,))[0] or 0.0
        fov = max(min_fov_arcmin, scale * float(major))
        targets.append(Target(obj.name, float(np.degrees(ra)), float(np.degrees(dec)), fov / 60))
        if limit and len(targets) >= limit:
            break
    return targets


def target_wcs(target: Target, pixels: int) -> WCS:
    """A TAN grid of ``pixels``² centred on the target, north up, east left."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [target.ra, target.dec]
    wcs.wcs.crpix = [(pixels + 1) / 2, (pixels + 1) / 2]
    scale = target.fov_deg / pixels
    wcs.wcs.cdelt = [-scale, scale]
    wcs.wcs.cunit = ["deg", "deg"]
    wcs.wcs.radesys = "ICRS"
    wcs.pixel_shape = (pixels, pixels)
    return wcs


class HipsClient:
    """hips2fits requests with a timeout, ``retries`` retries (backoff ``backoff`` × 2^k s) and
    at most ``rate`` requests per second."""

    def __init__(
        self,
        *,
        server: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        rate: float = 2.0,
    ) -> None:
        from astroquery.hips2fits import hips2fitsClass

        self._client = hips2fitsClass()
        if server:
            self._client.server = server
        self._client.timeout = timeout
        self.server = self._client.server
        self.retries, self.backoff = retries, backoff
        self.min_interval = 1.0 / rate if rate > 0 else 0.0
        self._last = 0.0
        self.requests = 0

    def _wait_turn(self) -> None:
        wait = self._last + self.min_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last = time.monotonic()

    def _once(self, hips: str, wcs: WCS) -> fits.HDUList:
        self._wait_turn()
        self.requests += 1
        # min/max cut, stretch and colour map only affect jpg/png answers, never FITS
        response = self._client.query_with_wcs_async(
            hips=hips,
            wcs=wcs,
            format="fits",
            min_cut=0.5,
            max_cut=99.5,
            stretch="linear",
            cmap="Greys_r",
        )
        response.raise_for_status()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hdul = fits.HDUList.fromstring(response.content)
            data = hdul[0].data
        if any("truncated" in str(w.message).lower() for w in caught):
            raise OSError("truncated FITS body")
        if data is None or data.shape[-2:] != (wcs.pixel_shape[1], wcs.pixel_shape[0]):
            got = None if data is None else data.shape
            raise OSError(f"image of shape {got}, expected {wcs.pixel_shape[::-1]}")
        return hdul

    def cutout(self, hips: str, wcs: WCS) -> fits.HDUList:
        """One cutout as an in-memory HDUList; raises FetchError after the last retry."""
        import requests

        errors = []
        for attempt in range(self.retries + 1):
            try:
                return self._once(hips, wcs)
            except (requests.RequestException, OSError, ValueError, TypeError) as exc:
                errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
                if attempt < self.retries:
                    delay = self.backoff * 2**attempt
                    log.info(
                        "%s: attempt %d failed (%s); retrying in %.1f s",
                        hips,
                        attempt + 1,
                        errors[-1],
                        delay,
                    )
                    time.sleep(delay)
        raise FetchError(f"{hips}: {len(errors)} attempts failed; last: {errors[-1]}")
