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
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io.fits import OBSERVATION_CONTEXT_KEYS, read_image, require_valid_pixels
from astroi2i.io.stream import FitsRowWriter, ImageSource
from astroi2i.sky.geometry import (
    reproject_image,
    reprojection_method,
    rescale_wcs,
    same_grid,
)
from astroi2i.sky.image import SkyImage, stack_bands

__all__ = ["translate", "CARRIED_KEYS"]

log = logging.getLogger(__name__)

#: input header keys that stay true for a prediction of another survey (time, target, observer
#: position); instrument, filter and exposure keys do not
CARRIED_KEYS = OBSERVATION_CONTEXT_KEYS


def _check_band_count(n: int, paths: Sequence, meta: dict) -> None:
    expected = meta["input_bands"]
    if n != len(expected):
        raise InputError(
            f"{', '.join(map(str, paths))}: {n} input band(s) given, the model expects "
            f"{len(expected)} ({', '.join(expected)}) in that order"
        )


def _aligned_rows(paths: Sequence, meta: dict, reference, exposure_keyword):
    """--align: read everything, reproject what is off the reference grid (in memory)."""
    from astroi2i.data.datasets import band_exposures

    images = [read_image(p) for p in paths]
    for path, image in zip(paths, images):
        require_valid_pixels(image, path)
    _check_band_count(sum(im.n_bands for im in images), paths, meta)
    ref = read_image(reference) if reference is not None else images[0]
    aligned = []
    for path, image in zip(paths, images):
        if same_grid(image, ref):
            aligned.append(image)
            continue
        method = reprojection_method(image.unit)
        log.info("reprojecting %s onto the reference grid (%s)", path, method)
        aligned.append(reproject_image(image, ref.wcs, ref.shape, method=method))
    data = stack_bands(aligned).data
    exposure = band_exposures(images, exposure_keyword) if exposure_keyword else None
    first = ref.replace(header=images[0].header)
    return (lambda y0, y1: data[:, y0:y1]), first, exposure, ref.shape


def _streamed_rows(paths: Sequence, meta: dict, stack: ExitStack, exposure_keyword):
    """Open every input for row access and check that they share one grid and have data."""
    from astroi2i.data.datasets import band_exposures

    sources = [stack.enter_context(ImageSource(p)) for p in paths]
    _check_band_count(sum(s.n_bands for s in sources), paths, meta)
    for path, source in zip(paths[1:], sources[1:]):
        if not same_grid(source, sources[0]):
            raise InputError(
                f"{path}: not on the grid of {paths[0]} (shape or WCS differ); "
                "pass --align to reproject it"
            )
    height = sources[0].shape[0]
    for path, source in zip(paths, sources):  # a cheap pass: no band may be empty
        seen = np.zeros(source.n_bands, bool)
        for y0 in range(0, height, 512):
            seen |= np.isfinite(source.read_rows(y0, min(y0 + 512, height))).any(axis=(1, 2))
            if seen.all():
                break
        if not seen.all():
            band = source.bands[int(np.argmin(seen))]
            raise InputError(f"{path}: band {band!r} has no valid pixel (all NaN, BLANK or masked)")
    metas = [s.metadata() for s in sources]
    exposure = band_exposures(metas, exposure_keyword) if exposure_keyword else None

    def rows(y0: int, y1: int) -> np.ndarray:
        return np.concatenate([s.read_rows(y0, y1) for s in sources], axis=0)

    return rows, metas[0], exposure, sources[0].shape


