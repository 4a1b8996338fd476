"""``astroi2i compare``: train or load several two-way recipes on the same data and seed and
score them on the same held-out pairs, both ways, next to the classical answers (the regrid
reference; the regrid with a radial filter fitted on the ``val`` pairs; that, finished as a
translation is — flux anchoring and a smooth background, chosen on the ``val`` pairs)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from astroi2i.errors import InputError
from astroi2i.workflows.twoway import (
    _noise_free_truths,
    load_twoway,
    predict_twoway,
    regrid_baseline,
)

__all__ = ["compare"]

log = logging.getLogger(__name__)


def _scores(pred, target, band, suffix="") -> dict:
    """Pixel metrics (band means), noise fidelity and galaxy-property errors (in ``band``) of
    one prediction against one target SkyImage, the keys ending in ``suffix``."""
    from astroi2i.metrics.galaxy import background_mask, galaxy_properties, noise_fidelity
    from astroi2i.metrics.image import band_metrics

    c = list(target.bands).index(band) if band in target.bands else target.n_bands // 2
    invalid = target.band_mask | ~np.isfinite(pred)
    pixel = [band_metrics(pred[k], target.data[k], invalid[k]) for k in range(len(pred))]
    row = {m: float(np.mean([p[m] for p in pixel])) for m in ("psnr", "ssim", "mae")}
    if not suffix:  # noise fidelity: of the noisy output against the noisy target
        noise = [noise_fidelity(pred[k], target.data[k], background_mask(target.data[k]))
                 for k in range(len(pred))]  # fmt: skip
        row.update({m: float(np.nanmean([n[m] for n in noise])) for m in noise[0]})
    props = galaxy_properties(pred[c], target.data[c])
    row.update({m: props[m] for m in ("flux_err", "r50_err", "ell_err")})
    return {k + suffix: v for k, v in row.items()}


def _method_rows(name, system, meta, pairs, *, seed, band, truths=None,
                 filters=None, backgrounds=None) -> list[dict]:  # fmt: skip
    """Per-stamp scores of one method both ways. ``truths`` (key → (truth A, truth B), the
    noise-free stamps): the noise-free output (``noise=False``; regrid as it is) is also
    scored against them, in the columns ending ``_nf``. ``system`` None: the regrid
    reference, filtered with ``filters`` when given
    (:func:`astroi2i.workflows.twoway_anchors.fitted_regrid_filters`), then finished as
    ``backgrounds`` (per direction, the (flux anchoring, background) entries) chose
    (:func:`astroi2i.workflows.twoway_anchors.choose_finish`)."""
    from astroi2i.baselines.radial_filter import radial_filter, stored_filter
    from astroi2i.workflows.twoway_anchors import apply_finish

    rows = []
    names = {s: meta.two_way[s]["name"] for s in ("a", "b")}
    for i, (key, a, b) in enumerate(pairs):
        for to, source, target in (("b", a, b), ("a", b, a)):
            if system is None:
                pred = clean = reference = regrid_baseline(source.data, meta, to)
                if filters is not None:
                    pred = clean = radial_filter(pred, *stored_filter(filters[to]))
                if backgrounds is not None:
                    anchor, smooth = backgrounds[to]
                    pred = clean = apply_finish(pred, reference, anchor["on"], smooth)
            else:
                pred = predict_twoway(system, meta, source.data, to, seed=seed + i)
                if truths:
                    clean = predict_twoway(system, meta, source.data, to, noise=False)
            row = {
                "method": name,
                "direction": f"{names['a' if to == 'b' else 'b']}→{names[to]}",
                "id": key,
                **_scores(pred, target, band),
            }
            if truths:
                row.update(_scores(clean, truths[key][0 if to == "a" else 1], band, "_nf"))
            rows.append(row)
    return rows


def _summary(table):
    from astropy.table import Table

    out = []
    for method in dict.fromkeys(table["method"]):
        for direction in dict.fromkeys(table["direction"]):
            part = table[(table["method"] == method) & (table["direction"] == direction)]
            if not len(part):
                continue
            row = {"method": method, "direction": direction, "n": len(part)}
            for col in ("psnr", "ssim", "mae", "bg_sigma_ratio", "bg_w1", "psd_dex",
                        "psnr_nf", "ssim_nf", "mae_nf"):  # fmt: skip
                if col in part.colnames:
                    row[col] = float(np.nanmean(np.asarray(part[col], float)))
            for col in ("flux_err", "r50_err", "ell_err", "flux_err_nf", "r50_err_nf",
                        "ell_err_nf"):  # fmt: skip
                if col in part.colnames:
                    row[col] = float(np.nanmedian(np.asarray(part[col], float)))
            out.append(row)
    return Table(rows=out)


def _write_tables(workdir: Path, rows: list[dict]):
    """(per-stamp rows, summary) as tables, written as ECSV into ``workdir``."""
    from astropy.table import Table

    table_rows = Table(rows=rows)
    summary = _summary(table_rows)
    workdir.mkdir(parents=True, exist_ok=True)
    table_rows.write(workdir / "compare_rows.ecsv", format="ascii.ecsv", overwrite=True)
    summary.write(workdir / "compare.ecsv", format="ascii.ecsv", overwrite=True)
    return table_rows, summary


def _finish_rule(metas) -> str:
    """The rule the compared models' own finishes were chosen by: the first model that has a
    finish (models fitted before the rule was stored were chosen by PSNR), else the default
    rule of a model fitted now."""
    from astroi2i.workflows.twoway_anchors import FINISH_RULES

    rules = [m.two_way["b"]["background"].get("rule", "psnr") for m in metas
             if m.two_way["b"].get("background")]  # fmt: skip
    if len(set(rules)) > 1:
        log.warning("compare: the models' finishes were chosen by different rules %s; the "
                    "classical rows use %r", sorted(set(rules)), rules[0])  # fmt: skip
    return rules[0] if rules else FINISH_RULES[0]


def _classical_rows(table, data: dict, meta, pairs, *, band, truths, rule) -> list[dict]:
    """The rows of the classical answers: the regrid reference, and (with paired ``val``
    rows and the same bands in both surveys) the regrid with the radial filter fitted on the
    ``val`` pairs (PSF matching, :func:`~astroi2i.workflows.twoway_anchors.
    fitted_regrid_filters`), then also finished as a translation is: its sources' flux from
    the regrid reference and its background between sources smoothed, as chosen on the
    ``val`` pairs by ``rule``, the compared models' (:func:`~astroi2i.workflows.twoway_anchors.
    choose_finish`; against their noise-free truths where the manifest has them)."""
    from astroi2i.baselines.radial_filter import radial_filter, stored_filter
    from astroi2i.data.twoway import load_domains
    from astroi2i.workflows.twoway_anchors import choose_finish, fitted_regrid_filters

    common = dict(seed=0, band=band, truths=truths)
    rows = _method_rows("regrid (no learning)", None, meta, pairs, **common)
    fit_on = load_domains(table, "val", data["inputs"], data["targets"]).paired
    if not fit_on or len(meta.input_bands) != len(meta.target_bands):
        log.warning("no paired 'val' rows, or the surveys' bands differ: the fitted-filter "
                    "baseline is left out")  # fmt: skip
        return rows
    filters = fitted_regrid_filters(meta, [(np.where(a.band_mask, np.nan, a.data),
                                            np.where(b.band_mask, np.nan, b.data))
                                           for _, a, b in fit_on])  # fmt: skip
    val_truths = _noise_free_truths(table, "val", data["inputs"], data["targets"]) or {}
    backgrounds = {}
    for to, side in (("b", 1), ("a", 0)):  # side: the target's place in a pair (A, B)
        images, regrids, references = [], [], []
        for key, *pair in fit_on:
            source, target = pair[1 - side], val_truths.get(key, pair)[side]
            regrids.append(regrid_baseline(source.data, meta, to))
            images.append(radial_filter(regrids[-1], *stored_filter(filters[to])))
            references.append(target.data)
        backgrounds[to] = choose_finish(images, regrids, references, rule=rule)
    filtered_rows = _method_rows("regrid + fitted filter (no learning)", None, meta, pairs,
                                 filters=filters, **common)  # fmt: skip
    smoothed_rows = _method_rows("regrid + fitted filter + smooth background (no learning)",
                                 None, meta, pairs, filters=filters, backgrounds=backgrounds,
                                 **common)  # fmt: skip
    return smoothed_rows + filtered_rows + rows


def compare(
    recipes: Sequence[str],
    *,
    manifest,
    workdir="compare",
    overrides=(),
    split: str = "test",
    seed: int | None = None,
    reuse: bool = False,
    overwrite: bool = False,
    band: str = "r",
):
    """Train (or, with ``reuse``, load the existing checkpoint of) every two-way recipe on the
    same manifest and seed, then score each in both directions on the paired rows of
    ``split``, next to the regrid baseline and the regrid with a radial filter fitted on the
    paired ``val`` rows (PSF matching: :mod:`astroi2i.workflows.twoway_anchors`). Returns (per-stamp
    rows, summary) and writes both as ECSV in ``workdir``.

    Pixel metrics (PSNR, SSIM, MAE; band means) and noise metrics are in the physical units
    of the target survey; galaxy properties are measured in ``band``. Where the manifest has
    noise-free truths (``<column>_truth``), every method's noise-free output is scored against
    them too (columns ``*_nf``).
    """

    from astroi2i.config import recipe_path
    from astroi2i.data.twoway import load_domains
    from astroi2i.io.folders import require_empty_folder
    from astroi2i.io.manifest import read_manifest
    from astroi2i.systems import SYSTEMS
    from astroi2i.workflows.train import prepare_recipe, train

    if not recipes:
        raise InputError("compare: give at least one recipe")
    workdir = Path(workdir)
    extra = [f"data.manifest={manifest}", *overrides] + (
        [f"seed={seed}"] if seed is not None else []
    )
    plans = []
    for recipe in recipes:
        cfg = prepare_recipe(recipe, extra)
        if not getattr(SYSTEMS.get(cfg["model"]["system"]["type"]), "two_way", False):
            raise InputError(
                f"{recipe}: not a two-way recipe (system {cfg['model']['system']['type']})"
            )
        plans.append((recipe_path(recipe).stem, recipe, cfg))
    columns = {(tuple(c["data"]["inputs"]), tuple(c["data"]["targets"])) for *_, c in plans}
    if len(columns) > 1:
        raise InputError(
            "compare: the recipes read different manifest columns (data.inputs/data.targets); "
            "methods must be scored on the same images"
        )
    names = [p[0] for p in plans]
    if len(set(names)) != len(names):
        raise InputError("compare: two recipes share a file name (their run folders would collide)")
    table = read_manifest(manifest)
    data = plans[0][2]["data"]
    pairs = load_domains(table, split, data["inputs"], data["targets"]).paired
    if not pairs:
        raise InputError(f"{manifest}: no paired rows in split {split!r} to score on")
    truths = _noise_free_truths(table, split, data["inputs"], data["targets"])
    if not reuse:
        require_empty_folder(workdir, overwrite=overwrite)
    rows, metas = [], []
    for name, recipe, _ in plans:
        ckpt = workdir / name / "checkpoints" / "last.ckpt"
        if not (reuse and ckpt.is_file()):
            log.info("compare: training %s", name)
            ckpt = train(recipe, overrides=extra, workdir=workdir / name, overwrite=True).checkpoint
        system, meta = load_twoway(ckpt)
        metas.append(meta)
        log.info("compare: scoring %s on %d pairs", name, len(pairs))
        rows += _method_rows(name, system, meta, pairs, seed=0, band=band, truths=truths)
    rows = _classical_rows(table, data, metas[-1], pairs, band=band, truths=truths,
                           rule=_finish_rule(metas)) + rows  # fmt: skip
    return _write_tables(workdir, rows)
