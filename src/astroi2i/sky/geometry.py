"""WCS geometry on SkyImages: grid comparison, band stacking, integer-pixel alignment, cutouts,
reprojection.

Every function that changes geometry returns a new SkyImage with a new WCS.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.wcs import WCS

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image
from astroi2i.io.image import SkyImage, unit_to_string
from astroi2i.io.wcs_keys import SKY_AXES, SOLAR_AXES

__all__ = [
    "same_grid",
    "pixel_offset",
    "crop_to_grid",
    "cutout",
    "reproject_image",
    "reprojection_method",
    "is_surface_brightness",
    "upsampled_flux_scale",
    "rescale_wcs",
    "stack_bands",
    "read_images",
    "pixel_scale_arcsec",
    "sky_frame",
    "FRAME_NAMES",
]

#: how messages name each kind of coordinates :func:`sky_frame` tells apart
FRAME_NAMES = {"sky": "sky coordinates (RA/Dec, Galactic or ecliptic axes)",
               "solar": "solar coordinates (helioprojective or heliographic axes)"}  # fmt: skip


def pixel_scale_arcsec(wcs: WCS | None) -> float | None:
    """Mean pixel edge of a celestial WCS in arcsec (None without one)."""
    if wcs is None or not wcs.has_celestial:
        return None
    from astropy.wcs.utils import proj_plane_pixel_scales

    celestial = wcs if wcs.naxis == 2 else wcs.celestial  # .celestial copies the WCS
    return float(np.mean(proj_plane_pixel_scales(celestial))) * 3600.0


def sky_frame(wcs: WCS | None) -> str:
    """``"solar"`` for a helioprojective or heliographic WCS, ``"sky"`` for RA/Dec, Galactic,
    ecliptic or supergalactic axes, ``""`` without a celestial WCS or for other axis types."""
    if wcs is None or not wcs.has_celestial:
        return ""
    longitude = wcs.wcs.lngtyp.strip().upper()
    if longitude in SOLAR_AXES:
        return "solar"
    return "sky" if longitude in SKY_AXES else ""


def _probe_pixels(shape: tuple[int, int]) -> np.ndarray:
    """A few pixel positions (x, y) spread over a grid: corners, edge midpoints and centre."""
    h, w = shape
    xs = np.array([0, (w - 1) / 2, w - 1])
    ys = np.array([0, (h - 1) / 2, h - 1])
    xx, yy = np.meshgrid(xs, ys)
    return np.stack([xx.ravel(), yy.ravel()])


def _map_pixels(src: WCS, dst: WCS, pixels: np.ndarray) -> np.ndarray:
    """Pixel positions of ``src`` expressed in ``dst``'s pixel frame (through the sky)."""
    world = src.pixel_to_world_values(pixels[0], pixels[1])
    x, y = dst.world_to_pixel_values(*world)
    return np.stack([np.asarray(x, float), np.asarray(y, float)])


def pixel_offset(
    wcs: WCS, shape: tuple[int, int], reference: WCS, *, tolerance: float = 0.01
) -> tuple[float, float] | None:
    """Where pixel (0, 0) of ``wcs`` falls on the ``reference`` grid, when the two grids differ
    by a pure shift; ``None`` when they differ by more (scale, rotation, projection).

    Returns (dx, dy) in reference pixels (0-based). ``tolerance`` is in pixels. Grids on
    other kinds of axes (RA/Dec and Galactic, or helioprojective) differ by more even when
    their numbers agree: their world values are not comparable.
    """
    if (wcs.wcs.lngtyp, wcs.wcs.lattyp) != (reference.wcs.lngtyp, reference.wcs.lattyp):
        return None
    pixels = _probe_pixels(shape)
    mapped = _map_pixels(wcs, reference, pixels)
    shift = mapped - pixels
    if not np.all(np.isfinite(shift)):
        return None
    if np.ptp(shift[0]) > tolerance or np.ptp(shift[1]) > tolerance:
        return None
    return float(np.mean(shift[0])), float(np.mean(shift[1]))


