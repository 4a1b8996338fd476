"""``astroi2i prepare``: several surveys' FITS files of the same fields → one grid per field →
stamps → train/val/test split by sky region → a manifest ready for ``train``.

Bands are resampled onto the reference band's grid with reproject: bilinear interpolation for
surface-brightness units, flux-conserving adaptive resampling for per-pixel quantities (chosen
from BUNIT, overridable per band).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.table import Table
from astropy.wcs.utils import proj_plane_pixel_scales

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, write_image
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.manifest import parse_cell, write_manifest
from astroi2i.sky.geometry import cutout, reproject_image, reprojection_method, same_grid
from astroi2i.sky.regions import assign_splits, sky_cells

__all__ = ["prepare", "PrepareResult", "parse_fractions"]

log = logging.getLogger(__name__)
METHODS = ("interp", "adaptive", "exact")


@dataclass
class PrepareResult:
    manifest: Path
    stamps: dict[str, int] = field(default_factory=dict)
    dropped_invalid: int = 0
    dropped_overlap: int = 0
    methods: dict[str, set] = field(default_factory=dict)


def parse_fractions(text: str) -> dict[str, float]:
    """``"train=0.8,val=0.1,test=0.1"`` → dict: each split's share, relative to their sum.
    A share that is not a number ≥ 0, a split named twice or shares that are all 0 are an
    InputError naming the option."""
    out = {}
    for part in text.split(","):
        name, sep, value = (p.strip() for p in part.partition("="))
        try:
            share = float(value)
        except ValueError:
            raise InputError(f"--split {text!r}: expected name=fraction,…") from None
        if not sep or not name:
            raise InputError(f"--split {text!r}: expected name=fraction,…")
        if not np.isfinite(share) or share < 0:
            raise InputError(f"--split {text!r}: the share of {name!r} is {value}, "
                             "not a number ≥ 0")  # fmt: skip
        if name in out:
            raise InputError(f"--split {text!r}: {name!r} is named twice")
        out[name] = share
    if not any(out.values()):
        raise InputError(f"--split {text!r}: every share is 0")
    return out


def _read_fields(fields_csv: Path, reference: str | None) -> tuple[Table, list[str], str]:
    if not fields_csv.is_file():
        raise FileNotFoundError(f"{fields_csv}: no such file")
    try:
        table = Table.read(fields_csv, format="ascii.csv")
    except Exception as exc:  # noqa: BLE001 - astropy raises many kinds for a bad table
        raise InputError(f"{fields_csv}: not a readable CSV table ({exc})") from None
    if "field" not in table.colnames or len(table.colnames) < 2:
        raise InputError(f"{fields_csv}: needs a 'field' column and one column per band")
    bands = [c for c in table.colnames if c != "field"]
    reference = reference or bands[0]
    if reference not in bands:
        raise InputError(f"--reference {reference!r}: not a band column of {fields_csv} ({bands})")
    return table, bands, reference


def _aligned_field(row, bands, reference, base, methods, used) -> dict:
    images = {}
    for band in bands:
        image = read_image(*parse_cell(str(row[band]), base))
        # the column names the band (headers can lie: every SDSS file here says FILTER='g')
        names = (
            (band,) if image.n_bands == 1 else tuple(f"{band}_{i}" for i in range(image.n_bands))
        )
        images[band] = image.replace(bands=names)
    ref = images[reference]
    if ref.wcs is None:
        raise InputError(f"field {row['field']}: reference band {reference!r} has no celestial WCS")
    aligned = {}
    for band, image in images.items():
        if same_grid(image, ref):
            aligned[band] = image
            continue
        if image.wcs is None:
            raise InputError(f"field {row['field']}: band {band!r} has no WCS to align it with")
        method = methods.get(band) or reprojection_method(
            image.unit, f"field {row['field']} band {band!r}",
            hint=f"choose with --method {band}=interp (surface brightness) or "
            f"{band}=adaptive (flux per pixel)",
        )  # fmt: skip
        used.setdefault(band, set()).add(method)
        aligned[band] = reproject_image(image, ref.wcs, ref.shape, method=method)
    return aligned


def _stamp_centres(wcs, origins, size):
    pix = np.array([[x0 + (size - 1) / 2, y0 + (size - 1) / 2] for y0, x0 in origins])
    try:
        sky = wcs.pixel_to_world(pix[:, 0], pix[:, 1]).icrs
        return sky.ra.deg, sky.dec.deg
    except Exception:  # noqa: BLE001 - frames without a route to ICRS (e.g. helioprojective)
        return None, None


def prepare(
    fields_csv,
    out,
    *,
    reference: str | None = None,
    stamp: int = 128,
    step: int | None = None,
    max_invalid: float = 0.05,
    fractions: dict[str, float] | None = None,
    region_deg: float | None = None,
    methods: dict[str, str] | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> PrepareResult:
    """Align, cut, split and write stamps; returns counts and the manifest path.

    Parameters
    ----------
    fields_csv : path
        CSV with a ``field`` column and one column per band (``path[:HDU]``, relative to the
        CSV). Bands may be on different grids; each field's ``reference`` band sets its grid.
    stamp, step : int
        Stamp edge and spacing in reference pixels (``step`` defaults to ``stamp``: no overlap).
    max_invalid : float
        Stamps with a larger fraction of invalid pixels (in any band) are dropped.
    fractions : dict
        Split name → fraction of stamps (default train 0.8, val 0.1, test 0.1).
    region_deg : float
        Sky cells dealt to splits as a whole (default: 4 stamps across). A stamp that would
        still overlap a stamp of another split is dropped from the larger split.
    """
    fields_csv, out = Path(fields_csv), Path(out)
    fractions = fractions or {"train": 0.8, "val": 0.1, "test": 0.1}
    methods = methods or {}
    for band, method in methods.items():
        if method not in METHODS:
            raise InputError(f"--method {band}={method}: known methods are {', '.join(METHODS)}")
    if stamp < 8 or (step is not None and step < 1) or not 0 <= max_invalid <= 1:
        raise InputError(f"stamp {stamp}, step {step}, max_invalid {max_invalid}: out of range")
    table, bands, reference = _read_fields(fields_csv, reference)
    unknown = set(methods) - set(bands)
    if unknown:
        raise InputError(f"--method: {sorted(unknown)} are not band columns ({bands})")
    require_empty_folder(out, overwrite=overwrite)
    result = PrepareResult(out / "manifest.csv")
    stamps = []  # (field, aligned, origin, ra, dec, scale_deg)
    for row in table:
        aligned = _aligned_field(row, bands, reference, fields_csv.parent, methods, result.methods)
        stamps += _field_stamps(str(row["field"]), aligned, reference, stamp, step or stamp,
                                max_invalid, result)  # fmt: skip
    if not stamps:
        raise InputError(f"{fields_csv}: no stamp of {stamp}² px has ≤ {max_invalid:.0%} invalid")
    size_deg = stamp * float(np.median([s[5] for s in stamps]))
    splits = assign_splits(_sky_regions(stamps, region_deg or 4 * size_deg), fractions, seed=seed)
    # the smallest split keeps its stamps; larger ones lose the stamps that touch it
    order = {name: i for i, name in enumerate(sorted(fractions, key=fractions.get))}
    keep_idx = _drop_overlaps(stamps, splits, order, stamp, size_deg)
    result.dropped_overlap = len(stamps) - len(keep_idx)
    rows = [
        _write_stamp(n, stamps[i], splits[i], bands, reference, stamp, out, result, overwrite)
        for n, i in enumerate(keep_idx)
    ]
    write_manifest(rows, result.manifest, overwrite=True)
    return result


def _field_stamps(name, aligned, reference, stamp, step, max_invalid, result) -> list[tuple]:
    """The stamps of one aligned field with at most ``max_invalid`` invalid pixels (in any
    band): (field, aligned, origin, ra, dec, scale_deg) each."""
    ref = aligned[reference]
    h, w = ref.shape
    invalid = np.zeros((h, w), bool)
    for image in aligned.values():
        invalid |= image.pixel_mask
    origins = [(y0, x0) for y0 in range(0, h - stamp + 1, step)
               for x0 in range(0, w - stamp + 1, step)]  # fmt: skip
    keep = [o for o in origins
            if invalid[o[0] : o[0] + stamp, o[1] : o[1] + stamp].mean() <= max_invalid]  # fmt: skip
    result.dropped_invalid += len(origins) - len(keep)
    ra, dec = _stamp_centres(ref.wcs, keep, stamp) if keep else (None, None)
    scale = float(np.mean(np.abs(proj_plane_pixel_scales(ref.wcs))))  # deg per pixel
    return [
        (name, aligned, origin, None if ra is None else ra[i], None if dec is None else dec[i],
         scale)
        for i, origin in enumerate(keep)
    ]  # fmt: skip


def _sky_regions(stamps, region: float) -> list[str]:
    """The sky cell of each stamp (``region`` degrees across), dealt to splits as a whole;
    without a route to ICRS, regions of the field's own pixel grid."""
    if all(s[3] is not None for s in stamps):
        cells = sky_cells(np.array([s[3] for s in stamps]), np.array([s[4] for s in stamps]),
                          region)  # fmt: skip
        return [str(c) for c in cells]
    cell_px = max(1, int(round(region / stamps[0][5])))
    log.info("no ICRS positions for these images; splitting by %d-pixel regions", cell_px)
    return [f"{s[0]}:{s[2][0] // cell_px}:{s[2][1] // cell_px}" for s in stamps]


