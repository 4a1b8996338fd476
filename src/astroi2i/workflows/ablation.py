"""``astroi2i ablation``: train one recipe with several input sets (same seed, same data, same
everything else) and compare them on the held-out split in one table — the multi-survey seed's
"optical only / + IR / + UV" comparison, with numbers instead of impressions."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.table import Table

from astroi2i.errors import InputError
from astroi2i.io.folders import require_empty_folder
from astroi2i.metrics.uncertainty import UNCERTAINTY_METRICS, band_sigma_metrics

__all__ = ["ablation"]

log = logging.getLogger(__name__)


def _variant_name(bands: list[str]) -> str:
    return "+".join(bands)


def ablation(
    recipe,
    variants: list[list[str]],
    *,
    overrides=(),
    workdir="ablation",
    split: str = "test",
    overwrite: bool = False,
) -> tuple[Table, Table]:
    """Train each input variant and score it on ``split``.

    Returns (per-stamp rows, means per variant/band/space). Rows hold PSNR, SSIM, MAE (physical
    and the checkpoint's stretched space), the total-flux ratio and the median point-source
    aperture-flux error (physical only).
    """
    from astroi2i.io.manifest import read_manifest
    from astroi2i.workflows.train import prepare_recipe, train

    if len(variants) < 2:
        raise InputError("--inputs: give at least two input sets to compare")
    base = prepare_recipe(recipe, overrides)
    targets = base["data"]["targets"]
    if len(targets) != 1:
        raise InputError(f"data.targets: ablation scores one target column, got {targets}")
    manifest = read_manifest(base["data"]["manifest"])
    manifest.require_columns([b for v in variants for b in v] + targets)
    if len(manifest.rows(split)) == 0:
        raise InputError(f"{manifest.source}: no rows with split == {split!r} to score on")
    workdir = Path(workdir)
    require_empty_folder(workdir, overwrite=overwrite)
    rows = []
    for bands in variants:
        name = _variant_name(bands)
        log.info("ablation: training %s", name)
        result = train(recipe, overrides=[*overrides, f"data.inputs=[{','.join(bands)}]"],
                       workdir=workdir / name, overwrite=True)  # fmt: skip
        rows += _variant_rows(name, result.checkpoint, bands, manifest, split, targets[0],
                              workdir / name / "predictions")  # fmt: skip
    table = Table(rows=rows)
    names = [n for bands in variants for n in (_variant_name(bands), _baseline_name(bands))]
    summary = _summary(table, [n for n in names if n in set(table["variant"])])
    table.write(workdir / "ablation_rows.ecsv", format="ascii.ecsv", overwrite=True)
    summary.write(workdir / "ablation.ecsv", format="ascii.ecsv", overwrite=True)
    return table, summary


def _baseline_name(bands: list[str]) -> str:
    return f"{_variant_name(bands)} (fitted baseline)"


def _variant_rows(name, checkpoint, bands, manifest, split, target, folder) -> list[dict]:
    """Translate and score the ``split`` rows with one variant's model and with the classical
    baseline fitted on the same inputs (its model description holds it): physical units (with
    the point-source aperture-flux error and the target's noise floor; for a model that writes
    σ, its coverage columns as ``evaluate`` gives them) and the model's stretched space."""
    from astroi2i.baselines import baseline_from_dict
    from astroi2i.data.stretches import build_stretch
    from astroi2i.io.fits import read_image
    from astroi2i.io.uncertainty import read_uncertainty
    from astroi2i.metrics.image import band_metrics
    from astroi2i.metrics.noise import noise_floor_psnr
    from astroi2i.metrics.science import point_source_flux_error
    from astroi2i.workflows.evaluate import target_exposure
    from astroi2i.workflows.model import describe
    from astroi2i.workflows.translate import translate

    desc = describe(checkpoint)
    stretch, baseline = build_stretch(desc.stretches["targets"]), baseline_from_dict(desc.baseline)
    rows = []
    for row in manifest.rows(split):
        inputs = [manifest.cell(row, b)[0] for b in bands]
        pred_path = translate(checkpoint, inputs, folder / f"{row['id']}.fits", overwrite=True)
        target_path = manifest.cell(row, target)[0]
        pred, truth = read_image(pred_path), read_image(target_path)
        sigma = read_uncertainty(pred_path, pred.data.shape)
        exposure = target_exposure(stretch, truth, target_path)
        b = stretch.forward(truth.data, exposure=exposure)
        methods = [(name, pred.data, pred.band_mask)]
        if baseline is not None:
            x = np.concatenate([read_image(p).data for p in inputs])
            guess = baseline.predict(x)
            methods.append((_baseline_name(bands), guess, ~np.isfinite(guess)))
        for method, data, mask in methods:
            invalid = mask | truth.band_mask
            a = stretch.forward(data, exposure=exposure)
            for c, band in enumerate(truth.bands):
                physical = band_metrics(data[c], truth.data[c], invalid[c])
                physical.update(point_source_flux_error(data[c], truth.data[c], invalid[c]))
                physical["noise_floor_psnr"] = noise_floor_psnr(truth.data[c], truth.band_mask[c])
                physical |= band_sigma_metrics(data[c], truth.data[c],
                                               sigma if method == name else None, invalid[c],
                                               c, truth.n_bands)  # fmt: skip
                stretched = band_metrics(a[c], b[c], invalid[c])
                stretched.update(flux_ratio=np.nan, point_flux_err=np.nan, n_sources=0,
                                 noise_floor_psnr=np.nan)  # fmt: skip
                stretched |= dict.fromkeys(UNCERTAINTY_METRICS, np.nan)
                for space, m in (("physical", physical), ("stretched", stretched)):
                    rows.append({"variant": method, "file": str(row["id"]), "band": band,
                                 "space": space, **m})  # fmt: skip
    return rows


def _summary(table: Table, names: list[str]) -> Table:
    """Means per variant/band/space, and the median point-source flux error (physical)."""
    from astropy.table import vstack

    from astroi2i.workflows.evaluate import summarize

    summaries = []
    for name in names:
        metrics = ("psnr", "ssim", "mae", "flux_ratio", "noise_floor_psnr",
                   *UNCERTAINTY_METRICS)  # fmt: skip
        part = summarize(table[table["variant"] == name], metrics=metrics)
        part.add_column([name] * len(part), name="variant", index=0)
        errs = table[(table["variant"] == name) & (table["space"] == "physical")]["point_flux_err"]
        finite = np.asarray(errs, float)[np.isfinite(np.asarray(errs, float))]
        part["point_flux_err"] = [
            float(np.median(finite)) if finite.size and s == "physical" else np.nan
            for s in part["space"]
        ]
        summaries.append(part)
    return vstack(summaries)
