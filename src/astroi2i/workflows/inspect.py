"""``astroi2i inspect``: what a FITS file holds, as an astronomer would want to see it first."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io.fits import image_hdus, read_image

__all__ = ["inspect_file"]


def _wcs_summary(image) -> list[str]:
    if image.wcs is None:
        return ["  WCS: none (no celestial WCS; pixels only)"]
    w = image.wcs
    h, wd = image.shape
    centre = w.pixel_to_world_values((wd - 1) / 2, (h - 1) / 2)
    from astropy.wcs.utils import proj_plane_pixel_scales

    scales = np.abs(proj_plane_pixel_scales(w))  # in the WCS's CUNITs
    units = [str(u) for u in w.wcs.cunit]
    if units and units[0] in ("deg", ""):
        scale_txt = ", ".join(f"{s * 3600:.4g}″" for s in scales)
    else:
        scale_txt = ", ".join(f"{s:.4g} {u}" for s, u in zip(scales, units))
    lines = [
        f"  WCS: {' '.join(w.wcs.ctype)}" + (" + SIP" if w.sip is not None else ""),
        f"  centre: ({float(centre[0]):.6f}, {float(centre[1]):.6f}) {' '.join(units)}",
        f"  pixel scale: {scale_txt}",
    ]
    return lines


def inspect_file(path) -> str:
    """A text report: HDUs, then for each image HDU its shape, bands, unit, WCS, NaN fraction
    and robust statistics."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path) as hdul:
                listing = [
                    f"{i:>3}  {h.name:<16} {type(h).__name__:<14} "
                    f"{'×'.join(map(str, h.shape)) if getattr(h, 'shape', None) else '-'}"
                    for i, h in enumerate(hdul)
                ]
                images = image_hdus(hdul)
    except OSError as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from None
    lines = [f"{path}", "HDUs:", *listing]
    for index in images:
        image = read_image(path, hdu=index)
        data = image.data
        valid = data[~image.band_mask]
        lines += [
            f"HDU {index}: {image.n_bands} band(s) {', '.join(image.bands[:8])}"
            + (" …" if image.n_bands > 8 else ""),
            f"  shape (C, H, W): {data.shape}, dtype float32",
            f"  unit: {image.unit if str(image.unit) else '(none)'}",
            *_wcs_summary(image),
            f"  invalid pixels: {image.band_mask.mean():.2%}",
        ]
        if valid.size:
            p1, med, p99 = np.percentile(valid, [1, 50, 99])
            mad = 1.4826 * np.median(np.abs(valid - med))
            lines.append(
                f"  stats: min {valid.min():.4g}  p1 {p1:.4g}  median {med:.4g}  p99 {p99:.4g}  "
                f"max {valid.max():.4g}  MAD-sigma {mad:.4g}"
            )
        else:
            lines.append("  stats: no valid pixel")
    return "\n".join(lines)