def _write_stamp(n, stamp_entry, split, bands, reference, stamp, out, result, overwrite) -> dict:
    """Cut and write every band of one stamp; returns its manifest row."""
    name, aligned, (y0, x0), ra, dec, _ = stamp_entry
    key = f"{name}_{n:05d}"
    row = {"split": split, "id": key, "field": name, "x0": x0, "y0": y0,
           "ra": np.nan if ra is None else ra, "dec": np.nan if dec is None else dec}  # fmt: skip
    for band in bands:
        cut = cutout(aligned[band], (x0 + (stamp - 1) / 2, y0 + (stamp - 1) / 2), stamp)
        path = out / split / f"{key}_{band}.fits"
        provenance = {
            "task": "prepare",
            "field": name,
            "band": band,
            "grid": f"reference band {reference}, stamp origin x={x0} y={y0}",
            "resampling": ",".join(sorted(result.methods.get(band, {"none"}))),
        }
        write_image(cut, path, overwrite=overwrite, provenance=provenance)
        row[band] = str(path.relative_to(out))
    result.stamps[split] = result.stamps.get(split, 0) + 1
    return row


def _neighbours(stamps, size, size_deg) -> dict[int, set[int]]:
    """Pairs of stamps whose footprints may overlap: same field (pixel boxes) or, across
    fields, centres closer than a stamp on the sky (KD-tree search)."""
    pairs: dict[int, set[int]] = {i: set() for i in range(len(stamps))}
    by_field: dict[str, list[int]] = {}
    for i, s in enumerate(stamps):
        by_field.setdefault(s[0], []).append(i)
    for members in by_field.values():
        origins = np.array([stamps[i][2] for i in members])
        for a, i in enumerate(members):
            close = np.all(np.abs(origins - origins[a]) < size, axis=1)
            pairs[i].update(members[b] for b in np.flatnonzero(close) if members[b] != i)
    if len(by_field) > 1 and all(s[3] is not None for s in stamps):
        import astropy.units as u
        from astropy.coordinates import SkyCoord, search_around_sky

        coords = SkyCoord([s[3] for s in stamps], [s[4] for s in stamps], unit="deg")
        first, second, _, _ = search_around_sky(coords, coords, size_deg * u.deg)
        for i, j in zip(first.tolist(), second.tolist()):
            if i != j and stamps[i][0] != stamps[j][0]:
                pairs[i].add(j)
    return pairs


def _drop_overlaps(stamps, splits, order, size, size_deg) -> list[int]:
    """Indices of stamps to keep: a stamp that may overlap a kept stamp of a split earlier in
    ``order`` is dropped, so no pixel of the sky is in two splits."""
    pairs = _neighbours(stamps, size, size_deg)
    kept: set[int] = set()
    for i in sorted(range(len(stamps)), key=lambda i: order[splits[i]]):
        if not any(j in kept and splits[j] != splits[i] for j in pairs[i]):
            kept.add(i)
    return sorted(kept)
