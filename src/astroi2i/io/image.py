"""SkyImage: the one in-memory type for pixels with a sky grid, a unit and a validity mask."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

__all__ = ["SkyImage", "unit_to_string"]


def unit_to_string(unit: u.UnitBase | str | None) -> str:
    """FITS-style text for a unit (``""`` for none); text units are returned as they are."""
    if unit is None:
        return ""
    if isinstance(unit, str):
        return unit
    if unit == u.dimensionless_unscaled:
        return ""
    try:
        return unit.to_string("fits")
    except (ValueError, TypeError):
        # units outside the FITS standard (e.g. nanomaggy) keep their generic name
        return unit.to_string()


@dataclass(frozen=True, eq=False)
class SkyImage:
    """Pixels of one or more bands on one celestial grid.

    Parameters
    ----------
    data : ndarray, float32, shape (C, H, W)
        Native byte order. Invalid pixels hold NaN.
    wcs : astropy.wcs.WCS or None
        Celestial WCS for the last two axes (0-based array index ``[y, x]`` maps to WCS pixel
        ``(x, y)``; FITS CRPIX is 1-based). ``None`` for files without a usable celestial WCS.
    unit : astropy unit or str
        From BUNIT; a str when the text could not be parsed.
    mask : ndarray of bool, shape (H, W) or (C, H, W)
        True where a pixel is invalid (NaN, BLANK, missing, outside the footprint).
    bands : tuple of str
        One name per channel.
    header : astropy.io.fits.Header
        The original header, kept for provenance only; never written back wholesale.
    uncertainty : ndarray, float32, shape (C, H, W), optional
        Standard deviation of each pixel, in ``unit`` (a model's σ; written as ``UNCERT``).
    """

    data: np.ndarray
    wcs: WCS | None
    unit: u.UnitBase | str = u.dimensionless_unscaled
    mask: np.ndarray | None = None
    bands: tuple[str, ...] = ()
    header: fits.Header = field(default_factory=fits.Header)
    uncertainty: np.ndarray | None = None

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim == 2:
            data = data[None]
        if data.ndim != 3:
            raise ValueError(f"SkyImage data must be (C, H, W) or (H, W), got shape {data.shape}")
        if data.dtype != np.float32 or not data.dtype.isnative:
            data = data.astype(np.float32)
        object.__setattr__(self, "data", data)
        mask = self.mask
        if mask is None:
            mask = ~np.isfinite(data)
            mask = mask[0] if mask.shape[0] == 1 else mask
        mask = np.asarray(mask, dtype=bool)
        if mask.shape not in (data.shape, data.shape[1:]):
            raise ValueError(f"mask shape {mask.shape} does not match data shape {data.shape}")
        object.__setattr__(self, "mask", mask)
        bands = tuple(self.bands) or tuple(f"band{i}" for i in range(data.shape[0]))
        if len(bands) != data.shape[0]:
            raise ValueError(f"{len(bands)} band names for {data.shape[0]} channels")
        object.__setattr__(self, "bands", bands)
        if self.uncertainty is not None:
            sigma = np.asarray(self.uncertainty, dtype=np.float32).reshape(
                (-1, *data.shape[1:]) if np.ndim(self.uncertainty) >= 2 else (0,))  # fmt: skip
            if sigma.shape != data.shape:
                raise ValueError(f"uncertainty shape {np.shape(self.uncertainty)} does not "
                                 f"match data shape {data.shape}")  # fmt: skip
            object.__setattr__(self, "uncertainty", sigma)
        if self.wcs is not None and self.wcs.pixel_n_dim != 2:
            raise ValueError(f"SkyImage needs a 2-D celestial WCS, got {self.wcs.pixel_n_dim} axes")

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the grid."""
        return self.data.shape[1], self.data.shape[2]

    @property
    def n_bands(self) -> int:
        return self.data.shape[0]

    @property
    def band_mask(self) -> np.ndarray:
        """Mask broadcast to (C, H, W)."""
        return np.broadcast_to(self.mask, self.data.shape) if self.mask.ndim == 2 else self.mask

    @property
    def pixel_mask(self) -> np.ndarray:
        """(H, W): True where any band is invalid."""
        return self.mask if self.mask.ndim == 2 else self.mask.any(axis=0)

    def replace(self, **changes) -> SkyImage:
        """A copy with some fields changed (the dataclass is frozen)."""
        return replace(self, **changes)
