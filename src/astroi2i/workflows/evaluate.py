"""``astroi2i evaluate``: per-band PSNR, SSIM, MAE and flux ratio of predictions against
targets, in physical units and in a stretched space, each row labelled with its space."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from astropy.table import Table

from astroi2i.errors import InputError
from astroi2i.io.fits import read_image, require_valid_pixels
from astroi2i.io.image import unit_to_string
from astroi2i.io.units import unit_mismatch
from astroi2i.metrics.image import band_metrics, psnr
from astroi2i.metrics.noise import noise_floor_psnr
from astroi2i.sky.geometry import same_grid

__all__ = [
    "evaluate",
    "match_files",
    "format_table",
    "summarize",
    "bicubic_baseline",
    "seed_stretch",
    "json_rows",
]

FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz")


def _fits_files(folder: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(folder.iterdir()) if p.name.lower().endswith(FITS_SUFFIXES)}


def match_files(pred, target) -> list[tuple[Path, Path]]:
    """Pairs of (prediction, target): two files, or two folders matched by file name."""
    pred, target = Path(pred), Path(target)
    for p in (pred, target):
        if not p.exists():
            raise FileNotFoundError(f"{p}: no such file or folder")
    if pred.is_dir() != target.is_dir():
        raise InputError(f"{pred} and {target}: give two files or two folders")
    if not pred.is_dir():
        return [(pred, target)]
    preds, targets = _fits_files(pred), _fits_files(target)
    common = sorted(set(preds) & set(targets))
    if not common:
        raise InputError(f"{pred} and {target}: no FITS file names in common")
    return [(preds[n], targets[n]) for n in common]


def _stretch_for(checkpoint, targets) -> tuple[object, str]:
    """The model's target stretch (any model form), or an asinh stretch fitted on the
    targets."""
    from astroi2i.data.stretches import AsinhStretch, build_stretch

    if checkpoint is not None:
        from astroi2i.workflows.model import describe

        desc = describe(checkpoint)
        spec = desc.stretches["targets"]
        return build_stretch(spec), f"stretched ({spec['type']} from {desc.name})"
    stretch = AsinhStretch(softening="auto").fit([t.data for t in targets])
    return stretch, "stretched (asinh, softening 3σ fitted on the targets)"


def target_exposure(stretch, target, path):
    """The target's per-band exposures when the stretch divides by one (else None)."""
    if stretch.exposure_keyword is None:
        return None
    from astroi2i.data.datasets import band_exposures

    exposure = band_exposures([target], stretch.exposure_keyword, [path])
    if not np.isfinite(exposure).all():
        raise InputError(
            f"{path}: header keyword {stretch.exposure_keyword} is missing; the model's "
            "stretch divides by it"
        )
    return exposure


def bicubic_baseline(low, target_shape: tuple[int, int]):
    """The low-resolution image resampled onto a grid f× finer by cubic-spline interpolation
    (:func:`astroi2i.baselines.bicubic_upsample`); per-pixel flux units are divided by f² so
    the total flux is kept, surface brightness is not. Returns (C, H, W) data and the
    (C, H, W) invalid mask."""
    from astroi2i.baselines import bicubic_upsample
    from astroi2i.sky.geometry import upsampled_flux_scale

    fy, fx = target_shape[0] / low.shape[0], target_shape[1] / low.shape[1]
    if fy != fx or fy != int(fy) or fy < 1:
        raise InputError(f"target {target_shape} is not an integer multiple of {low.shape}")
    f = int(fy)
    band = np.where(low.band_mask, 0.0, low.data)
    data = bicubic_upsample(band, f, upsampled_flux_scale(low.unit, f)).astype(np.float32)
    mask = np.repeat(np.repeat(low.band_mask, f, axis=1), f, axis=2)
    return data, mask