def same_grid(a: SkyImage, b: SkyImage, *, tolerance: float = 0.01) -> bool:
    """True when two images have the same shape and their pixels sit on the same sky positions
    to within ``tolerance`` pixels. Two images without WCS count as the same grid only if their
    shapes agree (nothing else can be checked)."""
    if a.shape != b.shape:
        return False
    if a.wcs is None or b.wcs is None:
        return a.wcs is None and b.wcs is None
    offset = pixel_offset(a.wcs, a.shape, b.wcs, tolerance=tolerance)
    return offset is not None and abs(offset[0]) <= tolerance and abs(offset[1]) <= tolerance


def _slice_wcs(wcs: WCS | None, y0: int, x0: int) -> WCS | None:
    return None if wcs is None else wcs.slice((slice(y0, None), slice(x0, None)))


def crop_to_grid(
    image: SkyImage, reference: WCS, shape: tuple[int, int], *, mode: str = "wcs"
) -> SkyImage:
    """Crop ``image`` by whole pixels so that it lands on the ``reference`` grid of ``shape``.

    This is the STIX 257→256 case: a CLEAN map one pixel larger than its back-projection is cut
    so the source stays at the same pixel. ``mode="wcs"`` finds the offset through the sky and
    requires a pure integer shift; ``mode="crpix"`` uses the difference of CRPIX (for grids that
    only share a reference pixel).

    Raises ValueError when the offset is not a whole number of pixels or the crop falls outside.
    """
    if image.wcs is None:
        raise ValueError("crop_to_grid needs a WCS on the image")
    if mode == "wcs":
        offset = pixel_offset(reference, shape, image.wcs)
        if offset is None:
            raise ValueError("grids differ by more than a shift; reproject instead of cropping")
    elif mode == "crpix":
        c_img, c_ref = image.wcs.wcs.crpix, reference.wcs.crpix
        offset = (c_img[0] - c_ref[0], c_img[1] - c_ref[1])
    else:
        raise ValueError(f"unknown crop mode {mode!r}; known: 'wcs', 'crpix'")
    dx, dy = offset
    x0, y0 = int(round(dx)), int(round(dy))
    if abs(dx - x0) > 0.01 or abs(dy - y0) > 0.01:
        raise ValueError(f"grid offset ({dx:.3f}, {dy:.3f}) px is not a whole number of pixels")
    h, w = shape
    if x0 < 0 or y0 < 0 or y0 + h > image.shape[0] or x0 + w > image.shape[1]:
        raise ValueError(
            f"a {h}×{w} crop at pixel offset ({x0}, {y0}) does not fit in a "
            f"{image.shape[0]}×{image.shape[1]} image"
        )
    return _crop(image, y0, x0, h, w)


def _crop(image: SkyImage, y0: int, x0: int, h: int, w: int) -> SkyImage:
    sl = (slice(y0, y0 + h), slice(x0, x0 + w))
    mask = image.mask[sl] if image.mask.ndim == 2 else image.mask[(slice(None), *sl)]
    return image.replace(
        data=np.ascontiguousarray(image.data[(slice(None), *sl)]),
        mask=np.ascontiguousarray(mask),
        wcs=_slice_wcs(image.wcs, y0, x0),
    )


def cutout(image: SkyImage, center, size: int | tuple[int, int]) -> SkyImage:
    """A ``size`` cutout centred on ``center``: a (x, y) 0-based pixel position or a SkyCoord.

    The cutout must lie inside the image (no partial cutouts). The returned WCS is sliced, so
    every pixel keeps its sky position.
    """
    from astropy.coordinates import SkyCoord

    h, w = (size, size) if isinstance(size, int) else size
    if isinstance(center, SkyCoord):
        if image.wcs is None:
            raise ValueError("a sky-position cutout needs a WCS on the image")
        cx, cy = image.wcs.world_to_pixel(center)
    else:
        cx, cy = center
    x0 = int(np.floor(float(cx) - (w - 1) / 2 + 0.5))
    y0 = int(np.floor(float(cy) - (h - 1) / 2 + 0.5))
    if x0 < 0 or y0 < 0 or y0 + h > image.shape[0] or x0 + w > image.shape[1]:
        raise ValueError(f"a {h}×{w} cutout at ({float(cx):.1f}, {float(cy):.1f}) leaves the image")
    return _crop(image, y0, x0, h, w)


