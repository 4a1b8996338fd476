"""Geometric augmentation and cropping applied identically to every array of a sample."""

from __future__ import annotations

import numpy as np

__all__ = ["dihedral", "crop_origin", "N_DIHEDRAL", "augmentation_group"]

N_DIHEDRAL = 8


def dihedral(array: np.ndarray, k: int) -> np.ndarray:
    """Element ``k`` (0–7) of the dihedral group D4 on the last two axes: ``k % 4`` quarter
    turns, then a left-right flip when ``k >= 4``. Element 0 is the identity."""
    if not 0 <= k < N_DIHEDRAL:
        raise ValueError(f"dihedral element must be 0..7, got {k}")
    out = np.rot90(array, k % 4, axes=(-2, -1))
    return out[..., ::-1] if k >= 4 else out


def augmentation_group(augment: bool | str) -> tuple[int, ...]:
    """The dihedral elements an ``augment`` setting draws from: ``True``/``"dihedral"`` all 8,
    ``"rot180"`` the identity and the half turn (valid when the instrument's PSF is only
    point-symmetric, like a Fourier imager's), ``False`` the identity."""
    if augment is True or augment == "dihedral":
        return tuple(range(N_DIHEDRAL))
    if augment == "rot180":
        return (0, 2)
    if augment is False or augment is None:
        return (0,)
    raise ValueError(f"unknown augment setting {augment!r}; known: true, false, dihedral, rot180")


def crop_origin(
    shape: tuple[int, int], size: int, mode: str, rng: np.random.Generator | None = None
) -> tuple[int, int]:
    """Top-left (y, x) of a ``size``×``size`` crop in an image of ``shape``.

    ``mode``: ``"random"`` (uniform over all positions), ``"center"``.
    """
    h, w = shape
    if size > h or size > w:
        raise ValueError(f"crop size {size} is larger than the image ({h}×{w})")
    if mode == "center":
        return (h - size) // 2, (w - size) // 2
    if mode == "random":
        rng = rng or np.random.default_rng()
        return int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    raise ValueError(f"unknown crop mode {mode!r}; known: 'random', 'center'")