def _minmax(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``y`` scaled by the per-band min and max of ``ref`` (0 → min, 1 → max)."""
    lo = np.nanmin(ref, axis=(-2, -1), keepdims=True)
    hi = np.nanmax(ref, axis=(-2, -1), keepdims=True)
    return (y - lo) / np.where(hi > lo, hi - lo, 1.0)


def seed_stretch(data: np.ndarray, softening: float, limits_from=None) -> np.ndarray:
    """The SRGAN seed's evaluation space: asinh(x / softening), then min-max to [0, 1] *per
    image*. Not invertible and not comparable across images; offered only to set numbers
    beside the published ones.

    ``limits_from``: take the min and max from this image (the target) instead, so a
    prediction and its target share one scale. Per-image limits reward keeping the target's
    noise: a denoised prediction has a higher minimum than its noisy target, which shifts its
    whole background after the min-max."""
    y = np.arcsinh(np.asarray(data, float) / softening)
    ref = y if limits_from is None else np.arcsinh(np.asarray(limits_from, float) / softening)
    return _minmax(y, ref)


def evaluate(
    pred,
    target,
    *,
    checkpoint=None,
    report=None,
    overwrite: bool = False,
    bicubic_from=None,
    seed_softening: float | None = None,
    mask=None,
    uncertainty: bool | None = None,
) -> Table:
    """Score predictions against targets.

    Each row is one (file, band, space): ``space="physical"`` is computed on the pixel values in
    BUNIT; the stretched space is the checkpoint's target stretch (``checkpoint=``) or, without
    one, an asinh stretch fitted on the targets. PSNR uses the target's valid range as peak.
    The flux ratio is given in physical units only (NaN in the stretched rows).
    Pixels invalid in either image are ignored. With ``report`` a folder receives
    ``metrics.ecsv`` and ``metrics.json``.

    ``bicubic_from`` (a low-resolution file or folder matched by name) adds the bicubic
    baseline as rows with ``method="bicubic"``. ``seed_softening`` adds rows in the SRGAN
    seed's space (asinh + per-image min-max, :func:`seed_stretch`) and in the same space with
    the target's min-max applied to both images.

    ``mask`` (inpainting: a FITS mask, non-zero = hole, or a folder of masks matched by name)
    scores only the hole, with the biharmonic and border-mean fills of the target-with-hole
    as the methods ``biharmonic`` and ``border_mean`` (:mod:`astroi2i.metrics.inpainting`).

    ``uncertainty`` (default: whenever the predictions carry an ``UNCERT`` extension; True
    demands one) adds to the prediction's physical rows the scores of its σ
    (:func:`~astroi2i.metrics.uncertainty.coverage_metrics`: coverage of the 68.3/90/95 %
    intervals with the multipliers of the UNCERT header, mean 95 % width, Spearman of
    |residual| with σ, fraction beyond 3σ; with ``mask`` also the 68.3 % coverage by depth)
    and, with ``report``, ``reliability.png``.
    """
    pairs = match_files(pred, target)
    if report is not None:
        report = Path(report)
        for name in ("metrics.ecsv", "metrics.json"):
            if (report / name).exists() and not overwrite:
                raise FileExistsError(f"{report / name}: exists; pass --overwrite to replace it")
    lows = {}
    if bicubic_from is not None:
        for p_path, lr_path in match_files(pred, bicubic_from):
            lows[p_path] = read_image(lr_path)
        missing = [p for p, _ in pairs if p not in lows]
        if missing:
            raise InputError(f"{bicubic_from}: no low-resolution file for {missing[0].name}")
    loaded = [_read_pair(p_path, t_path) for p_path, t_path in pairs]
    stretch, label = _stretch_for(checkpoint, [t for *_, t in loaded])
    sigmas = _uncertainties(loaded, uncertainty)
    if mask is not None:
        rows = _hole_rows(loaded, mask, stretch, label, sigmas)
        comment = (
            "PSNR peak = valid target range; hole only; rmse_depth_A_B: RMSE of the hole pixels "
            "A to B pixels from the nearest known pixel"
        )
        _reliability(loaded, sigmas, report, mask)
        return _finish(Table(rows=rows), rows, report, comment)
    rows = []
    for p_path, t_path, p, t in loaded:
        candidates = [("prediction", p.data, p.band_mask)]
        if p_path in lows:
            candidates.append(("bicubic", *bicubic_baseline(lows[p_path], t.shape)))
        file_rows = _image_rows(p_path.name, candidates, t, t_path, stretch, label,
                                seed_softening)  # fmt: skip
        rows += _with_uncertainty(file_rows, sigmas.get(p_path), p.data, t)
    _reliability(loaded, sigmas, report)
    return _finish(
        Table(rows=rows),
        rows,
        report,
        "PSNR peak = max-min of the valid target pixels of each band; noise_floor_psnr = the "
        "PSNR of a perfect noiseless prediction against the noisy target",
    )


def _read_pair(p_path, t_path):
    """(paths, prediction, target), checked to be comparable: bands, grid, unit and filter."""
    p, t = read_image(p_path), read_image(t_path)
    require_valid_pixels(p, p_path)
    require_valid_pixels(t, t_path)  # nothing to score (and no stretch to fit) without one
    if p.n_bands != t.n_bands:
        raise InputError(f"{p_path}: {p.n_bands} bands, but {t_path} has {t.n_bands}")
    if p.shape != t.shape or (p.wcs is not None and t.wcs is not None and not same_grid(p, t)):
        raise InputError(f"{p_path}: not on the grid of {t_path}")
    units = [unit_to_string(im.unit) for im in (p, t)]
    differ = unit_mismatch(*units) if all(units) else None
    if differ is not None:  # scored as they are, every figure would be off by the factor
        raise InputError(f"{p_path}: the prediction {differ}, the unit of {t_path}")
    filters = [str(im.header.get("FILTER", "")).strip() for im in (p, t)]
    if all(filters) and filters[0] != filters[1]:
        raise InputError(
            f"{p_path}: a prediction of FILTER {filters[0]!r}, but {t_path} is FILTER "
            f"{filters[1]!r}; scoring one against the other would mislabel the band"
        )
    return p_path, t_path, p, t


def _image_rows(name, candidates, t, t_path, stretch, label, seed_softening) -> list[dict]:
    """One row per (method, band, space) of one target image: physical, the stretched space
    and, with ``seed_softening``, the SRGAN seed's two spaces."""
    exposure = target_exposure(stretch, t, t_path)  # the target's, for prediction and target
    t_stretched = stretch.forward(t.data, exposure=exposure)  # once per file
    if seed_softening is not None:
        t_asinh = np.arcsinh(np.asarray(t.data, float) / seed_softening)
        t_seed = _minmax(t_asinh, t_asinh)
    floors = [noise_floor_psnr(t.data[c], t.band_mask[c]) for c in range(t.n_bands)]
    rows = []
    for method, data, mask in candidates:
        invalid = mask | t.band_mask
        spaces = [
            ("physical", data, t.data),
            (label, stretch.forward(data, exposure=exposure), t_stretched),
        ]
        if seed_softening is not None:  # as seed_stretch, sharing the target's asinh
            y = np.arcsinh(np.asarray(data, float) / seed_softening)
            seed = f"seed (asinh(x/{seed_softening:g}),"
            spaces += [
                (f"{seed} per-image min-max)", _minmax(y, y), t_seed),
                (f"{seed} target's min-max)", _minmax(y, t_asinh), t_seed),
            ]
        for c, band in enumerate(t.bands):
            for space, a, b in spaces:
                m = band_metrics(a[c], b[c], invalid[c])
                if space == label or space.startswith("seed"):
                    m["flux_ratio"] = float("nan")  # sums of stretched values mean nothing
                if space.startswith("seed"):  # the seed's PSNR peak is the [0, 1] range
                    m["psnr"] = psnr(a[c], b[c], invalid[c], data_range_=1.0)
                m["noise_floor_psnr"] = floors[c] if space == "physical" else float("nan")
                rows.append({"file": name, "method": method, "band": band, "space": space, **m})
    return rows


def _uncertainties(loaded, demanded: bool | None) -> dict:
    """{prediction path: (σ, UNCERT header)} of the predictions that carry one (none when
    ``demanded`` is False; every one must when it is True)."""
    from astroi2i.io.uncertainty import read_uncertainty

    if demanded is False:
        return {}
    out = {}
    for p_path, _, p, _ in loaded:
        found = read_uncertainty(p_path, p.data.shape)
        if found is None and demanded:
            raise InputError(
                f"{p_path}: no UNCERT extension (σ) to score; translate with a model that "
                "predicts σ, or leave out --uncertainty"
            )
        if found is not None:
            out[p_path] = found
    return out


def _with_uncertainty(rows: list[dict], found, pred: np.ndarray, t, *, hole=None,
                      missing=None) -> list[dict]:  # fmt: skip
    """``rows`` with the σ columns: filled on the prediction's physical rows, NaN elsewhere;
    ``hole``: scored in the hole only, with the 68.3 % coverage by depth."""
    from astroi2i.metrics.inpainting import DEPTH_BINS, depth_bin, hole_depth
    from astroi2i.metrics.uncertainty import (
        coverage_metrics,
        read_constant_width,
        read_multipliers,
    )

    if found is None:
        return rows
    sigma, header = found
    mult = read_multipliers(header, t.n_bands)
    constant = read_constant_width(header, t.n_bands)
    depth = None if hole is None else hole_depth(missing)
    per_band = {}
    for c, band in enumerate(t.bands):
        invalid = t.band_mask[c] | ~np.isfinite(pred[c]) | (False if hole is None else ~hole)
        m = coverage_metrics(pred[c], t.data[c], sigma[c], invalid, mult[c],
                             constant_95=constant[c])  # fmt: skip
        if depth is not None:
            for lo, hi in DEPTH_BINS:
                sel = invalid | ~depth_bin(depth, lo, hi)
                m[f"cover_68_depth_{lo}_{hi or 'up'}"] = coverage_metrics(
                    pred[c], t.data[c], sigma[c], sel, mult[c])["cover_68"]  # fmt: skip
        per_band[band] = m
    keys = list(next(iter(per_band.values())))
    for row in rows:
        chosen = row["method"] == "prediction" and row["space"] == "physical"
        row.update(per_band[row["band"]] if chosen else dict.fromkeys(keys, float("nan")))
    return rows


def _reliability(loaded, sigmas: dict, report, mask=None) -> None:
    """reliability.png in ``report``: nominal against observed coverage per band, over every
    scored pixel (the hole only, with ``mask``)."""
    if report is None or not sigmas:
        return
    from astroi2i.metrics.uncertainty import reliability_curve
    from astroi2i.sky.masks import read_mask
    from astroi2i.workflows.report import reliability_figure

    curves = {}
    for p_path, _, p, t in loaded:
        if p_path not in sigmas:
            continue
        sigma = sigmas[p_path][0]
        scored = ~t.band_mask
        if mask is not None:
            m_path = Path(mask) / p_path.name if Path(mask).is_dir() else mask
            scored &= read_mask(m_path, t.shape)[None]
        for c, band in enumerate(t.bands):
            r = np.where(scored[c], p.data[c] - t.data[c], np.nan).ravel()
            curves.setdefault(band, []).append((r, sigma[c].ravel()))
    lines = {band: reliability_curve(np.concatenate([r for r, _ in parts]),
                                     np.concatenate([s for _, s in parts]))
             for band, parts in curves.items()}  # fmt: skip
    report.mkdir(parents=True, exist_ok=True)
    reliability_figure(lines, report / "reliability.png")


def _hole_rows(loaded, mask, stretch, label, sigmas=None) -> list[dict]:
    from astroi2i.baselines import biharmonic_fill, border_mean_fill
    from astroi2i.metrics.inpainting import hole_metrics
    from astroi2i.sky.masks import read_mask

    mask = Path(mask)
    if not mask.exists():
        raise FileNotFoundError(f"{mask}: no such mask file or folder")
    masks = _fits_files(mask) if mask.is_dir() else {}
    rows = []
    for p_path, t_path, p, t in loaded:
        m_path = masks.get(p_path.name) if mask.is_dir() else mask
        if m_path is None:
            raise InputError(f"{mask}: no mask for {p_path.name}")
        hole = read_mask(m_path, t.shape) & ~t.pixel_mask
        if not hole.any():
            raise InputError(f"{m_path}: the mask marks no valid target pixel")
        missing = hole | t.pixel_mask
        methods = {"prediction": p.data}
        methods["biharmonic"] = np.stack([biharmonic_fill(b, missing) for b in t.data])
        methods["border_mean"] = np.stack([border_mean_fill(b, missing) for b in t.data])
        exposure = target_exposure(stretch, t, t_path)
        t_stretched = stretch.forward(t.data, exposure=exposure)
        file_rows = []
        for method, data in methods.items():
            for space, a, b in (
                ("physical", data, t.data),
                (label, stretch.forward(data, exposure=exposure), t_stretched),
            ):
                for c, band in enumerate(t.bands):
                    m = hole_metrics(a[c], b[c], hole, missing)
                    if space != "physical":
                        m["flux_ratio"] = float("nan")
                    file_rows.append(
                        {"file": p_path.name, "method": method, "band": band, "space": space, **m}
                    )
        rows += _with_uncertainty(file_rows, (sigmas or {}).get(p_path), p.data, t, hole=hole,
                                  missing=missing)  # fmt: skip
    return rows


def _finish(table: Table, rows: list[dict], report, comment: str) -> Table:
    table.meta["comment"] = comment
    if report is not None:
        report.mkdir(parents=True, exist_ok=True)
        table.write(report / "metrics.ecsv", format="ascii.ecsv", overwrite=True)
        (report / "metrics.json").write_text(json.dumps(json_rows(rows), indent=1))
    return table


def json_rows(rows) -> list[dict]:
    """Rows (dicts, or rows of a Table) as plain JSON values: numpy scalars unwrapped, NaN and
    infinities as null."""
    out = []
    for r in rows:
        items = r.items() if isinstance(r, dict) else zip(r.colnames, r)
        plain = {k: (v.item() if hasattr(v, "item") else v) for k, v in items}
        out.append(
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in plain.items()
            }
        )
    return out


def summarize(
    table: Table,
    *,
    metrics: tuple[str, ...] = ("psnr", "ssim", "mae", "flux_ratio"),
    count: str = "n_files",
) -> Table:
    """Mean of each metric (over its finite values) and the row count per (group, method, band,
    space), using whichever of those columns the table has."""
    keys = [k for k in ("group", "method", "band", "space") if k in table.colnames]
    groups = table.group_by(keys)
    out = []
    for key, group in zip(groups.groups.keys, groups.groups):
        row = {k: key[k] for k in keys}
        row[count] = len(group)
        for col in metrics:
            values = np.asarray(group[col], float)
            finite = values[np.isfinite(values)]
            row[col] = float(finite.mean()) if finite.size else float("nan")
        out.append(row)
    return Table(rows=out)


def format_table(table: Table) -> str:
    """A fixed-width text table with 4 significant digits."""
    t = table.copy()
    for col in t.colnames:
        if t[col].dtype.kind == "f":
            t[col].info.format = ".4g"
    return "\n".join(t.pformat(max_lines=-1, max_width=-1))