#: edge of the blocks reproject works in for large output grids (pixels)
REPROJECT_BLOCK = 2048


def reproject_image(
    image: SkyImage, wcs: WCS, shape: tuple[int, int], *, method: str = "interp"
) -> SkyImage:
    """Resample ``image`` onto another grid with ``reproject``.

    ``method="interp"`` (bilinear) assumes surface-brightness units and is not flux-conserving.
    ``method="adaptive"`` conserves flux (``conserve_flux=True``) for per-pixel flux units, and
    ``"exact"`` is reproject's spherical-polygon algorithm (surface brightness, exact overlap).
    Pixels outside the input footprint, or touched by invalid input pixels, become masked.
    """
    import reproject

    if image.wcs is None:
        raise ValueError("reprojection needs a WCS on the image")
    # the whole cube in one call (reproject broadcasts the leading band axis over the 2-D
    # WCS); grids larger than REPROJECT_BLOCK² go block by block, so memory stays bounded
    blocked = max(shape) > REPROJECT_BLOCK
    kwargs = {"block_size": (image.n_bands, REPROJECT_BLOCK, REPROJECT_BLOCK)} if blocked else {}
    funcs = {
        "interp": lambda d: reproject.reproject_interp(
            (d, image.wcs), wcs, shape_out=shape, order="bilinear", **kwargs
        ),
        "adaptive": lambda d: reproject.reproject_adaptive(
            (d, image.wcs), wcs, shape_out=shape, conserve_flux=True, **kwargs
        ),
        "exact": lambda d: reproject.reproject_exact(
            (d, image.wcs), wcs, shape_out=shape, **kwargs
        ),
    }
    if method not in funcs:
        raise ValueError(f"unknown reprojection method {method!r}; known: {sorted(funcs)}")
    cube = np.where(image.band_mask, np.nan, image.data).astype(np.float64)
    out, footprint = funcs[method](cube)
    mask = (footprint <= 0) | ~np.isfinite(out)
    data = np.where(mask, np.nan, out).astype(np.float32)
    return image.replace(data=data, mask=mask, wcs=wcs.deepcopy())


def is_surface_brightness(unit) -> bool:
    """True for units per solid angle (MJy/sr, nmgy/arcsec², mag/arcsec²…): values that do not
    change when pixels are resampled. Counts, DN and fluxes per pixel are not."""
    import astropy.units as u

    if isinstance(unit, str):
        try:
            unit = u.Unit(unit, parse_strict="silent")
        except (ValueError, TypeError):
            return False
    if not isinstance(unit, u.UnitBase) or isinstance(unit, u.UnrecognizedUnit):
        return False
    try:
        decomposed = unit.decompose()
    except (AttributeError, u.UnitsError):
        return False
    powers = dict(zip(decomposed.bases, decomposed.powers))
    return powers.get(u.rad, 0) < 0 or powers.get(u.sr, 0) < 0


def upsampled_flux_scale(unit, factor: int) -> float:
    """What a value becomes per pixel on a grid ``factor``× finer: 1 for surface brightness,
    1/factor² for counts, DN, fluxes per pixel or no unit (the total flux is kept)."""
    return 1.0 if is_surface_brightness(unit) else 1.0 / (int(factor) ** 2)


