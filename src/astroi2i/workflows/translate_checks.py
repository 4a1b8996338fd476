"""What ``translate`` checks before it runs a model: the bands given against the model's
(count, order by header labels, unit, and sky or solar coordinates), the tiling (and, for
hole fills, the largest hole) and the device options, the pixel scale."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io.fits import band_labels
from astroi2i.io.units import band_units, unit_mismatch
from astroi2i.sky.geometry import FRAME_NAMES, pixel_scale_arcsec, sky_frame

__all__ = ["check_inputs", "check_band_count", "check_band_order", "check_units", "check_frame",
           "check_tiling",
           "resolve_device",
           "warn_pixel_scale", "tiling_for", "hole_tiling", "check_one_way_options",
           "warn_if_tiling_matters"]  # fmt: skip

log = logging.getLogger(__name__)


def check_inputs(paths: Sequence, images: Sequence, desc: ModelDescription) -> None:
    """The bands of a one-way model's inputs (SkyImages or open image sources): their count,
    their order by header labels and their units, against the model's."""
    check_band_count(sum(im.n_bands for im in images), paths, desc)
    check_band_order(paths, band_labels(images), desc)
    check_units(paths, band_units(images), desc.input_units, desc.input_bands)
    check_frame(paths, [image.wcs for image in images], desc.input_frame)


def check_frame(paths: Sequence, wcs_list: Sequence, wanted: str) -> None:
    """Refuse an input in solar coordinates for a model trained on the sky, or the other way
    round: a model of galaxies given the Sun (or of the Sun given a galaxy) writes numbers with
    no meaning. ``wanted`` is the model's ``input_frame``; inputs without a celestial WCS, and
    models that recorded none, pass."""
    if not wanted:
        return
    for path, wcs in zip(paths, wcs_list):
        given = sky_frame(wcs)
        if given and given != wanted:
            raise InputError(f"{path}: an image in {FRAME_NAMES[given]}; the model was trained "
                             f"on images in {FRAME_NAMES[wanted]}")  # fmt: skip


def check_band_count(n: int, paths: Sequence, desc: ModelDescription) -> None:
    expected = desc.input_bands
    if n != len(expected):
        raise InputError(
            f"{', '.join(map(str, paths))}: {n} input band(s) given, the model expects "
            f"{len(expected)} ({', '.join(expected)}) in that order"
        )


def check_band_order(paths: Sequence, labels: Sequence[str], desc: ModelDescription) -> None:
    """Refuse inputs whose headers name a band the model takes at another position (``r g``
    given to a ``g r`` model). ``labels`` are the given bands' header labels (``BANDn`` or
    ``FILTER``; ``""`` where none); the model's are those of its training files, else its band
    names. Bands whose headers say nothing, or name a band the model does not know, pass."""
    expected = list(desc.input_filters) if any(desc.input_filters) else list(desc.input_bands)
    named = [label for label in labels if label]
    if len(expected) != len(labels) or len(set(named)) < len(named):
        if len(set(named)) < len(named):  # e.g. every file of a survey says FILTER='g'
            log.warning("%s: the headers give two bands one name (%s); band order not checked",
                        ", ".join(map(str, paths)), ", ".join(labels))  # fmt: skip
        return
    for i, label in enumerate(labels):
        if label and label != expected[i] and label in expected:
            raise InputError(
                f"{', '.join(map(str, paths))}: input band {i + 1} is {label!r} by its header, "
                f"but the model takes {expected[i]!r} there; give the bands in the order "
                f"{', '.join(expected)}"
            )


def check_units(paths: Sequence, units: Sequence[str], wanted_units: Sequence[str],
                names: Sequence[str]) -> None:  # fmt: skip
    """Refuse a band whose BUNIT is not the model's input unit for it (a model trained on
    nanomaggies given counts writes numbers with no meaning); units that astropy reads as the
    same (``nmgy`` and ``nanomaggy``) pass. ``units`` are the given bands' BUNIT texts (``""``
    where none; :func:`astroi2i.io.units.band_units`), ``wanted_units`` and ``names``
    the model's for its input (``desc.input_units``, ``desc.input_bands``; a two-way model's
    source domain). A band without BUNIT is taken to be in the model's unit, with a warning;
    a model that recorded no unit checks nothing."""
    where = ", ".join(map(str, paths))
    for i, (given, wanted) in enumerate(zip(units, wanted_units)):
        if not wanted.strip():
            continue
        if not given.strip():
            log.warning("%s: band %d (%s) has no BUNIT; it is taken to be in the model's input "
                        "unit, %s", where, i + 1, names[i], wanted)  # fmt: skip
            continue
        differ = unit_mismatch(given, wanted)
        if differ is not None:
            raise InputError(f"{where}: band {i + 1} ({names[i]}) {differ}, the "
                             "model's input unit; convert the file first")  # fmt: skip


