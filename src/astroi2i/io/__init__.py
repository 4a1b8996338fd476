"""SkyImage (the core in-memory image type), FITS reading and writing, and manifests. No torch
here."""

from astroi2i.io.fits import (
    image_hdus,
    read_image,
    require_valid_pixels,
    write_image,
)
from astroi2i.io.image import SkyImage
from astroi2i.io.manifest import Manifest, parse_cell, read_manifest, write_manifest

__all__ = [
    "SkyImage",
    "read_image",
    "write_image",
    "image_hdus",
    "require_valid_pixels",
    "Manifest",
    "read_manifest",
    "write_manifest",
    "parse_cell",
]
