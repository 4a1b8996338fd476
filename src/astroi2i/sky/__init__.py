"""Sky-side types and geometry: SkyImage, grid comparison, cutouts, reprojection. No torch here."""

from astroi2i.sky.geometry import (
    crop_to_grid,
    cutout,
    pixel_offset,
    reproject_image,
    rescale_wcs,
    same_grid,
)
from astroi2i.sky.image import SkyImage, stack_bands

__all__ = [
    "SkyImage",
    "stack_bands",
    "same_grid",
    "pixel_offset",
    "crop_to_grid",
    "cutout",
    "reproject_image",
    "rescale_wcs",
]
