"""``astroi2i translate``: FITS in → checkpoint's stretches → tiled network → inverse stretch →
FITS out on the input grid, with the NaN footprint restored and provenance written.

Inputs are read and the output written strip by strip (see
:func:`astroi2i.data.tiling.predict_streaming`), so memory is bounded by the tile size and the
image width, not by the image. ``--align`` is the exception: reprojection needs whole images.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from astroi2i.data.stretches import build_stretch
from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io.fits import (
    OBSERVATION_CONTEXT_KEYS,
    read_image,
    require_valid_pixels,
)
from astroi2i.io.folders import require_new_output
from astroi2i.io.stream import FitsRowWriter, ImageSource
from astroi2i.metrics.uncertainty import shaped_sigma
from astroi2i.sky.geometry import (
    reproject_image,
    reprojection_method,
    same_grid,
    stack_bands,
)
from astroi2i.sky.masks import read_mask, zero_blocks
from astroi2i.workflows.memory import keep_freed_memory
from astroi2i.workflows.model import load
from astroi2i.workflows.translate_checks import (
    check_inputs,
    check_one_way_options,
    check_tiling,
    hole_tiling,
    resolve_device,
    tiling_for,
    warn_if_tiling_matters,
    warn_pixel_scale,
)
from astroi2i.workflows.translate_output import hole_copies, output_layout

__all__ = [
    "translate",
    "open_inputs",
    "write_prediction",
    "InMemoryRows",
    "output_layout",
    "CARRIED_KEYS",
]

log = logging.getLogger(__name__)

#: input header keys that stay true for a prediction of another survey (time, target, observer
#: position); instrument, filter and exposure keys do not
CARRIED_KEYS = OBSERVATION_CONTEXT_KEYS


def _aligned_rows(paths: Sequence, desc: ModelDescription, reference, exposure_keyword):
    """--align: read everything, reproject what is off the reference grid (in memory)."""
    from astroi2i.data.datasets import band_exposures

    images = [read_image(p) for p in paths]
    for path, image in zip(paths, images):
        require_valid_pixels(image, path)
    check_inputs(paths, images, desc)
    ref = read_image(reference) if reference is not None else images[0]
    aligned = []
    for path, image in zip(paths, images):
        if same_grid(image, ref):
            aligned.append(image)
            continue
        method = reprojection_method(
            image.unit, str(path), hint="reproject it onto the reference grid first"
        )
        log.info("reprojecting %s onto the reference grid (%s)", path, method)
        aligned.append(reproject_image(image, ref.wcs, ref.shape, method=method))
    data = stack_bands(aligned).data
    if not np.isfinite(data).all(axis=0).any():
        raise InputError(
            f"{', '.join(map(str, paths))}: the inputs do not overlap on the reference grid "
            "(no pixel is valid in every band after --align)"
        )
    exposure = band_exposures(images, exposure_keyword, paths) if exposure_keyword else None
    first = ref.replace(header=images[0].header)
    return (lambda y0, y1: data[:, y0:y1]), first, exposure, ref.shape


def _streamed_rows(paths: Sequence, desc: ModelDescription, stack: ExitStack, exposure_keyword,
                   *, check_pixels: bool = True):  # fmt: skip
    """Open every input for row access and check that they share one grid and (unless the
    caller checks the pixels it reads itself) have data."""
    from astroi2i.data.datasets import band_exposures

    sources = [stack.enter_context(ImageSource(p)) for p in paths]
    check_inputs(paths, sources, desc)
    for path, source in zip(paths[1:], sources[1:]):
        if not same_grid(source, sources[0]):
            raise InputError(
                f"{path}: not on the grid of {paths[0]} (shape or WCS differ); "
                "pass --align to reproject it"
            )
    height = sources[0].shape[0] if check_pixels else 0
    for path, source in zip(paths, sources):  # a cheap pass: no band may be empty
        seen = np.zeros(source.n_bands, bool)
        for y0 in range(0, height, 512):
            seen |= np.isfinite(source.read_rows(y0, min(y0 + 512, height))).any(axis=(1, 2))
            if seen.all():
                break
        if height and not seen.all():
            band = source.bands[int(np.argmin(seen))]
            raise InputError(f"{path}: band {band!r} has no valid pixel (all NaN, BLANK or masked)")
    metas = [s.metadata() for s in sources]
    exposure = band_exposures(metas, exposure_keyword, paths) if exposure_keyword else None

    def rows(y0: int, y1: int) -> np.ndarray:
        return np.concatenate([s.read_rows(y0, y1) for s in sources], axis=0)

    return rows, metas[0], exposure, sources[0].shape


class _InputStrips:
    """The network's input, strip by strip: raw rows → missing-pixel mask → stretched,
    invalid pixels filled (or NaN, for a model that fills them).

    The mask and raw rows of the strip last read are kept: the output rows written next always
    lie inside it, so every input row is read once (any other access reads again)."""

    def __init__(self, rows, desc: ModelDescription, stretch, exposure, where, user_mask) -> None:
        self.rows, self.exposure, self.where, self.user_mask = rows, exposure, where, user_mask
        self.stretch = stretch
        self.fill, self.fills = desc.fill_value, desc.fills_invalid
        self.zero_block = int(desc.data.get("zero_blocks", 0)) if self.fills else 0
        self.y0, self.invalid, self.raw = 0, np.zeros((0, 0), bool), None
        #: exact zeros outside the zero blocks (rows counted once): smaller drop-outs?
        self.stray_zeros, self._counted_to = 0, 0

    def missing(self, raw: np.ndarray, y0: int) -> np.ndarray:
        out = ~np.isfinite(raw).all(axis=0)
        if self.zero_block:
            out |= zero_blocks(raw, block=self.zero_block, row0=y0)
            new = max(self._counted_to - y0, 0)  # rows before this are already counted
            zeros = (raw[:, new:] == 0).all(axis=0) & ~out[new:]
            self.stray_zeros += int(zeros.sum())
            self._counted_to = max(self._counted_to, y0 + raw.shape[1])
        if self.user_mask is not None:
            out |= self.user_mask[y0 : y0 + raw.shape[1]]
        return out

    def network_rows(self, y0: int, y1: int) -> np.ndarray:
        from astroi2i.data.datasets import apply_stretch

        raw = self.rows(y0, y1)
        self.y0, self.invalid = y0, self.missing(raw, y0)
        self.raw = raw if self.fills else None
        x = apply_stretch(self.stretch, raw, self.exposure, self.where)
        if self.fills:  # the network sees missing pixels as NaN and fills them
            return np.where(self.invalid[None], np.nan, x).astype(np.float32)
        return np.where(np.isfinite(x), x, self.fill).astype(np.float32)

    def strip_mask(self, y0: int, y1: int) -> np.ndarray:
        """The missing-pixel mask of input rows y0:y1."""
        return self.strip(y0, y1)[0]

    def strip(self, y0: int, y1: int) -> tuple[np.ndarray, np.ndarray | None]:
        """(missing mask, raw rows or None) of input rows y0:y1."""
        if self.y0 <= y0 and y1 <= self.y0 + self.invalid.shape[0]:
            raw = None if self.raw is None else self.raw[:, y0 - self.y0 : y1 - self.y0]
            return self.invalid[y0 - self.y0 : y1 - self.y0], raw
        raw = self.rows(y0, y1)
        return self.missing(raw, y0), raw


class _OutputStrips:
    """Network output rows → inverse stretch → NaN where an input was invalid (or, for a model
    that fills, the input's own pixels wherever it had them) → the FITS writer."""

    def __init__(self, writer, desc: ModelDescription, inputs: _InputStrips, exposure, *,
                 calibrated: bool = True, hole_sigma=None) -> None:  # fmt: skip
        from astroi2i.baselines import baseline_from_dict

        self.writer, self.inputs, self.scale = writer, inputs, desc.scale
        #: inpainting: σ from copies of the holes, (C, H, W), NaN where the network's is kept
        self.hole_sigma = hole_sigma
        self.stretch = build_stretch(desc.stretches["targets"])
        self.exposure = None
        if self.stretch.exposure_keyword is not None and exposure is not None:
            mean = np.mean(exposure)  # NaN where missing: apply_stretch names the file
            self.exposure = np.repeat(mean, len(desc.target_bands))
        self.baseline = baseline_from_dict(desc.baseline) if desc.anchored else None
        weights = desc.correction_weights  # of the network's correction to the baseline
        self.weight = None if weights is None else np.asarray(weights, np.float32)[:, None, None]
        self.n_out, self.sigma = len(desc.target_bands), desc.has_uncertainty
        cal = (desc.calibration or {}) if calibrated else {}
        self.sigma_scale = np.asarray(cal.get("scale") or np.ones(self.n_out), float)
        self.sigma_offset = np.asarray(cal.get("offset") or np.zeros(self.n_out), float)
        self.sigma_power = np.asarray(cal.get("power") or np.ones(self.n_out), float)

    def _baseline_rows(self, y0: int, y1: int) -> np.ndarray:
        """The fitted baseline of output rows y0:y1, stretched: computed on the input rows
        with a halo wide enough for its smoothing, so strips join exactly."""
        halo = int(np.ceil(4 * self.baseline.sigma)) + 1
        top, bottom = max(0, y0 - halo), y1 + halo
        raw = self.inputs.rows(top, bottom)
        b = self.baseline.predict(raw)[:, y0 - top : y1 - top]
        return self.stretch.forward(b, exposure=self.exposure)

    def __call__(self, y0: int, block: np.ndarray) -> None:
        block, s = block[: self.n_out], block[self.n_out :] if self.sigma else None
        if self.baseline is not None:  # the network gave the correction to the baseline
            if self.weight is not None:
                block = block * self.weight
            block = block + self._baseline_rows(y0, y0 + block.shape[1])
        y = self.stretch.inverse(block, exposure=self.exposure)
        if s is not None:  # σ in physical units, calibrated
            sigma = self.stretch.inverse_sigma(block, s, exposure=self.exposure)
            sigma = np.stack([shaped_sigma(band, b, g) for band, b, g in
                              zip(sigma, self.sigma_offset, self.sigma_power)])  # fmt: skip
            sigma = (sigma * self.sigma_scale[:, None, None]).astype(np.float32)
        invalid, raw = self.inputs.strip(y0, y0 + block.shape[1] // self.scale)
        if self.inputs.fills:  # measured pixels bit for bit from the input; the model only fills
            self.writer.write_rows(y0, np.where(invalid[None], y, raw).astype(raw.dtype))
            self.writer.write_mask_rows(y0, invalid)
            if s is not None:  # copied pixels are exact
                if self.hole_sigma is not None:
                    rows = self.hole_sigma[:, y0 : y0 + block.shape[1]]
                    sigma = np.where(np.isfinite(rows), rows, sigma).astype(np.float32)
                self.writer.write_uncert_rows(y0, np.where(invalid[None], sigma, 0.0))
            return
        if self.scale > 1:  # an invalid input pixel invalidates the scale² pixels it becomes
            invalid = np.repeat(np.repeat(invalid, self.scale, axis=0), self.scale, axis=1)
        y[:, invalid] = np.nan
        self.writer.write_rows(y0 * self.scale, y)
        if s is not None:
            sigma[:, invalid] = np.nan
            self.writer.write_uncert_rows(y0 * self.scale, sigma)


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
    mask=None,
    loaded: tuple | None = None,
    to: str | None = None,
    seed: int = 0,
    noise: bool = True,
    background: bool = True,
    flux_anchor: bool | None = None,
    calibrated: bool = True,
    sigma: bool = True,
) -> Path:
    """Translate input FITS file(s) with a trained model and write the prediction as FITS.

    Parameters
    ----------
    checkpoint : path or name
        A checkpoint written by ``train``, an ONNX/safetensors export with its JSON sidecar,
        or a packaged model's name; its description alone defines bands, stretches, network.
    inputs : sequence of paths (``path[:HDU]``)
        The input bands in the model's order; several files or one cube. Files whose headers
        name their bands (``FILTER``, ``BANDn``) are checked against the model's order.
    output : path
        Written atomically; refused if it exists unless ``overwrite``.
    tile, overlap : int, optional
        Tiling (input pixels); defaults from the recipe's ``inference`` section.
    align : bool
        Reproject inputs that are not on the first input's (or ``reference``'s) grid.
    mask : path, optional
        Inpainting models: a FITS mask (non-zero = missing) of extra pixels to fill.
    loaded : (model, description), optional
        What :func:`~astroi2i.workflows.model.load_model` returned for ``checkpoint`` on
        this ``device``, for callers that translate many files with one model.
    calibrated : bool
        Models with σ: apply the stored calibration (``False``: the raw σ ``calibrate`` uses).
    sigma : bool
        Models with σ: ``False`` runs the generator alone, tiled for its own receptive
        field, and writes no ``UNCERT`` (the same prediction, to float rounding).
    to, seed, noise, background, flux_anchor
        Two-way models only: as :func:`~astroi2i.workflows.twoway.translate_twoway` says.

    Returns the output path. The output is in the target's physical unit (BUNIT), NaN where
    any input pixel was invalid, on the input grid. An inpainting model (one that fills
    invalid pixels) instead fills every missing pixel (NaN, the recipe's zero blocks, ``mask``)
    and copies every other pixel bit for bit from the input, keeping its header and float
    type; a ``MASK`` extension (1 = filled) says which is which. A model with a σ network
    also writes ``UNCERT``: the standard deviation of the truth around the prediction, per
    pixel and band, in the same unit (astropy's CCDData convention, ``UTYPE =
    'StdDevUncertainty'``); its header says whether and how σ was calibrated and gives the
    90 % and 95 % interval half-widths in σ (:mod:`astroi2i.metrics.uncertainty`).
    """
    output = Path(output)
    require_new_output(output, inputs, overwrite=overwrite)
    keep_freed_memory()  # large tiles without page faults (workflows/memory.py)
    device = resolve_device(device)
    model, desc = loaded if loaded is not None else load(checkpoint, device=device, sigma=sigma)
    check_tiling(tile, overlap)  # the options as given
    tile, overlap, margin = tiling_for(desc, tile, overlap)
    check_tiling(tile, overlap)  # and as completed from the model
    if desc.is_two_way:
        return _translate_twoway(checkpoint, inputs, output, (model, desc), to=to, seed=seed,
                                 noise=noise, background=background, flux_anchor=flux_anchor,
                                 overwrite=overwrite, device=device, command=command)  # fmt: skip
    check_one_way_options(desc, checkpoint, to=to, mask=mask, calibrated=calibrated,
                          background=background, flux_anchor=flux_anchor)  # fmt: skip
    return _predict_to_file(model, desc, inputs, output, tile=tile, overlap=overlap,
                            margin=margin, align=align, reference=reference,
                            overwrite=overwrite, device=device, command=command,
                            mask=mask, calibrated=calibrated)  # fmt: skip


def _translate_twoway(checkpoint, inputs, output, loaded: tuple, *, to, **options) -> Path:
    from astroi2i.workflows.twoway import translate_twoway

    if to is None:
        raise InputError(f"{checkpoint}: a two-way model; say which domain with --to")
    return translate_twoway(checkpoint, inputs, output, to=to, loaded=loaded, **options)


def _predict_to_file(model, desc: ModelDescription, inputs, output, *, tile, overlap, margin, align,
                     reference, overwrite, device, command, mask, calibrated) -> Path:  # fmt: skip
    """Inputs → stretched strips → tiled network → inverse-stretched strips → the output
    file (written atomically; removed again if anything fails)."""
    with ExitStack() as stack:
        opened = _open(inputs, desc, stack, align=align, reference=reference)
        return write_prediction(model, desc, opened, inputs, output, tile=tile,
                                overlap=overlap, margin=margin, overwrite=overwrite,
                                device=device, command=command, mask=mask,
                                calibrated=calibrated)  # fmt: skip


def _open(inputs, desc: ModelDescription, stack: ExitStack, *, align: bool, reference,
          check_pixels: bool = True):  # fmt: skip
    """``(rows, first, exposure, shape)`` of a job's inputs: reprojected in memory with
    ``align``, else opened for row access (held open by ``stack``)."""
    key = build_stretch(desc.stretches["inputs"]).exposure_keyword
    if align:
        return _aligned_rows(inputs, desc, reference, key)
    return _streamed_rows(inputs, desc, stack, key, check_pixels=check_pixels)


def open_inputs(inputs: Sequence, desc: ModelDescription, *, align: bool = False,
                reference=None, max_side: int | None = None):  # fmt: skip
    """Read and check one job's inputs whole: ``(rows, first, exposure, shape)`` as
    :func:`write_prediction` takes them, ``rows`` serving an in-memory array (the batch
    reader calls this in its worker processes). None, before any pixel is read, for an
    image with a side longer than ``max_side`` (it is to be streamed instead)."""
    with ExitStack() as stack:
        rows, first, exposure, shape = _open(inputs, desc, stack, align=align,
                                             reference=reference, check_pixels=False)  # fmt: skip
        if max_side is not None and max(shape) > max_side:
            return None
        data = rows(0, shape[0])
    empty = ~np.isfinite(data).any(axis=(1, 2))
    if empty.any():
        band = desc.input_bands[int(np.argmax(empty))]
        raise InputError(f"{', '.join(map(str, inputs))}: band {band!r} has no valid pixel "
                         "(all NaN, BLANK or masked)")  # fmt: skip
    return InMemoryRows(data), first, exposure, shape


class InMemoryRows:
    """``rows(y0, y1)`` of an array read whole (picklable, unlike a closure)."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __call__(self, y0: int, y1: int) -> np.ndarray:
        return self.data[:, y0:y1]


def write_prediction(model, desc: ModelDescription, opened, inputs, output, *, tile, overlap,
                     margin, overwrite, device, command, mask=None, calibrated=True,
                     network_rows=None, layout=None) -> Path:  # fmt: skip
    """The network over opened inputs (``(rows, first, exposure, shape)``), written to
    ``output``. ``network_rows`` replaces the input strips the network sees (the batch
    translator passes the rows it already stretched for a batched forward pass); ``layout``
    is :func:`output_layout`'s, where it was built ahead."""
    from astroi2i.data.tiling import predict_streaming

    rows, first, exposure, shape = opened
    warn_pixel_scale(first, desc, inputs[0])
    user_mask = None if mask is None else read_mask(mask, shape)
    stretch_in = build_stretch(desc.stretches["inputs"])
    strips = _InputStrips(rows, desc, stretch_in, exposure, str(inputs[0]), user_mask)
    hole_sigma, whole_mask = (hole_copies(desc, strips, shape, inputs[0]) if calibrated
                              else (None, None))  # fmt: skip
    if layout is None or hole_sigma is not None:  # σ's header says how this file's σ was made
        calibration = None if hole_sigma is None else hole_sigma.calibration()
        layout = output_layout(desc, first, shape, inputs, command, calibrated, calibration)
    warn_if_tiling_matters(desc, shape, tile, margin, inputs[0])
    if desc.fills_invalid and desc.receptive_radius is None and network_rows is None:
        mask_rows = strips.strip_mask if whole_mask is None else (lambda a, b: whole_mask[a:b])
        tile, overlap, margin = hole_tiling(mask_rows, shape, tile, overlap,
                                            max(desc.stride, 1), inputs[0])  # fmt: skip
    writer = FitsRowWriter(output, overwrite=overwrite, layout=layout)
    out = _OutputStrips(writer, desc, strips, exposure, calibrated=calibrated,
                        hole_sigma=None if hole_sigma is None else hole_sigma.sigma)  # fmt: skip
    try:
        predict_streaming(model, network_rows or strips.network_rows, out, shape, tile=tile,
                          overlap=overlap, stride=desc.stride, scale=desc.scale, device=device,
                          margin=margin)  # fmt: skip
    except BaseException:
        writer.abort()
        raise
    if strips.stray_zeros:
        log.warning(
            "%s: %d pixel(s) are exactly 0 outside the model's %d-pixel zero blocks; they "
            "were kept as data (if they are smaller telemetry drop-outs, give them with "
            "--mask)", inputs[0], strips.stray_zeros, strips.zero_block,
        )  # fmt: skip
    return writer.close()
