"""``astroi2i translate``: FITS in → checkpoint's stretches → tiled network → inverse stretch →
FITS out on the input grid, with the NaN footprint restored and provenance written."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io.fits import (
    OBSERVATION_CONTEXT_KEYS,
    read_image,
    require_valid_pixels,
    write_image,
)
from astroi2i.sky.geometry import reproject_image, same_grid
from astroi2i.sky.image import SkyImage, stack_bands

__all__ = ["translate", "reprojection_method", "CARRIED_KEYS"]

log = logging.getLogger(__name__)

#: input header keys that stay true for a prediction of another survey (time, target, observer
#: position); instrument, filter and exposure keys do not
CARRIED_KEYS = OBSERVATION_CONTEXT_KEYS


def reprojection_method(unit) -> str:
    """``interp`` for surface brightness (unit per solid angle), ``adaptive`` with flux
    conservation for per-pixel quantities (counts, DN, flux per pixel)."""
    import astropy.units as u

    if isinstance(unit, u.UnitBase):
        try:
            powers = dict(zip(unit.decompose().bases, unit.decompose().powers))
        except (AttributeError, u.UnitsError):
            powers = {}
        if powers.get(u.rad, 0) < 0 or "/sr" in str(unit) or "arcsec2" in unit.to_string():
            return "interp"
    return "adaptive"


def _read_inputs(
    paths: Sequence, meta: dict, align: bool, reference, exposure_keyword: str | None
) -> tuple[SkyImage, np.ndarray | None]:
    from astroi2i.data.datasets import band_exposures

    images = [read_image(p) for p in paths]
    for path, image in zip(paths, images):
        require_valid_pixels(image, path)
    n = sum(im.n_bands for im in images)
    expected = meta["input_bands"]
    if n != len(expected):
        raise InputError(
            f"{', '.join(map(str, paths))}: {n} input band(s) given, the model expects "
            f"{len(expected)} ({', '.join(expected)}) in that order"
        )
    ref = read_image(reference) if reference is not None else images[0]
    aligned = []
    for path, image in zip(paths, images):
        if same_grid(image, ref):
            aligned.append(image)
        elif align:
            method = reprojection_method(image.unit)
            log.info("reprojecting %s onto the reference grid (%s)", path, method)
            aligned.append(reproject_image(image, ref.wcs, ref.shape, method=method))
        else:
            raise InputError(
                f"{path}: not on the grid of {paths[0] if reference is None else reference} "
                "(shape or WCS differ); pass --align to reproject it"
            )
    stacked = stack_bands(aligned)
    exposure = band_exposures(images, exposure_keyword) if exposure_keyword else None
    return stacked.replace(bands=tuple(expected), header=images[0].header), exposure


def translate(
    checkpoint,
    inputs: Sequence,
    output,
    *,
    tile: int | None = None,
    overlap: int | None = None,
    align: bool = False,
    reference=None,
    overwrite: bool = False,
    device: str | None = None,
    command: str | None = None,
) -> Path:
    """Translate input FITS file(s) with a trained model and write the prediction as FITS.

    Parameters
    ----------
    checkpoint : path
        A checkpoint written by ``train``; it alone defines bands, stretches and network.
    inputs : sequence of paths (``path[:HDU]``)
        The input bands in the model's order; several files or one cube.
    output : path
        Written atomically; refused if it exists unless ``overwrite``.
    tile, overlap : int, optional
        Tiling (input pixels); defaults from the recipe's ``inference`` section.
    align : bool
        Reproject inputs that are not on the first input's (or ``reference``'s) grid.

    Returns the output path. The output is in the target's physical unit (BUNIT), NaN where
    any input pixel was invalid, on the input grid.
    """
    import torch

    from astroi2i.data.datasets import apply_stretch
    from astroi2i.data.stretches import build_stretch
    from astroi2i.data.tiling import predict_tiled
    from astroi2i.workflows.checkpoint import load_checkpoint

    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output}: exists; pass --overwrite to replace it")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, meta = load_checkpoint(checkpoint, device=device)
    stretch_in = build_stretch(meta["stretches"]["inputs"])
    stretch_out = build_stretch(meta["stretches"]["targets"])
    image, exposure = _read_inputs(inputs, meta, align, reference, stretch_in.exposure_keyword)
    x = apply_stretch(stretch_in, image.data, exposure, str(inputs[0]))
    invalid = image.pixel_mask | ~np.isfinite(x).all(axis=0)
    x = np.where(np.isfinite(x), x, meta["fill_value"]).astype(np.float32)

    inference = meta["recipe"]["inference"]
    y = predict_tiled(
        model,
        x,
        tile=tile or inference["tile"],
        overlap=inference["overlap"] if overlap is None else overlap,
        stride=meta["stride"],
        scale=meta["scale"],
        device=device,
    )
    out_exposure = None
    if stretch_out.exposure_keyword is not None:
        out_exposure = np.repeat(np.nanmean(exposure), y.shape[0]) if exposure is not None else None
    y = stretch_out.inverse(y, exposure=out_exposure)
    y[:, invalid] = np.nan

    units = set(meta["target_units"])
    header = fits.Header()
    for key in CARRIED_KEYS:
        if key in image.header:
            header[key] = image.header[key]
    result = SkyImage(
        y.astype(np.float32),
        image.wcs,
        units.pop() if len(units) == 1 else "",
        np.broadcast_to(invalid, y.shape).copy(),
        tuple(meta["target_bands"]),
        header,
    )
    provenance = {
        "task": "translate",
        "checkpoint": Path(meta["path"]).name,
        "checkpoint_sha256": meta["sha256"],
        "model": f"{meta['recipe']['model']['system']['type']} / "
        f"{meta['recipe']['model']['generator']['type']}",
        "inputs": ", ".join(Path(str(p)).name for p in inputs),
        "input_bands": ", ".join(meta["input_bands"]),
        "stretch_out": meta["stretches"]["targets"]["type"] + " (inverted)",
    }
    if command:
        provenance["command"] = command
    return write_image(result, output, provenance=provenance, overwrite=overwrite)
