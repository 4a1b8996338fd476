"""``astroi2i.Translator``: a model loaded once, applied to images of the kinds the
ecosystem passes around, each returned as the kind it came in.

========================================  =============================================
input                                     output
========================================  =============================================
path (``str``/``Path``, ``path:HDU``)     the ``output`` path written (FITS, as the CLI)
:class:`~astroi2i.io.SkyImage`            SkyImage (``uncertainty`` = σ)
``astropy.nddata.NDData`` / ``CCDData``   the same class: data, WCS, unit, mask and a
                                          ``StdDevUncertainty`` σ, meta = the header
``sunpy.map.GenericMap`` (any source)     a map of the same instrument, with mask and σ
========================================  =============================================

Every output is what ``astroi2i translate`` writes for the same pixels, because it is made
by the same code: in-memory inputs are written to a temporary FITS file (invalid or masked
pixels as NaN) and the prediction is read back from the file that ``translate`` wrote. An
input's own uncertainty is not propagated: σ is the model's error for that input.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, write_image
from astroi2i.io.image import SkyImage, unit_to_string
from astroi2i.io.uncertainty import read_uncertainty

__all__ = ["Translator"]


class Translator:
    """A model in any form (checkpoint, export, packaged name), loaded once.

    Parameters
    ----------
    model : path or name
        A one-way model (two-way models: ``astroi2i translate … --to``).
    device : str, optional
        ``cpu``, ``cuda``, ``cuda:N`` (default: CUDA where present).
    tile, overlap : int, optional
        Tiling in input pixels (default: from the model, as ``translate``).
    calibrated : bool
        Models with σ: apply the stored calibration.
    sigma : bool
        Models with σ: ``False`` runs the generator alone (``translate --no-sigma``): no σ
        in what comes back, and faster.

    Examples
    --------
    >>> from astropy.nddata import CCDData
    >>> t = Translator("stix-bp2clean")                          # doctest: +SKIP
    >>> clean = t.translate(CCDData.read("bp.fits"))             # doctest: +SKIP
    >>> clean.uncertainty.array                                  # doctest: +SKIP
    """

    def __init__(self, model, *, device: str | None = None, tile: int | None = None,
                 overlap: int | None = None, calibrated: bool = True,
                 sigma: bool = True) -> None:  # fmt: skip
        from astroi2i.workflows.model import load
        from astroi2i.workflows.translate_checks import check_tiling, resolve_device

        self.model = model
        self.device = resolve_device(device)
        self.network, self.description = load(model, device=self.device, sigma=sigma)
        if self.description.is_two_way:
            raise InputError(f"{model}: a two-way model; use translate(…, to=DOMAIN)")
        check_tiling(tile, overlap)
        self.tile, self.overlap, self.calibrated = tile, overlap, calibrated

    def translate(self, image, *, output=None, overwrite: bool = False):
        """The model's prediction for ``image``, as the kind ``image`` is (see the module
        docstring); a path needs ``output``, where the FITS file is written."""
        if isinstance(image, str | Path):
            if output is None:
                raise InputError(f"{image}: a file input needs output= (the FITS file to write)")
            return self._file([str(image)], output, overwrite)
        kind = _kind(image)
        sky = _to_sky(image, kind)
        with tempfile.TemporaryDirectory(prefix="astroi2i-") as tmp:
            source = Path(tmp) / "input.fits"
            try:
                write_image(sky, source)
                result = _read_prediction(self._file([str(source)], Path(tmp) / "out.fits", False))
            except InputError as exc:  # name what the caller gave, not the file made of it
                given = f"the given {type(image).__name__}"
                raise InputError(str(exc).replace(str(source), given)) from None
        return _from_sky(result, kind, image)

    def _file(self, inputs: list[str], output, overwrite: bool) -> Path:
        from astroi2i.workflows.translate import translate

        return translate(self.model, inputs, output, tile=self.tile, overlap=self.overlap,
                         overwrite=overwrite, device=self.device, calibrated=self.calibrated,
                         loaded=(self.network, self.description))  # fmt: skip


# ---- the kinds ------------------------------------------------------------------------------
def _kind(image) -> str:
    if isinstance(image, SkyImage):
        return "sky"
    module = type(image).__module__
    if module.startswith("sunpy.map"):
        return "map"
    from astropy.nddata import NDData

    if isinstance(image, NDData):
        return "nddata"
    raise InputError(f"cannot translate a {type(image).__name__}: give a FITS path, a SkyImage, "
                     "an NDData/CCDData or a sunpy Map")  # fmt: skip


def _to_sky(image, kind: str) -> SkyImage:
    """A SkyImage of an in-memory input: its WCS and header, invalid and masked pixels NaN."""
    if kind == "sky":
        return image
    from astropy.io import fits

    if kind == "map":  # its header read as for a solar file (no assumed date or observer)
        from astroi2i.io.fits import sky_metadata

        header = fits.Header(_fits_cards(image.fits_header))
        header, wcs, _ = sky_metadata(header, None, image.data.shape[-2:], "the sunpy map")
    else:
        header = fits.Header(_fits_cards(image.meta or {}))
        wcs = image.wcs
        if wcs is not None and not hasattr(wcs, "to_header"):  # a gwcs or APE 14 view
            raise InputError("this NDData's WCS is not a FITS WCS; give it an astropy.wcs.WCS")
    data = np.array(image.data, dtype=np.float32)
    if image.mask is not None:
        data[np.broadcast_to(np.asarray(image.mask, bool), data.shape)] = np.nan
    unit = image.unit if image.unit is not None else header.get("BUNIT", "")
    if hasattr(unit, "to_string"):
        header["BUNIT"] = unit_to_string(unit)
    return SkyImage(data, wcs, unit or "", header=header)


def _fits_cards(meta) -> list:
    """The FITS-representable (key, value) pairs of a metadata mapping."""
    cards = []
    for key, value in dict(meta).items():
        key = str(key).upper()
        if len(key) <= 8 and key not in ("COMMENT", "HISTORY", "") and isinstance(
                value, str | int | float | bool):  # fmt: skip
            cards.append((key, value))
    return cards


def _read_prediction(path: Path) -> SkyImage:
    image = read_image(path)
    sigma = read_uncertainty(path, image.data.shape)
    return image.replace(uncertainty=None if sigma is None else sigma[0].astype(np.float32))


def _from_sky(result: SkyImage, kind: str, original):
    if kind == "sky":
        return result
    from astropy.io import fits

    data = result.data[0] if result.n_bands == 1 else result.data
    sigma = None if result.uncertainty is None else (
        result.uncertainty[0] if result.n_bands == 1 else result.uncertainty)  # fmt: skip
    mask = result.mask
    header = fits.Header(result.header)
    if kind == "map":
        import sunpy.map

        return sunpy.map.Map(data, header, mask=mask, uncertainty=_std(sigma))
    cls = type(original)
    kwargs = dict(wcs=result.wcs, mask=mask, uncertainty=_std(sigma), meta=header)
    if result.unit not in (None, ""):
        kwargs["unit"] = result.unit
    return cls(data, **kwargs)


def _std(sigma):
    if sigma is None:
        return None
    from astropy.nddata import StdDevUncertainty

    return StdDevUncertainty(sigma)
