"""What ``translate`` checks before it runs a model: the bands given against the model's
(count, and order by header labels), the tiling and the device options, the pixel scale."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.sky.geometry import pixel_scale_arcsec

__all__ = ["check_band_count", "check_band_order", "check_tiling", "resolve_device",
           "warn_pixel_scale"]  # fmt: skip

log = logging.getLogger(__name__)


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
