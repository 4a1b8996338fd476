"""Reading the per-pixel uncertainty that ``translate`` writes next to a prediction: the
``UNCERT`` image extension (astropy CCDData's convention), a standard deviation in the
primary image's unit."""

from __future__ import annotations

import numpy as np
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io.fits import resolve_path

__all__ = ["read_uncertainty", "UNCERT_EXTENSION"]

UNCERT_EXTENSION = "UNCERT"


def read_uncertainty(path, shape: tuple[int, ...]) -> tuple[np.ndarray, fits.Header] | None:
    """(σ as float64 shaped like the prediction ``shape`` (C, H, W), its header), or None
    when ``path`` has no UNCERT extension. A σ of another shape or type is an InputError."""
    path, _ = resolve_path(path)
    with fits.open(path, memmap=False) as hdul:
        if UNCERT_EXTENSION not in hdul:
            return None
        hdu = hdul[UNCERT_EXTENSION]
        utype = str(hdu.header.get("UTYPE", "StdDevUncertainty"))
        if utype != "StdDevUncertainty":
            raise InputError(f"{path}: UNCERT is a {utype}; only standard deviations are scored")
        data = np.asarray(hdu.data, np.float64)
        if data.size != int(np.prod(shape)):
            raise InputError(f"{path}: UNCERT is {data.shape}, the image {tuple(shape)}")
        return data.reshape(shape), hdu.header.copy()
