"""``astroi2i evaluate-split``: a trained model on one split of a manifest, next to baselines,
per sample and summarised per group of a manifest column (e.g. STIX single- vs multi-source).

Methods scored against the recipe's target column:
- ``model``: the checkpoint's prediction, made by :func:`~astroi2i.workflows.translate.translate`
  (the FITS files are kept under ``OUT/predictions``);
- ``baseline``: the classical baseline the model description stores, fitted on the training
  split in physical units (same-grid translation: the linear combination of the smoothed input
  bands, :class:`~astroi2i.baselines.LinearSmoothBaseline`); a warning says so for every band
  where the model's mean physical PSNR is more than 0.1 dB below it. Super-resolution models
  (``data.scale`` > 1) get the bicubic upsampling of their input instead (flux ÷ f² for
  per-pixel units, as ``evaluate --bicubic-from``), which has nothing to fit;
- ``input``: the input itself taken as the prediction, carried through the model's own
  normalisation (input stretch forward, target stretch inverse), i.e. the identity in the
  normalised space (for STIX: the back projection as a first-look image);
- one method per ``compare`` column of the manifest (e.g. CLEAN against the true flare).
Every metric is given in physical units (BUNIT) and in the target stretch's space; the flux
ratios (total, and over the source region where the target is ≥ 10% of its peak) only in
physical units. ``noise_floor_psnr`` (physical rows) is the PSNR a perfect noiseless
prediction would score against the noisy target (:mod:`astroi2i.metrics.noise`): a method
near it is at the target's noise floor, and differences there are ties.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from astroi2i.baselines import baseline_from_dict
from astroi2i.errors import InputError
from astroi2i.io.fits import read_image
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.manifest import read_manifest
from astroi2i.io.uncertainty import read_uncertainty
from astroi2i.metrics.image import band_metrics, source_flux_ratio
from astroi2i.metrics.noise import noise_floor_psnr
from astroi2i.metrics.uncertainty import UNCERTAINTY_METRICS, PooledSpearman, band_sigma_metrics
from astroi2i.sky.geometry import crop_to_grid, same_grid
from astroi2i.workflows.evaluate import bicubic_baseline, json_rows, summarize

__all__ = ["evaluate_split", "summarize_groups"]

log = logging.getLogger(__name__)

METRICS = ("psnr", "ssim", "mae", "flux_ratio", "source_flux_ratio", "noise_floor_psnr",
           *UNCERTAINTY_METRICS)  # fmt: skip


def _on_grid(image, reference, mode: str, where: str):
    """``image`` on the reference grid: as it is, or cut by whole pixels (the recipe's
    alignment, else through the WCS)."""
    if same_grid(image, reference):
        return image
    mode = "wcs" if mode == "none" else mode
    if image.wcs is None or reference.wcs is None:
        raise InputError(f"{where}: not on the input grid, and no WCS to cut it onto it")
    try:
        return crop_to_grid(image, reference.wcs, reference.shape, mode=mode)
    except ValueError as exc:
        raise InputError(f"{where}: cannot be cut onto the input grid: {exc}") from None


def evaluate_split(
    checkpoint,
    manifest,
    out,
    *,
    split: str = "test",
    group_by: str | None = None,
    compare: tuple[str, ...] = (),
    range_space: bool = False,
    overwrite: bool = False,
    device: str | None = None,
) -> tuple[Table, Table]:
    """Score ``checkpoint`` on the ``split`` rows of ``manifest``; returns (per-sample table,
    summary table) and writes both as ECSV (plus ``summary.json``) into ``out``.

    ``range_space`` adds the space ``range``: each image divided by its exposure, then the
    training set's target range mapped to [0, 1] (the published STIX BP→CLEAN evaluation);
    it needs a target stretch that ends in a LinearStretch (the range is recovered by
    inverting the steps after the exposure at 0 and 1)."""
    from astroi2i.data.datasets import load_pairs
    from astroi2i.data.stretches import build_stretch
    from astroi2i.workflows.model import load_model
    from astroi2i.workflows.translate import translate
    from astroi2i.workflows.translate_checks import resolve_device

    out = Path(out)
    device = resolve_device(device)
    loaded = load_model(checkpoint, device=device)  # once, for every translate below
    desc, data = loaded[1], loaded[1].data
    table = read_manifest(manifest)
    table.require_columns([c for c in (group_by, *compare) if c])
    require_empty_folder(out, overwrite=overwrite)
    stretch_in = build_stretch(desc.stretches["inputs"])
    stretch_out = build_stretch(desc.stretches["targets"])
    pairs = load_pairs(table, split, data["inputs"], data["targets"],
                       align_target=data["align_target"],
                       exposure_keyword=(stretch_in.exposure_keyword, stretch_out.exposure_keyword),
                       scale=data.get("scale", 1), units=desc.units)  # fmt: skip
    rows_by_id = {str(r["id"]): r for r in table.rows(split)}
    to_range = _range_space(stretch_out) if range_space else None
    baseline = baseline_from_dict(desc.baseline)
    n_in, n_out = len(desc.input_bands), len(desc.target_bands)
    same_bands = n_in == n_out and data.get("scale", 1) == 1
    upsampled = n_in == n_out and data.get("scale", 1) > 1
    records, pooled = [], PooledSpearman()
    for pair in pairs:
        row = rows_by_id[pair.key]
        where = f"{table.source} row id={pair.key}"
        cells = [table.cell(row, c) for c in data["inputs"]]
        inputs = [f"{p}:{h}" if h is not None else str(p) for p, h in cells]
        pred_path = translate(checkpoint, inputs, out / "predictions" / f"{pair.key}.fits",
                              overwrite=overwrite, device=device, loaded=loaded)  # fmt: skip
        methods = [("model", read_image(pred_path))]
        sigma = read_uncertainty(pred_path, methods[0][1].data.shape)
        methods += _baseline(pair, baseline, upsampled)
        if same_bands:  # the input in the target's unit: the stretches' round trip
            x = stretch_in.forward(pair.inputs.data, exposure=pair.input_exposure)
            base = stretch_out.inverse(x, exposure=pair.target_exposure)
            methods.append(("input", pair.inputs.replace(data=base.astype(np.float32))))
        for column in compare:
            path, hdu = table.cell(row, column)
            image = _on_grid(read_image(path, hdu=hdu), pair.target, data["align_target"], where)
            methods.append((column, image))
        e = pair.target_exposure
        spaces = [("stretched", lambda d, e=e: stretch_out.forward(d, exposure=e))]
        if range_space:
            spaces.append(("range", lambda d, e=e: to_range(d, e)))
        group = str(row[group_by]) if group_by else "all"
        records += _records(pair, group, methods, spaces, where, sigma, pooled)
    per_sample = Table(rows=records)
    per_sample.meta["stretched_space"] = desc.stretches["targets"]["type"]
    summary = summarize_groups(per_sample)
    _add_pooled(summary, pooled)
    warn_if_worse(summary, "model", "baseline")
    per_sample.write(out / "metrics.ecsv", format="ascii.ecsv", overwrite=True)
    summary.write(out / "summary.ecsv", format="ascii.ecsv", overwrite=True)
    (out / "summary.json").write_text(json.dumps(json_rows(summary), indent=1))
    return per_sample, summary


def _baseline(pair, fitted, upsampled: bool) -> list[tuple]:
    """``[("baseline", image)]``: the fitted baseline the description stores (in physical
    units), or for super-resolution the bicubic upsampling of the input (flux-conserving for
    per-pixel units); ``[]`` when the model has neither."""
    if fitted is not None:
        x = np.where(pair.inputs.band_mask, np.nan, pair.inputs.data)
        return [("baseline", pair.target.replace(data=fitted.predict(x)))]
    if upsampled:
        fine, _ = bicubic_baseline(pair.inputs, pair.target.shape)
        return [("baseline", pair.target.replace(data=fine))]
    return []


def _records(pair, group: str, methods, spaces, where: str, sigma=None,
             pooled: PooledSpearman | None = None) -> list[dict]:  # fmt: skip
    """One record per (method, band, space) of one sample: physical units and each space of
    ``spaces`` ((name, function of the data)); the model's physical rows also score its σ
    (``sigma``: (σ, UNCERT header) or None) and add pixels to ``pooled``."""
    target, records = pair.target, []
    for method, image in methods:
        if image.shape != target.shape:
            raise InputError(f"{where}: {method} is {image.shape}, target {target.shape}")
        invalid = image.band_mask | target.band_mask
        floors = [noise_floor_psnr(target.data[c], target.band_mask[c])
                  for c in range(target.n_bands)]  # fmt: skip
        by_space = [("physical", image.data, target.data)]
        by_space += [(name, f(image.data), f(target.data)) for name, f in spaces]
        for c, band in enumerate(target.bands):
            for space, a, b in by_space:
                m = band_metrics(a[c], b[c], invalid[c])
                m["source_flux_ratio"] = source_flux_ratio(a[c], b[c], invalid[c])
                m["noise_floor_psnr"] = floors[c] if space == "physical" else float("nan")
                if space != "physical":  # sums of stretched values mean nothing
                    m["flux_ratio"] = m["source_flux_ratio"] = float("nan")
                scored = sigma if method == "model" and space == "physical" else None
                m |= band_sigma_metrics(a[c], b[c], scored, invalid[c], c, target.n_bands)
                if scored is not None and pooled is not None:
                    pooled.add((group, band), a[c], b[c], sigma[0][c], invalid[c])
                records.append({"id": pair.key, "group": group, "method": method, "band": band,
                                "space": space} | {k: m[k] for k in METRICS})  # fmt: skip
    return records


def _add_pooled(summary: Table, pooled: PooledSpearman) -> None:
    """The column ``spearman_sigma_pooled`` on the model's physical rows: Spearman(|residual|,
    σ) over the pixels of all the group's samples at once (the ``all`` group: every sample),
    beside ``spearman_sigma``, the mean of the per-sample values."""
    if not len(summary):
        return
    values = np.full(len(summary), np.nan)
    for i, row in enumerate(summary):
        if row["method"] == "model" and row["space"] == "physical":
            group, band = str(row["group"]), str(row["band"])
            keys = [k for k in pooled.samples if k[1] == band and group in ("all", k[0])]
            values[i] = pooled.value(keys)
    summary["spearman_sigma_pooled"] = values


def verdict(model_db: float, baseline_db: float, *, margin_db: float = 0.1) -> str:
    """ "better than", "a tie with" or "WORSE than": the model against its baseline, ties
    within ``margin_db``."""
    if model_db < baseline_db - margin_db:
        return "WORSE than"
    return "a tie with" if model_db <= baseline_db + margin_db else "better than"


def versus(summary: Table, model: str, baseline: str) -> list[tuple]:
    """(group, band, model PSNR, baseline PSNR, noise floor) per (group, band): the mean
    physical-unit PSNRs of the two methods and the targets' mean noise floor."""
    if not len(summary) or baseline not in set(summary["method"]):
        return []
    physical = summary[summary["space"] == "physical"]
    out = []
    for row in physical[physical["method"] == model]:
        sel = (
            (physical["method"] == baseline)
            & (physical["band"] == row["band"])
            & (physical["group"] == row["group"])
        )
        for other in physical[sel]:
            floor = float(row["noise_floor_psnr"]) if "noise_floor_psnr" in row.colnames else np.nan
            out.append((row["group"], row["band"], float(row["psnr"]), float(other["psnr"]), floor))
    return out


