"""FITS reading and writing, and manifests. No torch here."""

from astroi2i.io.fits import (
    image_hdus,
    read_image,
    read_images,
    require_valid_pixels,
    write_image,
)
from astroi2i.io.manifest import Manifest, parse_cell, read_manifest, write_manifest

__all__ = [
    "read_image",
    "read_images",
    "write_image",
    "image_hdus",
    "require_valid_pixels",
    "Manifest",
    "read_manifest",
    "write_manifest",
    "parse_cell",
]
