"""Masks of missing pixels for inpainting (numpy only; True = missing / not data).

- :func:`random_blocks`: synthetic telemetry losses, 32n×32n blocks on the 32-pixel grid;
- :func:`zero_blocks`: blocks of exact zeros on that grid, how LASCO marks lost telemetry;
- :func:`coronagraph_geometry`: the occulter disk (and outside the field stop) and the pylon,
  a fixed mask that is neither input nor scored;
- :func:`read_mask`: a FITS mask given by the user (non-zero = missing).
"""

from __future__ import annotations

import numpy as np

__all__ = ["random_blocks", "zero_blocks", "coronagraph_geometry", "read_mask"]


def random_blocks(
    shape: tuple[int, int],
    rng: np.random.Generator,
    *,
    block: int = 32,
    max_blocks: int = 4,
    max_size: int = 3,
) -> np.ndarray:
    """1 to ``max_blocks`` missing squares of (n·block)² pixels, n = 1 … ``max_size``, each
    starting on the ``block`` grid (as LASCO's lost telemetry packets do). Blocks may overlap
    and are clipped at the image edge."""
    h, w = shape
    mask = np.zeros(shape, bool)
    rows, cols = max(1, h // block), max(1, w // block)
    for _ in range(int(rng.integers(1, max_blocks + 1))):
        n = int(rng.integers(1, max_size + 1))
        y0 = int(rng.integers(0, rows)) * block
        x0 = int(rng.integers(0, cols)) * block
        mask[y0 : y0 + n * block, x0 : x0 + n * block] = True
    return mask


def zero_blocks(data: np.ndarray, *, block: int = 32, row0: int = 0) -> np.ndarray:
    """Grid-aligned ``block``² squares whose pixels are all exactly 0 in every band of a
    (C, H, W) or (H, W) array: missing telemetry, not dark sky. ``row0`` is the image row of
    the array's first row (a strip of a larger image): the grid is the image's, so only whole
    blocks inside the strip are found."""
    data = np.asarray(data)
    zero = (data == 0) if data.ndim == 2 else (data == 0).all(axis=0)
    h, w = zero.shape
    mask = np.zeros((h, w), bool)
    y0 = (-row0) % block  # first grid row inside the strip
    ny, nx = max(0, (h - y0) // block), w // block
    if ny and nx:
        cells = zero[y0 : y0 + ny * block, : nx * block].reshape(ny, block, nx, block)
        whole = cells.all(axis=(1, 3))
        mask[y0 : y0 + ny * block, : nx * block] = np.repeat(
            np.repeat(whole, block, axis=0), block, axis=1
        )
    return mask


def coronagraph_geometry(
    shape: tuple[int, int],
    center: tuple[float, float],
    *,
    occulter: float,
    field_stop: float | None = None,
    pylon_angle: float | None = None,
    pylon_width: float = 0.0,
) -> np.ndarray:
    """Pixels that are not sky in a coronagraph image: inside the occulter radius, outside
    the field stop, and under the pylon (a strip of ``pylon_width`` pixels from the centre at
    position angle ``pylon_angle`` degrees, counter-clockwise from +x). ``center`` is (x, y)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(float)
    dx, dy = x - center[0], y - center[1]
    r = np.hypot(dx, dy)
    mask = r < occulter
    if field_stop is not None:
        mask |= r > field_stop
    if pylon_angle is not None and pylon_width > 0:
        t = np.deg2rad(pylon_angle)
        along = dx * np.cos(t) + dy * np.sin(t)
        across = -dx * np.sin(t) + dy * np.cos(t)
        mask |= (along > 0) & (np.abs(across) <= pylon_width / 2)
    return mask


def read_mask(path, shape: tuple[int, int]) -> np.ndarray:
    """A user's FITS mask (first image HDU; non-zero or NaN = missing) of the image's shape."""
    from astroi2i.errors import InputError
    from astroi2i.io.fits import read_image

    image = read_image(path)
    if image.shape != tuple(shape):
        raise InputError(f"{path}: mask is {image.shape}, the image is {tuple(shape)}")
    data = image.data[0]
    return ~np.isfinite(data) | (data != 0)