def warn_if_worse(summary: Table, model: str, baseline: str, *, margin_db: float = 0.1) -> list:
    """Log a warning for every (group, band) where ``model``'s mean physical-unit PSNR is more
    than ``margin_db`` below ``baseline``'s; returns those (group, band, model, baseline)."""
    worse = []
    for group, band, psnr_model, psnr_base, _ in versus(summary, model, baseline):
        if verdict(psnr_model, psnr_base, margin_db=margin_db) == "WORSE than":
            worse.append((group, band, psnr_model, psnr_base))
            log.warning(
                "%s band %s (%s): the model is WORSE than its fitted classical baseline "
                "(%.2f vs %.2f dB physical PSNR)", group, band, model, psnr_model, psnr_base,
            )  # fmt: skip
    return worse


def _range_space(stretch):
    """x ↦ (x / exposure − lo) / (hi − lo), with [lo, hi] the training targets' range after the
    exposure step, recovered from a chain [ExposureStretch, …, LinearStretch]."""
    from astroi2i.data.stretches import ChainStretch, ExposureStretch, LinearStretch

    steps = stretch.stretches if isinstance(stretch, ChainStretch) else [stretch]
    if not isinstance(steps[-1], LinearStretch):
        raise InputError("--range-space needs a target stretch that ends in a LinearStretch")
    exposure = [s for s in steps if isinstance(s, ExposureStretch)]
    rest = ChainStretch(steps=[s for s in steps if not isinstance(s, ExposureStretch)])
    n = len(steps[-1].vmin)
    lo = rest.inverse(np.zeros((n, 1, 1)))[:, 0, 0]
    hi = rest.inverse(np.ones((n, 1, 1)))[:, 0, 0]

    def to_range(data, exposure_values):
        x = exposure[0].forward(data, exposure=exposure_values) if exposure else data
        return (x - lo[:, None, None]) / (hi - lo)[:, None, None]

    return to_range


def summarize_groups(table: Table) -> Table:
    """Means (and the sample count ``n``) per (group, method, band, space), with a group
    ``all`` after the others when there are several; rows ordered by space, band, method."""
    from astropy.table import vstack

    if not len(table):
        return Table()
    groups = sorted(set(table["group"]))
    parts = []
    for group in [*groups, "all"] if len(groups) > 1 else groups:
        part = table if group == "all" else table[table["group"] == group]
        if group == "all":
            part = part.copy()
            part["group"] = "all"
        summary = summarize(part, metrics=METRICS, count="n")
        summary.sort(["space", "band", "method"])
        parts.append(summary)
    return vstack(parts)
