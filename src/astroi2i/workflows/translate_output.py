"""What a translation's output file says: the target bands and unit on the input grid (made
finer for super-resolution), the carried observation and instrument keys, provenance, and the
σ extension's cards, as the headers :class:`~astroi2i.io.stream.FitsRowWriter` writes; and an
inpainting model's σ, measured on copies of the image's own holes (:func:`hole_copies`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.description import ModelDescription
from astroi2i.io.fits import OBSERVATION_CONTEXT_KEYS
from astroi2i.io.image import SkyImage
from astroi2i.io.solar import INSTRUMENT_KEYS, is_solar
from astroi2i.io.stream import FitsRowWriter
from astroi2i.metrics.uncertainty import uncert_cards
from astroi2i.sky.geometry import rescale_wcs
from astroi2i.workflows.translate_checks import MAX_HOLE_SCAN

log = logging.getLogger(__name__)

__all__ = ["output_layout", "hole_copies"]


def _output_template(first, desc: ModelDescription) -> SkyImage:
    """The output's metadata: target bands and unit, the carried observation keys, the input
    grid (made ``scale`` times finer for super-resolution). An inpainting model keeps the
    input's whole metadata: its output is the input with the gaps filled."""
    n = len(desc.target_bands)
    if desc.fills_invalid:
        return first.replace(data=np.zeros((n, 1, 1), np.float32), mask=None)
    header = fits.Header()
    for name in OBSERVATION_CONTEXT_KEYS:
        if name in first.header:
            header[name] = first.header[name]
    if is_solar(first.header):  # sunpy picks a map source by the instrument keys
        keys = desc.target_instrument
        if keys is None:  # a model from before they were recorded: the input's instrument
            keys = {k: first.header[k] for k in INSTRUMENT_KEYS if k in first.header}
        header.update(keys)
    if n == 1 and desc.target_filters and desc.target_filters[0]:
        header["FILTER"] = desc.target_filters[0]  # the filter the model predicts
    units = set(desc.target_units)
    wcs = first.wcs if desc.scale == 1 or first.wcs is None else rescale_wcs(first.wcs, desc.scale)
    return SkyImage(
        np.zeros((n, 1, 1), np.float32),
        wcs,
        units.pop() if len(units) == 1 else "",
        bands=desc.target_bands,
        header=header,
    )


def _output_dtype(first, desc: ModelDescription):
    """float32, or float64 for a model that fills a float64 input (its pixels are copied)."""
    return np.float64 if desc.fills_invalid and first.header.get("BITPIX") == -64 else np.float32


def _provenance(desc: ModelDescription, inputs: Sequence, command: str | None) -> dict:
    provenance = {
        "task": "translate",
        "checkpoint": desc.name,
        "checkpoint_sha256": desc.sha256,
        "model": f"{desc.system_type} / {desc.generator_type}",
        "inputs": ", ".join(str(Path(str(p)).resolve()) for p in inputs),
        "input_bands": ", ".join(desc.input_bands),
        "stretch_out": desc.stretches["targets"]["type"] + " (inverted)",
    }
    if command:
        provenance["command"] = command
    if desc.fills_invalid:
        provenance["filled"] = "pixels missing in the input (MASK extension = 1)"
    return provenance


def output_layout(desc: ModelDescription, first, shape, inputs, command, calibrated,
                  calibration: dict | None = None) -> list:  # fmt: skip
    """The output file's HDU headers (:meth:`FitsRowWriter.layout`) for inputs whose metadata
    is ``first`` on a grid of ``shape``: target bands and unit, WCS, provenance, σ cards
    (of ``calibration`` where this file's σ was calibrated on its own, else the model's)."""
    n_out, f = len(desc.target_bands), desc.scale
    if calibration is None:
        calibration = desc.calibration if calibrated else None
    return FitsRowWriter.layout(
        _output_template(first, desc), (n_out, shape[0] * f, shape[1] * f),
        provenance=_provenance(desc, inputs, command), mask_extension=desc.fills_invalid,
        dtype=_output_dtype(first, desc),
        uncertainty=uncert_cards(calibration, n_out) if desc.has_uncertainty else None,
    )  # fmt: skip


def hole_copies(desc: ModelDescription, strips, shape, name):
    """Inpainting models with σ: (σ of the fill measured and calibrated on copies of the
    image's own holes (:mod:`astroi2i.metrics.hole_copies`) or None, where the σ network's is
    written; the whole image's missing-pixel mask, or None where it was not needed)."""
    from astroi2i.metrics.hole_copies import hole_copies_sigma

    if not (desc.fills_invalid and desc.has_uncertainty):
        return None, None
    if shape[0] * shape[1] > MAX_HOLE_SCAN:  # the copies hold the whole image in memory
        log.warning("%s: larger than %d pixels; σ is the σ network's, calibrated on the "
                    "model's held-out data, not measured on copies of the image's own holes",
                    name, MAX_HOLE_SCAN)  # fmt: skip
        return None, None
    raw = strips.rows(0, shape[0])  # the whole image: a hole's copies lie around it
    missing = strips.missing(raw, 0)
    found = hole_copies_sigma(raw, missing) if missing.any() else None
    if found is None and missing.any():
        log.warning("%s: no hole has room for copies in the known pixels around it; σ is the "
                    "σ network's, calibrated on the model's held-out data", name)  # fmt: skip
    elif found is not None and found.uncovered:  # e.g. a coronagraph's field stop: every file
        log.info("%s: %d filled pixel(s) lie in holes with no room for copies around them; "
                 "their σ is the σ network's (UNCNET)", name, found.uncovered)  # fmt: skip
    return found, missing
