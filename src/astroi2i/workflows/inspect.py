"""``astroi2i inspect``: what a FITS file holds, as an astronomer would want to see it first."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.stats import mad_std

from astroi2i.errors import InputError
from astroi2i.io.fits import image_hdus
from astroi2i.io.stream import ImageSource

__all__ = ["inspect_file"]


def _wcs_summary(image, shape) -> list[str]:
    if image.wcs is None:
        return ["  WCS: none (no celestial WCS; pixels only)"]
    w = image.wcs
    h, wd = shape
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
                uncert = _uncert_lines(hdul)
    except OSError as exc:
        raise InputError(f"{path}: not a readable FITS file ({exc})") from None
    lines = [f"{path}", "HDUs:", *listing]
    for index in images:
        lines += _image_lines(path, index)
    return "\n".join(lines + uncert)


def _uncert_lines(hdul) -> list[str]:
    """The UNCERT extension (a prediction's σ): its type, unit, calibration and median."""
    if "UNCERT" not in hdul:
        return []
    hdu = hdul["UNCERT"]
    head = hdu.header
    data = np.asarray(hdu.data, float)
    finite = data[np.isfinite(data) & (data > 0)]
    cal = "NOT calibrated"
    if head.get("UNCMETH") == "hole-copies":
        cal = (
            f"calibrated on copies of this image's own holes ({head.get('UNCNPIX', '?')} "
            f"pixels); {head.get('UNCNET', 0)} filled pixel(s) have the σ network's"
        )
    elif head.get("UNCCAL"):
        cal = (f"calibrated ({head.get('UNCMETH', '?')}, {head.get('UNCNPIX', '?')} pixels of "
               f"{head.get('UNCNIMG', '?')} images)")  # fmt: skip
    mult = [f"band {k[5:]}: ±{head[k]:.3g}σ" for k in head if str(k).startswith("CK95_")]
    offsets = [f"band {k[5:]}: {head[k]:.4g}" for k in head if str(k).startswith("COFF_")]
    if any(head[k] for k in head if str(k).startswith("COFF_")):
        cal += f"; offset added to the raw σ before scaling: {', '.join(offsets)}"
    powers = [f"band {k[5:]}: {head[k]:g}" for k in head if str(k).startswith("CPOW_")]
    if any(head[k] != 1 for k in head if str(k).startswith("CPOW_")):
        cal += f"; (raw σ + offset) raised to the power {', '.join(powers)}"
    return [
        f"UNCERT: {head.get('UTYPE', 'StdDevUncertainty')} in {head.get('BUNIT', '(no unit)')}, "
        f"{cal}",
        f"  ±1σ covers {head.get('UNCLEV', 0.683):.1%}; 95 % interval " + ", ".join(mult),
        f"  σ > 0 on {finite.size} pixels, median {np.median(finite):.4g}" if finite.size
        else "  σ: no positive value",
    ]  # fmt: skip


#: pixels read for the statistics at most; larger images are sampled by evenly spaced rows
STATS_PIXELS = 4_000_000


def _image_lines(path: Path, index: int) -> list[str]:
    """One image HDU's summary, read row by row: memory stays bounded whatever the header
    declares (a header that declares more data than the file holds is refused on opening)."""
    with ImageSource(path, hdu=index) as source:
        (h, w), n = source.shape, source.n_bands
        step = max(1, int(np.ceil(n * h * w / STATS_PIXELS)))
        rows = [source.read_rows(y, y + 1) for y in range(0, h, step)]
        image = source.metadata()
    sample = np.concatenate(rows, axis=1)
    invalid = ~np.isfinite(sample)
    valid = sample[~invalid]
    lines = [
        f"HDU {index}: {n} band(s) {', '.join(image.bands[:8])}" + (" …" if n > 8 else ""),
        f"  shape (C, H, W): {(n, h, w)}, dtype {np.dtype(source.dtype).name}",
        f"  unit: {image.unit if str(image.unit) else '(none)'}",
        *_wcs_summary(image, (h, w)),
        f"  invalid pixels: {invalid.mean():.2%}"
        + (f" (of every {step}th row)" if step > 1 else ""),
    ]
    if not valid.size:
        return [*lines, "  stats: no valid pixel"]
    p1, med, p99 = np.percentile(valid, [1, 50, 99])
    lines.append(
        f"  stats: min {valid.min():.4g}  p1 {p1:.4g}  median {med:.4g}  p99 {p99:.4g}  "
        f"max {valid.max():.4g}  MAD-sigma {mad_std(valid):.4g}"
        + (f" (every {step}th row)" if step > 1 else "")
    )
    return lines