def check_tiling(tile: int | None, overlap: int | None) -> None:
    """``--tile`` and ``--overlap`` as translate can use them (one-line errors otherwise)."""
    if tile is not None and (not isinstance(tile, int) or tile < 8):
        raise InputError(f"--tile {tile}: must be a whole number of pixels, at least 8")
    if overlap is not None and (not isinstance(overlap, int) or overlap < 0):
        raise InputError(f"--overlap {overlap}: must be a whole number of pixels, 0 or more")
    if tile is not None and overlap is not None and overlap >= tile:
        raise InputError(f"--overlap {overlap}: must be smaller than the tile ({tile})")


def resolve_device(device: str | None) -> str:
    """``--device`` checked against this machine (``cpu``, ``cuda``, ``cuda:N``, ``mps``);
    None picks CUDA where present."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {device}: not a device name (cpu, cuda, cuda:N)") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device}: CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise InputError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {device}: MPS is not available on this machine")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"--device {device}: astroi2i runs on cpu, cuda or mps")
    return device


def warn_pixel_scale(first, desc: ModelDescription, where) -> None:
    """Warn when the input's pixel scale is far from the training images' (the model then
    sees structures at sizes it never learned)."""
    trained, scale = desc.pixel_scale_arcsec, pixel_scale_arcsec(first.wcs)
    if not trained or not scale:
        return
    if not 0.8 <= scale / trained <= 1.25:
        log.warning(
            "%s: pixel scale %.4g arcsec, the model was trained at %.4g arcsec (ratio %.2f); "
            "its output is not what it was trained to give",
            where, scale, trained, scale / trained,
        )  # fmt: skip


def _up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


#: the default tile (output pixels) :func:`tiling_for` picks to keep the overlap a small part
#: of it, and the network calls few (a small network with σ spends ~0.9 ms a call on a 16² input)
AUTO_TILE_MIN, AUTO_TILE_MAX = 256, 1024


def warn_if_tiling_matters(desc: ModelDescription, shape, tile: int, margin, source) -> None:
    """The warning for an image cut into tiles without its receptive radius kept out of the
    blends because that would need tiles larger than the memory allows by default (once per
    model; an image within one tile is translated whole and exactly)."""
    if margin is not None or desc.receptive_radius is None or max(shape) <= tile:
        return
    key = (desc.path, tile)
    if key in _TILING_WARNED:
        return
    _TILING_WARNED.add(key)
    needed = _independent_tile(desc)
    log.warning(
        "%s: the model's receptive radius (%d px) needs tiles of %d px for an output that does "
        "not depend on the tiling, more than the memory allows by default: tiled in %d-px "
        "tiles, so pixels near tile edges differ slightly from a whole-image translation; "
        "--tile %d gives the exact one", source, desc.receptive_radius, needed, tile, needed,
    )  # fmt: skip


_TILING_WARNED: set = set()


def _independent_overlap(desc: ModelDescription) -> int:
    """The default overlap for a receptive radius R: 2R plus a ramp of two strides (≥ 16 px)."""
    stride = max(1, desc.stride)
    ramp = max(2 * stride, 16)
    return max(desc.inference["overlap"], _up(2 * desc.receptive_radius + ramp, stride))


def _independent_tile(desc: ModelDescription) -> int:
    """The smallest tile that keeps R out of both blends: twice that overlap plus a stride."""
    stride = max(1, desc.stride)
    return _up(2 * _independent_overlap(desc) + stride, stride)


def tiling_for(desc: ModelDescription, tile: int | None, overlap: int | None):
    """(tile, overlap, margin) for ``translate``. With the model's receptive radius R known,
    every tile's prediction within R of an inner tile edge gets no weight (margin = R), so
    each blended prediction saw its whole receptive field and the output does not depend on
    how the image is cut; the default overlap is 2R plus a ramp of two strides (at least
    16 px), the default tile at least the training crop, twice the overlap, and four times
    the overlap, within :data:`AUTO_TILE_MIN` … :data:`AUTO_TILE_MAX` output pixels (each
    tile's step is then at least ¾ of it: at most ~1.8 × the image's pixels go through the
    network). Without R, or when neither is given and R needs a tile larger than
    :data:`AUTO_TILE_MAX` (and the recipe's; a deep U-Net's R of 511 px asks for 3840-pixel
    tiles, 3.4 GB through U-Net-256 for a 2048² image instead of 1 GB): the recipe's
    ``inference`` tile and overlap, as given (see :func:`warn_if_tiling_matters`)."""
    radius, stride = desc.receptive_radius, max(1, desc.stride)
    if radius is not None and tile is None and overlap is None:
        limit = max(desc.inference["tile"], AUTO_TILE_MAX // max(1, desc.scale))
        if _independent_tile(desc) > limit:  # write_prediction warns where an image is tiled
            radius = None
    if radius is None:
        tile = desc.inference["tile"] if tile is None else tile
        overlap = desc.inference["overlap"] if overlap is None else overlap
        return tile, overlap, None
    given = overlap is not None
    if overlap is None:
        overlap = _independent_overlap(desc)
        if tile is not None and overlap >= tile:  # the tile asked for is too small for it
            overlap = max(tile - stride, 0)
    if overlap < 2 * radius + 1:
        log.warning(
            "%s %d is less than twice the model's receptive radius (%d px): pixels near "
            "tile edges are blended from predictions that did not see their whole receptive "
            "field, so the output depends on the tiling",
            "--overlap" if given else "the overlap that fits the tile,", overlap, radius,
        )  # fmt: skip
    if tile is None:
        crop = desc.data.get("crop_size") or 0
        # at most (4/3)² ≈ 1.8 × the pixels computed, in tiles of 256²–1024² output pixels
        f = max(1, desc.scale)
        cheap = min(max(4 * overlap, AUTO_TILE_MIN // f), AUTO_TILE_MAX // f)
        tile = _up(max(desc.inference["tile"], crop, 2 * overlap + stride, cheap), stride)
    return tile, overlap, radius


#: images up to this many pixels are scanned for their largest hole (a bool mask and int32
#: labels: 80 MB at 4096²); larger ones keep the recipe's tiling, with a warning, and an
#: inpainting model's σ there is its σ network's, not one measured on copies of the holes
MAX_HOLE_SCAN = 4096 * 4096
#: pixels around a hole that its fill reads (scikit-image's biharmonic fill: 2) and a spare
HOLE_RING = 4


def hole_tiling(missing, shape, tile: int, overlap: int, stride: int, where):
    """(tile, overlap, margin) for a model that fills holes with a fill of the whole hole
    (a biharmonic prior: no finite receptive radius, so :func:`tiling_for` gives no margin),
    so that every hole lies whole, with the ring its fill reads, inside each tile that gives
    it weight: the output is then the whole-image fill however the image is cut.
    ``missing(y0, y1)`` gives the missing-pixel mask of rows y0:y1; the largest hole's
    bounding-box side E sets margin = E + ring, and the overlap and tile grow to fit it
    (never shrink). Margin None (the blending's default) where there is nothing to fit."""
    from scipy import ndimage

    h, w = shape
    if max(h, w) <= tile:  # one tile: the whole image
        return tile, overlap, None
    if h * w > MAX_HOLE_SCAN:
        log.warning("%s: larger than %d pixels, not scanned for holes: a hole wider than the "
                    "tile overlap (%d px) is filled tile by tile and depends on the tiling",
                    where, MAX_HOLE_SCAN, overlap)  # fmt: skip
        return tile, overlap, None
    step = max(tile, 1024)
    mask = np.concatenate([missing(y, min(y + step, h)) for y in range(0, h, step)])
    labels, n = ndimage.label(mask)
    if n == 0:
        return tile, overlap, None
    extent = max(max(s[0].stop - s[0].start, s[1].stop - s[1].start)
                 for s in ndimage.find_objects(labels))  # fmt: skip
    need = extent + HOLE_RING
    overlap = max(overlap, _up(2 * need + max(2 * stride, 16), stride))
    tile = max(tile, _up(2 * overlap + stride, stride))
    log.info("%s: the largest hole is %d px across; tiles of %d px overlapping by %d so that "
             "each hole is filled whole", where, extent, tile, overlap)  # fmt: skip
    return tile, overlap, need


def check_one_way_options(
    desc: ModelDescription, checkpoint, *, to, mask, calibrated: bool, background: bool = True,
    flux_anchor: bool | None = None,
) -> None:  # fmt: skip
    """Options a one-way model cannot honour are refused, not ignored: ``--to``,
    ``--no-smooth-background`` and ``--flux-from-regrid`` (two-way models), ``--mask``
    (models that fill), ``--uncalibrated`` (models with σ)."""
    if to is not None:
        raise InputError(f"--to {to}: only for two-way models; {checkpoint} translates one way")
    for flag, given in (("--no-smooth-background", not background),
                        ("--flux-from-regrid", flux_anchor is not None)):  # fmt: skip
        if given:
            raise InputError(f"{flag}: only for two-way models; {checkpoint} translates one way")
    if mask is not None and not desc.fills_invalid:
        raise InputError(f"{mask}: --mask is for inpainting models; this model does not fill")
    if not calibrated and not desc.has_uncertainty:
        raise InputError(f"--uncalibrated: {checkpoint} predicts no σ, so there is nothing to "
                         "leave uncalibrated")  # fmt: skip