def reprojection_method(unit, where: str = "image", *, hint: str = "") -> str:
    """``"interp"`` (bilinear) for surface-brightness units, ``"adaptive"`` with flux
    conservation for per-pixel quantities (counts, DN, flux per pixel, or no unit).

    A BUNIT astropy cannot parse (``W/m^2-sr``, ``JY/BEAM``) says nothing about which it is,
    and the wrong choice scales the band by the pixel-area ratio while BUNIT stays: an
    InputError naming ``where`` (and ``hint``, how to choose the method by hand)."""
    import astropy.units as u

    if isinstance(unit, str) and unit.strip():
        try:
            unit = u.Unit(unit, parse_strict="raise")
        except (ValueError, TypeError):
            unit = u.UnrecognizedUnit(unit)
    if isinstance(unit, u.UnrecognizedUnit):
        raise InputError(
            f"{where}: BUNIT {unit.to_string()!r} is not a unit astropy understands, so it is "
            "unknown whether to resample it as surface brightness (bilinear) or as flux per "
            f"pixel (flux-conserving){'; ' + hint if hint else ''}"
        )
    return "interp" if is_surface_brightness(unit) else "adaptive"


def rescale_wcs(wcs: WCS, factor: float) -> WCS:
    """The WCS of the same sky on a grid ``factor`` times finer (``factor`` > 1, the
    super-resolution output) or coarser (``factor`` = 1/f < 1, block-binning by f).

    New pixel x' covers old pixel x = (x' + 0.5)/factor − 0.5 (0-based centres), so
    CRPIX' = factor·(CRPIX − 0.5) + 0.5, the pixel scale (CDELT, or CD) is divided by
    ``factor``, and SIP coefficients A_pq, B_pq (and the inverse AP, BP) are multiplied by
    factor^(1 − p − q). Every new pixel centre lands where the old WCS puts that position.
    """
    if not factor > 0:
        raise ValueError(f"factor must be positive, got {factor}")
    f = float(factor)
    out = wcs.deepcopy()
    out.wcs.crpix = f * (np.asarray(wcs.wcs.crpix) - 0.5) + 0.5
    if wcs.wcs.has_cd():
        out.wcs.cd = np.asarray(wcs.wcs.cd) / f
    else:
        out.wcs.cdelt = np.asarray(wcs.wcs.cdelt) / f
    if wcs.sip is not None:
        from astropy.wcs import Sip

        def scaled(coeffs):
            if coeffs is None:
                return None
            p, q = np.indices(coeffs.shape)
            return coeffs * f ** (1 - p - q)

        sip = wcs.sip
        out.sip = Sip(scaled(sip.a), scaled(sip.b), scaled(sip.ap), scaled(sip.bp), out.wcs.crpix)
    if wcs.pixel_shape is not None:
        out.pixel_shape = tuple(int(round(n * f)) for n in wcs.pixel_shape)
    return out


def stack_bands(images: list[SkyImage]) -> SkyImage:
    """Stack several images on one grid into one multi-band SkyImage.

    The first image's WCS, header and unit are kept. Raises ValueError when the grids differ
    (use :func:`astroi2i.sky.reproject_image` first) or when units differ.
    """
    if not images:
        raise ValueError("stack_bands needs at least one image")
    first = images[0]
    for other in images[1:]:
        if not same_grid(first, other):
            raise ValueError(
                f"bands {first.bands} and {other.bands} are not on the same pixel grid; "
                "reproject them first (translate --align does this)"
            )
    data = np.concatenate([im.data for im in images], axis=0)
    mask = np.concatenate([im.band_mask for im in images], axis=0)
    bands = tuple(b for im in images for b in im.bands)
    units = {unit_to_string(im.unit) for im in images}
    unit = first.unit if len(units) == 1 else ",".join(unit_to_string(im.unit) for im in images)
    return SkyImage(data, first.wcs, unit, mask, bands, first.header)


def read_images(sources: Sequence, *, bands: Sequence[str] | None = None) -> SkyImage:
    """Read several files (each ``path[:HDU]``, any channel count) and stack them as bands of
    one image. The grids must agree; see :func:`stack_bands`."""
    images = [read_image(s) for s in sources]
    try:
        image = stack_bands(images)
    except ValueError as exc:
        raise InputError(f"{', '.join(map(str, sources))}: {exc}") from None
    return image.replace(bands=tuple(bands)) if bands is not None else image