def _is_two_way(checkpoint) -> bool:
    """Whether ``checkpoint`` is a two-way training checkpoint (``.ckpt`` only: exports hold
    one generator). The file is memory-mapped, so no tensor is read; any problem with it is
    left to the normal loading path to report."""
    import torch

    from astroi2i.workflows.checkpoint import META_KEY

    path = Path(str(checkpoint))
    if path.suffix != ".ckpt" or not path.is_file():
        return False
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return "two_way" in ckpt["hyper_parameters"][META_KEY]
    except Exception:  # noqa: BLE001 - read_checkpoint gives the precise error
        return False


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
) -> Path:
    """Translate input FITS file(s) with a trained model and write the prediction as FITS.

    Parameters
    ----------
    checkpoint : path
        A checkpoint written by ``train`` (or an ONNX/safetensors export with its JSON
        sidecar); it alone defines bands, stretches and network.
    inputs : sequence of paths (``path[:HDU]``)
        The input bands in the model's order; several files or one cube.
    output : path
        Written atomically; refused if it exists unless ``overwrite``.
    tile, overlap : int, optional
        Tiling (input pixels); defaults from the recipe's ``inference`` section.
    align : bool
        Reproject inputs that are not on the first input's (or ``reference``'s) grid.

    mask : path, optional
        Inpainting models: a FITS mask (non-zero = missing) of extra pixels to fill.
    loaded : (model, meta), optional
        What :func:`~astroi2i.workflows.export.load_model` returned for ``checkpoint`` on this
        ``device``, for callers that translate many files with one model.
    to, seed, noise
        Two-way models only (:func:`~astroi2i.workflows.twoway.translate_twoway`): the domain
        to translate into, the seed of sampled noise/latents, and whether to sample them.

    Returns the output path. The output is in the target's physical unit (BUNIT), NaN where
    any input pixel was invalid, on the input grid. An inpainting model (one that fills
    invalid pixels) instead fills every missing pixel (NaN, the recipe's zero blocks, ``mask``)
    and copies every other pixel bit for bit from the input; a ``MASK`` extension (1 = filled)
    says which is which.
    """
    import torch

    from astroi2i.data.datasets import apply_stretch
    from astroi2i.data.stretches import build_stretch
    from astroi2i.data.tiling import predict_streaming
    from astroi2i.workflows.export import load_model

    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output}: exists; pass --overwrite to replace it")
    if loaded is None and _is_two_way(checkpoint):
        from astroi2i.workflows.twoway import translate_twoway

        if to is None:
            raise InputError(f"{checkpoint}: a two-way model; say which domain with --to")
        return translate_twoway(checkpoint, inputs, output, to=to, seed=seed, noise=noise,
                                overwrite=overwrite, device=device, command=command)  # fmt: skip
    if to is not None:
        raise InputError(f"--to {to}: only for two-way models; {checkpoint} translates one way")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, meta = loaded if loaded is not None else load_model(checkpoint, device=device)
    scale = int(meta["scale"])
    stretch_in = build_stretch(meta["stretches"]["inputs"])
    stretch_out = build_stretch(meta["stretches"]["targets"])
    key = stretch_in.exposure_keyword
    fill = meta["fill_value"]
    inference = meta["recipe"]["inference"]
    fills = bool(meta.get("fills_invalid", False))
    zero_block = int(meta["recipe"]["data"].get("zero_blocks", 0)) if fills else 0
    if mask is not None and not fills:
        raise InputError(f"{mask}: --mask is for inpainting models; this model does not fill")

    with ExitStack() as stack:
        if align:
            rows, first, exposure, (height, width) = _aligned_rows(inputs, meta, reference, key)
        else:
            rows, first, exposure, (height, width) = _streamed_rows(inputs, meta, stack, key)
        out_exposure = None
        if stretch_out.exposure_keyword is not None and exposure is not None:
            out_exposure = np.repeat(np.nanmean(exposure), len(meta["target_bands"]))

        # the invalid mask of the strip last read: the rows written next always lie inside it,
        # so the inputs are read once (the fallback read covers any other access pattern)
        last = {"y0": 0, "invalid": np.zeros((0, 0), bool), "raw": None}
        from astroi2i.sources.masks import read_mask, zero_blocks

        user_mask = None if mask is None else read_mask(mask, (height, width))

        def missing(raw: np.ndarray, y0: int) -> np.ndarray:
            out = ~np.isfinite(raw).all(axis=0)
            if zero_block:
                out |= zero_blocks(raw, block=zero_block, row0=y0)
            if user_mask is not None:
                out |= user_mask[y0 : y0 + raw.shape[1]]
            return out

        def network_rows(y0: int, y1: int) -> np.ndarray:
            raw = rows(y0, y1)
            last["y0"], last["invalid"] = y0, missing(raw, y0)
            last["raw"] = raw if fills else None
            x = apply_stretch(stretch_in, raw, exposure, str(inputs[0]))
            if fills:  # the network sees missing pixels as NaN and fills them
                return np.where(last["invalid"][None], np.nan, x).astype(np.float32)
            return np.where(np.isfinite(x), x, fill).astype(np.float32)

        def strip(y0: int, y1: int) -> tuple[np.ndarray, np.ndarray | None]:
            start, invalid = last["y0"], last["invalid"]
            if start <= y0 and y1 <= start + invalid.shape[0]:
                raw = last["raw"]
                return invalid[y0 - start : y1 - start], (
                    None if raw is None else raw[:, y0 - start : y1 - start]
                )
            raw = rows(y0, y1)
            return missing(raw, y0), raw

        def write_rows(y0: int, block: np.ndarray) -> None:
            y = stretch_out.inverse(block, exposure=out_exposure)
            invalid, raw = strip(y0, y0 + block.shape[1] // scale)
            if fills:  # measured pixels bit for bit from the input; the model only fills
                y = np.where(invalid[None], y, raw).astype(np.float32)
                writer.write_rows(y0, y)
                writer.write_mask_rows(y0, invalid)
                return
            if scale > 1:  # an invalid input pixel invalidates the scale² pixels it becomes
                invalid = np.repeat(np.repeat(invalid, scale, axis=0), scale, axis=1)
            y[:, invalid] = np.nan
            writer.write_rows(y0 * scale, y)

        header = fits.Header()
        for name in CARRIED_KEYS:
            if name in first.header:
                header[name] = first.header[name]
        units = set(meta["target_units"])
        out_meta = SkyImage(
            np.zeros((len(meta["target_bands"]), 1, 1), np.float32),
            None,
            units.pop() if len(units) == 1 else "",
            bands=tuple(meta["target_bands"]),
            header=header,
        ).replace(
            wcs=first.wcs if scale == 1 or first.wcs is None else rescale_wcs(first.wcs, scale)
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
        shape = (len(meta["target_bands"]), height * scale, width * scale)
        if fills:
            provenance["filled"] = "pixels missing in the input (MASK extension = 1)"
        writer = FitsRowWriter(
            output,
            out_meta,
            shape,
            provenance=provenance,
            overwrite=overwrite,
            mask_extension=fills,
        )
        try:
            predict_streaming(
                model,
                network_rows,
                write_rows,
                (height, width),
                tile=tile or inference["tile"],
                overlap=inference["overlap"] if overlap is None else overlap,
                stride=meta["stride"],
                scale=scale,
                device=device,
            )
        except BaseException:
            writer.abort()
            raise
        return writer.close()


def total_flux_ratio(output, inputs: Sequence, *, rows: int = 512) -> list[float]:
    """Σ output / Σ input per output band, over pixels valid in both (read by rows, so any
    size works). The input band paired with output band c is input band c, or the only input
    band. For per-pixel flux units a flux-conserving model gives 1 whatever its scale factor;
    for surface brightness the ratio of sums is f² (compare means instead)."""
    with ExitStack() as stack:
        out = stack.enter_context(ImageSource(output))
        sources = [stack.enter_context(ImageSource(p)) for p in inputs]
        n_in = sum(s.n_bands for s in sources)
        if n_in not in (1, out.n_bands):
            raise InputError(
                f"{output}: {out.n_bands} output band(s) cannot be paired with "
                f"{n_in} input band(s) for a flux check"
            )
        height = sources[0].shape[0]
        f = out.shape[0] // height
        sums = np.zeros((2, out.n_bands))
        for y0 in range(0, height, rows):
            y1 = min(y0 + rows, height)
            x = np.concatenate([s.read_rows(y0, y1) for s in sources], axis=0)
            y = out.read_rows(y0 * f, y1 * f)
            blocks = y.reshape(out.n_bands, y1 - y0, f, -1, f)
            coarse = blocks.sum(axis=(2, 4))  # output flux per input pixel
            for c in range(out.n_bands):
                xc = x[c if n_in > 1 else 0]
                ok = np.isfinite(xc) & np.isfinite(coarse[c])
                sums[0, c] += coarse[c][ok].sum(dtype=np.float64)
                sums[1, c] += xc[ok].sum(dtype=np.float64)
    return [float(a / b) if b else float("nan") for a, b in sums.T]
