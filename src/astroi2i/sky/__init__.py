"""Sky geometry: grid comparison, cutouts, rescaling, reprojection (SkyImage itself lives in
:mod:`astroi2i.io.image`, the layer that reads it, and is re-exported here). No torch here."""

from astroi2i.io.image import SkyImage
from astroi2i.sky.geometry import (
    crop_to_grid,
    cutout,
    pixel_offset,
    read_images,
    reproject_image,
    rescale_wcs,
    same_grid,
    stack_bands,
)

__all__ = [
    "SkyImage",
    "stack_bands",
    "read_images",
    "same_grid",
    "pixel_offset",
    "crop_to_grid",
    "cutout",
    "reproject_image",
    "rescale_wcs",
]
