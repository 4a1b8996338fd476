"""Overlap-blended tiled inference: pad to the network stride, run overlapping tiles, blend them
with weighted windows. Memory is bounded by the tile (plus the output accumulator).

Blending: on each side that has a neighbouring tile, a tile's weight is 0 over the first
``margin = overlap // 4`` pixels (where zero padding inside the network corrupts its output),
then ramps linearly to 1 at ``overlap − margin``. Sides on the image border keep weight 1. So a
model whose receptive-field radius is ≤ margin gives exactly the whole-image result, and any
model gets seamless output.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = ["tile_starts", "tile_window", "pad_to_multiple", "predict_tiled"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` pixels covering ``length`` with at least ``overlap``
    shared pixels between neighbours. The last tile ends exactly at ``length``."""
    if tile >= length:
        return [0]
    step = tile - overlap
    if step <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than the tile {tile}")
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def _ramp(n: int, overlap: int, lead: bool, trail: bool) -> np.ndarray:
    w = np.ones(n, np.float32)
    if overlap <= 0:
        return w
    margin = overlap // 4
    width = max(overlap - 2 * margin, 1)
    up = np.clip((np.arange(n) - margin + 0.5) / width, 0.0, 1.0).astype(np.float32)
    if lead:
        w = np.minimum(w, up)
    if trail:
        w = np.minimum(w, up[::-1])
    return w


def tile_window(
    shape: tuple[int, int], overlap: int, sides: tuple[bool, bool, bool, bool]
) -> np.ndarray:
    """Blending weights (H, W) for one tile. ``sides`` = (top, bottom, left, right): True where
    a neighbouring tile overlaps that side."""
    top, bottom, left, right = sides
    wy = _ramp(shape[0], overlap, top, bottom)
    wx = _ramp(shape[1], overlap, left, right)
    return wy[:, None] * wx[None, :]


def pad_to_multiple(array: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad the last two axes at the bottom/right up to a multiple of ``multiple`` (reflect, or
    edge for tiny images). Returns the padded array and the original (H, W)."""
    h, w = array.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return array, (h, w)
    pad = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(array, pad, mode=mode), (h, w)


@torch.no_grad()
def predict_tiled(
    model: Callable[[torch.Tensor], torch.Tensor],
    image: np.ndarray,
    *,
    tile: int = 256,
    overlap: int = 32,
    stride: int = 1,
    scale: int = 1,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> np.ndarray:
    """Apply ``model`` to a (C, H, W) float32 array of any size.

    Parameters
    ----------
    model : callable
        Maps (1, C, h, w) → (1, C_out, h·scale, w·scale); h and w are multiples of ``stride``.
    tile, overlap : int
        Tile edge and minimum overlap in input pixels; ``tile`` is rounded up to ``stride``.
    stride : int
        The network's size multiple (2^depth for a U-Net).
    scale : int
        Output pixels per input pixel (super-resolution factor).

    Returns
    -------
    ndarray, float32, (C_out, H·scale, W·scale)
    """
    if image.ndim != 3:
        raise ValueError(f"predict_tiled expects (C, H, W), got shape {image.shape}")
    padded, (h, w) = pad_to_multiple(image, stride)
    ph, pw = padded.shape[-2:]
    tile = int(np.ceil(tile / stride) * stride)
    th, tw = min(tile, ph), min(tile, pw)
    ys, xs = tile_starts(ph, th, overlap), tile_starts(pw, tw, overlap)
    out = None
    weight = np.zeros((ph * scale, pw * scale), np.float32)
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            chunk = torch.from_numpy(np.ascontiguousarray(padded[:, y0 : y0 + th, x0 : x0 + tw]))
            pred = model(chunk[None].to(device=device, dtype=dtype))[0]
            pred = pred.float().cpu().numpy()
            if out is None:
                out = np.zeros((pred.shape[0], ph * scale, pw * scale), np.float32)
            sides = (iy > 0, iy < len(ys) - 1, ix > 0, ix < len(xs) - 1)
            win = tile_window(pred.shape[-2:], overlap * scale, sides)
            sl = (slice(y0 * scale, (y0 + th) * scale), slice(x0 * scale, (x0 + tw) * scale))
            out[(slice(None), *sl)] += pred * win
            weight[sl] += win
    out /= weight
    return out[:, : h * scale, : w * scale]
