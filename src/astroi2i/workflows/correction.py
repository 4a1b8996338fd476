"""The weight of a model's learned correction to its classical answer, chosen on held-out pairs.

A baseline-anchored model (``data.anchor: baseline``) or a generator with a classical
``prior`` (bicubic, a biharmonic fill) predicts P + w·Δ: the classical answer P plus the
correction Δ it learned, with w = 1 while training. A correction learned on a few training
images need not carry to others (measured: CorKit's on real AIA holes, docs/inpainting.md),
so after training w is chosen per band on the held-out ``split`` (``train``: the validation
split; ``calibrate``: any split of any manifest), by the mean physical-unit PSNR: w = 1, the
model as trained, unless that is below w = 0, the classical answer itself; then the best value
of :data:`GRID` (:func:`choose_weights`). On the held-out data the chosen model is thus never
below its baseline. The choice, with the PSNR of every grid value, is stored in the model
description (``correction``) and printed by ``calibrate``. Inpainting models are scored on
the holes they fill (drawn like the training holes), other models on every valid target
pixel; σ, when the model has it, is calibrated afterwards on the weighted prediction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.description import ModelDescription

__all__ = ["GRID", "can_correct", "choose_weights", "fit_correction", "fit_twoway_correction"]

log = logging.getLogger(__name__)

#: the weights tried: 0 (the classical answer) … 1 (the correction as trained)
GRID = tuple(round(0.1 * k, 1) for k in range(11))


def can_correct(network, desc: ModelDescription) -> bool:
    """Whether the model learns a correction to a classical answer that w can weigh."""
    from astroi2i.archs.correction import corrects_prior

    return desc.anchored or corrects_prior(network)


def choose_weights(psnr: np.ndarray, grid=GRID) -> list[float]:
    """Per band, from ``psnr`` (grid, band, image; the grid from 0 to 1): w = 1, the correction
    as trained, unless its mean PSNR over the images is below the classical answer's (w = 0);
    then the grid value with the highest mean PSNR (a tie: the smaller weight).

    The weight guards against a correction that does not carry to held-out data; it does not
    tune a correction that does: on the real SDSS r + i → g stamps, tuning w on 7 validation
    stamps (0.6–0.7 where the model already beat its baseline) cost 0.5–0.8 dB on the 10 test
    stamps (docs/baselines.md)."""
    mean = _mean_over_images(psnr)
    if not np.isfinite(mean).any(axis=0).all():
        raise ValueError("no finite PSNR to choose the correction weight from")
    mean = np.where(np.isfinite(mean), mean, -np.inf)
    return [float(grid[-1] if mean[-1, c] >= mean[0, c] else grid[int(np.argmax(mean[:, c]))])
            for c in range(mean.shape[1])]  # fmt: skip


def _mean_over_images(psnr: np.ndarray) -> np.ndarray:
    """(grid, band) means of a (grid, band, image) array; NaN (no score) does not count, and
    a cell without any score is NaN (without numpy's empty-slice warning)."""
    counted = ~np.isnan(psnr)
    total = np.where(counted, psnr, 0.0).sum(axis=2)
    n = counted.sum(axis=2)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def _entry(psnr: np.ndarray, grid, what: str, **fields) -> dict:
    """The stored ``correction`` of one network from its (grid, band, image) PSNR, logged."""
    weights = choose_weights(psnr, grid)
    mean = _mean_over_images(psnr)
    log.info("correction weight of %s on %d %s image(s): w = %s (held-out PSNR %s dB; w = 0: "
             "%s dB; w = 1, as trained: %s dB)", what, psnr.shape[2], fields["split"], weights,
             [f"{mean[grid.index(w), c]:.2f}" for c, w in enumerate(weights)],
             [f"{v:.2f}" for v in mean[0]], [f"{v:.2f}" for v in mean[-1]])  # fmt: skip
    return {
        "method": "grid search of the mean physical-unit PSNR on held-out pairs",
        "weights": weights,
        "grid": list(grid),
        "psnr": [[float(v) for v in mean[:, c]] for c in range(mean.shape[1])],
        "n_images": int(psnr.shape[2]),
        **fields,
    }


def _band_psnr(pred_path: Path, target, fills: bool) -> list[float]:
    """Physical-unit PSNR per band of a written prediction against ``target`` (a SkyImage);
    peak: the target band's valid range; pixels: valid in both (for a filling model, only
    the ones it filled, its ``MASK``)."""
    from astroi2i.metrics.image import psnr

    with fits.open(pred_path) as hdul:
        pred = np.asarray(hdul[0].data, np.float64).reshape(target.data.shape)
        # MASK is one (H, W) plane for every band
        filled = (
            np.asarray(hdul["MASK"].data, bool).reshape(target.data.shape[-2:]) if fills else None
        )
    out = []
    for c in range(target.n_bands):
        t = np.where(target.band_mask[c], np.nan, target.data[c]).astype(np.float64)
        finite = np.isfinite(t)
        if not finite.any():
            out.append(float("nan"))
            continue
        peak = float(t[finite].max() - t[finite].min())
        scored = finite & np.isfinite(pred[c])
        if filled is not None:
            scored &= filled
        out.append(psnr(pred[c], t, ~scored, data_range_=peak) if scored.any() else float("nan"))
    return out


def fit_correction(source: Path, loaded: tuple, manifest, jobs: list, tmp: Path, *,
                   split: str, device: str, grid=GRID) -> dict:  # fmt: skip
    """Translate every held-out job (:func:`astroi2i.workflows.calibrate.held_out_jobs` of the
    ``split`` rows of ``manifest``) once per weight in ``grid``, into ``tmp``, and return the
    ``correction`` entry of the description (the network in ``loaded`` is left with the
    chosen weights)."""
    from astroi2i.archs.correction import set_correction_weight
    from astroi2i.workflows.translate import translate

    network, desc = loaded
    n_bands = len(desc.target_bands)
    psnr = np.full((len(grid), n_bands, len(jobs)), np.nan)
    for k, w in enumerate(grid):
        weighted = desc.replace(correction={"weights": [w] * n_bands})
        set_correction_weight(network, [w] * n_bands)
        for j, (i, pair, inputs, mask) in enumerate(jobs):
            out = tmp / f"w{k}_{i}.fits"
            translate(source, inputs, out, device=device, loaded=(network, weighted), mask=mask,
                      calibrated=False)  # fmt: skip
            psnr[k, :, j] = _band_psnr(out, pair.target, desc.fills_invalid)
            out.unlink()
    entry = _entry(psnr, grid, "the model (0: the classical answer)", split=split,
                   source=Path(str(manifest)).name)  # fmt: skip
    set_correction_weight(network, entry["weights"])
    return entry


def _sides(pairs, truths, to: str) -> list[tuple]:
    """(source, truth) of each pair translated into ``to``; the truth is the noise-free stamp
    where the manifest has one (``truths``: key → (truth A, truth B)), else the noisy one."""
    out = []
    for key, a, b in pairs:
        source, truth = (a, b) if to == "b" else (b, a)
        out.append((source, truths[key][1 if to == "b" else 0] if truths else truth))
    return out


def _twoway_grid(system, meta, generator, sides, to: str, raw_reference: bool) -> np.ndarray:
    """(grid, band, pair) PSNR of the noise-free translations into ``to`` for every weight
    of :data:`GRID`, weighed against the classical answer of the raw input
    (``raw_reference``) or of the input the translator reads."""
    from astroi2i.archs.correction import set_correction_weight
    from astroi2i.metrics.image import psnr as score
    from astroi2i.workflows.twoway import predict_twoway

    n_bands = len(meta.target_bands if to == "b" else meta.input_bands)
    generator.raw_reference = [raw_reference] * n_bands
    psnr = np.full((len(GRID), n_bands, len(sides)), np.nan)
    for k, w in enumerate(GRID):
        set_correction_weight(generator, [w] * n_bands)
        for j, (source, truth) in enumerate(sides):
            pred = predict_twoway(system, meta, source.data, to, noise=False, flux_anchor=False,
                                  background=False)  # fmt: skip
            psnr[k, :, j] = [score(pred[c], truth.data[c]) for c in range(n_bands)]
    return psnr


def _twoway_entry(system, meta, name: str, sides, to: str, **fields) -> dict:
    """The stored correction of translator ``name`` into ``to``: per band, w = 0 is the
    classical answer of the raw input and the weight is chosen as :func:`choose_weights`
    says. A system whose translators read a processed input (the noise GAN's autoencoder
    output: ``cleans_input``) is also weighed against that input's classical answer, and a
    band takes it where its chosen PSNR is higher (``raw_reference`` false); on the
    held-out pairs the choice is thus never below the raw input's classical answer."""
    generator = getattr(system, name)
    what = f"{name} (into {meta.two_way[to]['name']}; 0: the {generator.prior} of the %s)"
    entry = _entry(_twoway_grid(system, meta, generator, sides, to, True), GRID,
                   what % "raw input", **fields)  # fmt: skip
    entry["raw_reference"] = [True] * len(entry["weights"])
    if not getattr(system, "cleans_input", False):
        return entry
    other = _entry(_twoway_grid(system, meta, generator, sides, to, False), GRID,
                   what % "translator's own input", **fields)  # fmt: skip
    entry["psnr_raw_reference"], entry["psnr_own_reference"] = entry["psnr"], other["psnr"]
    entry["psnr"] = list(entry["psnr"])
    for c, (w_raw, w_own) in enumerate(zip(entry["weights"], other["weights"])):
        if other["psnr"][c][GRID.index(w_own)] > entry["psnr"][c][GRID.index(w_raw)]:
            entry["weights"][c], entry["raw_reference"][c] = w_own, False
            entry["psnr"][c] = other["psnr"][c]
    log.info("%s: per band, weighed against the raw input's classical answer: %s", name,
             entry["raw_reference"])  # fmt: skip
    return entry


def _choose_finish(system, meta, generator, sides, to: str, rule: str) -> tuple[dict, dict]:
    """Per band, the finish of the translator's noise-free output into ``to``: whether its
    sources take the regrid reference's flux, and whether and how its background between
    sources is smoothed (:func:`astroi2i.workflows.twoway_anchors.choose_finish`), chosen by
    ``rule`` together with the weight: every finish of the output with the weights chosen so
    far, and every finish of the classical answer (w = 0 on the raw input), are candidates.
    A band whose best candidate is the classical answer's gets w = 0 (the learned correction
    did not pay under the rule there); ``generator`` is left with the chosen weights (the
    caller stores them: :func:`_take_finish_weights`). Returns (flux_anchor, background),
    the latter saying per band whether the classical answer's finish won (``classical``)."""
    from astroi2i.archs.correction import set_correction_weight
    from astroi2i.workflows.twoway import predict_twoway, regrid_baseline
    from astroi2i.workflows.twoway_anchors import finish_entries, pick, score_finishes

    weights, raw = list(generator._correction_weight.tolist()), list(generator.raw_reference)
    n_bands = len(weights)
    references = [regrid_baseline(source.data, meta, to) for source, _ in sides]
    truths = [truth.data for _, truth in sides]
    scored = []
    for w, r in ((weights, raw), ([0.0] * n_bands, [True] * n_bands)):
        if scored and w == weights and r == raw:  # already the classical answer
            scored.append(tuple(np.copy(a) for a in scored[0]))
            break
        set_correction_weight(generator, w)
        generator.raw_reference = r
        cleans = [predict_twoway(system, meta, source.data, to, noise=False, flux_anchor=False,
                                 background=False) for source, _ in sides]  # fmt: skip
        scored.append(score_finishes(cleans, references, truths))
    (mean, median, limit), (mean0, median0, _) = scored
    size = mean.shape[0]
    joint = [pick(np.concatenate([mean[:, c], mean0[:, c]]),
                  np.concatenate([median[:, c], median0[:, c]]), limit[c], rule)
             for c in range(n_bands)]  # fmt: skip
    classical = [k >= size for k in joint]
    for c in range(n_bands):
        if classical[c]:
            mean[:, c], median[:, c] = mean0[:, c], median0[:, c]
            weights[c], raw[c] = 0.0, True
    set_correction_weight(generator, weights)
    generator.raw_reference = raw
    anchor, smooth = finish_entries([k % size for k in joint], mean, median, limit, rule=rule,
                                    n_pairs=len(sides))  # fmt: skip
    smooth["classical"] = classical
    log.info("finish into %s (%s rule), per band: the classical answer %s, flux from regrid %s, "
             "background smoothed %s; mean PSNR %s dB (as it is %s), median flux error %s (as "
             "it is %s, regrid %s)", meta.two_way[to]["name"], rule, classical, anchor["on"],
             smooth["on"], smooth["psnr"], smooth["psnr_as_is"], smooth["flux_err"],
             smooth["flux_err_as_is"], smooth["flux_err_regrid"])  # fmt: skip
    return anchor, smooth


def _fit_noise_spectrum(system, meta, pairs, to: str) -> dict | None:
    """The radial gain that shapes the emulated noise into ``to`` so that, added to the
    noise-free translation, its background power spectrum is the survey's
    (:mod:`astroi2i.baselines.noise_spectrum`): the three spectra are measured on the paired
    stamps' backgrounds (the target's sources masked, as the noise scores do) with the
    model's stored weights and flux anchoring, and averaged over stamps. None when the
    translator emulates no noise."""
    from astroi2i.baselines.noise_spectrum import spectral_gain
    from astroi2i.metrics.galaxy import background_mask, radial_power
    from astroi2i.workflows.twoway import predict_twoway

    n_bands = len(meta.target_bands if to == "b" else meta.input_bands)
    sums, counts, k = None, np.zeros(n_bands), None
    for j, (_, a, b) in enumerate(pairs):
        source, target = (a, b) if to == "b" else (b, a)
        clean = predict_twoway(system, meta, source.data, to, noise=False)
        noise = predict_twoway(system, meta, source.data, to, seed=j,
                               shape_spectrum=False) - clean  # fmt: skip
        for c in range(n_bands):
            t = np.where(target.band_mask[c], np.nan, target.data[c])
            ok = background_mask(t) & np.isfinite(clean[c]) & np.isfinite(noise[c])
            if ok.sum() < 64:
                continue
            spectra = [radial_power(np.where(ok, image, 0.0), ok)
                       for image in (t, clean[c], noise[c])]  # fmt: skip
            k = spectra[0][0]
            if sums is None:
                sums = np.zeros((3, n_bands, k.size))
            sums[:, c] += [p for _, p in spectra]
            counts[c] += 1
    if sums is None or not (sums[2] > 0).any():
        return None
    power = sums / np.maximum(counts, 1)[None, :, None]
    gain = np.array([spectral_gain(*power[:, c]) if counts[c] else np.ones(k.size)
                     for c in range(n_bands)])  # fmt: skip
    log.info("noise spectrum into %s: gain per band (low → high k) %s", meta.two_way[to]["name"],
             [f"{g[0]:.2f}→{g[-1]:.2f}" for g in gain])  # fmt: skip
    return {"k": [float(v) for v in k], "gain": np.round(gain, 6).tolist(), "interpolation": "k2",
            "n_pairs": int(counts.max()), "power_target": power[0].tolist(),
            "power_noise_free": power[1].tolist(), "power_emulated": power[2].tolist()}  # fmt: skip


def _take_finish_weights(entry: dict, generator) -> None:
    """Store in the correction ``entry`` the weights the finish left on ``generator`` (w = 0
    where the classical answer's finish won), keeping the PSNR-chosen ones beside them."""
    weights = [round(float(w), 6) for w in generator._correction_weight.tolist()]
    raw = list(generator.raw_reference)
    if weights == [round(float(w), 6) for w in entry["weights"]] and raw == entry["raw_reference"]:
        return
    entry["weights_by_psnr"] = list(entry["weights"])
    entry["raw_reference_by_psnr"] = list(entry["raw_reference"])
    if "psnr_raw_reference" in entry:  # each band's PSNR row: the family its weight is on
        entry["psnr"] = [entry["psnr_raw_reference"][c] if r else row
                         for c, (r, row) in enumerate(zip(raw, entry["psnr"]))]  # fmt: skip
    entry["weights"], entry["raw_reference"] = weights, raw


def _so_far(meta, two_way: dict, to: str):
    """The description with the choices made so far into ``to`` and no noise shaping yet."""
    return meta.replace(two_way={**two_way, to: {**two_way[to], "noise_spectrum": None}})


def fit_twoway_correction(checkpoint: Path, manifest, *, split: str,
                          rule: str = "photometry") -> dict | None:  # fmt: skip
    """The same choice for a two-way model whose translators are anchored on the regrid
    baseline (``ScaleGenerator(anchor=True)``), per direction and band, on the paired rows of
    ``split``: each translator's noise-free output (``--no-noise``) is scored against the
    noise-free truth where the manifest has one (``<column>_truth``), else against the noisy
    target. The choice is stored as ``two_way[side]["correction"]`` (``side``: the domain
    translated into); with that weight, whether its sources' flux is then taken from the
    regrid reference (``two_way[side]["flux_anchor"]``) and whether and how its background
    between sources is smoothed (``background``) are chosen together by ``rule``
    (:func:`astroi2i.workflows.twoway_anchors.choose_finish`), then the
    emulated noise's spectral gain is fitted on the noisy targets (``noise_spectrum``,
    :func:`_fit_noise_spectrum`), and the checkpoint is rewritten in place. Returns the updated
    ``two_way`` entry, or None when nothing could be fitted (no anchored translator, no
    paired rows)."""
    from astroi2i.archs.correction import corrects_prior, set_correction_weight
    from astroi2i.data.twoway import load_domains
    from astroi2i.io.manifest import read_manifest
    from astroi2i.workflows.calibrate import write_model
    from astroi2i.workflows.twoway import _noise_free_truths, load_twoway

    system, meta = load_twoway(checkpoint)
    table = read_manifest(manifest)
    inputs, targets = meta.data["inputs"], meta.data["targets"]
    pairs = load_domains(table, split, inputs, targets).paired
    truths = _noise_free_truths(table, split, inputs, targets)
    two_way = {side: dict(entry) for side, entry in meta.two_way.items()}
    fitted = False
    for to, name in (("b", "g_ab"), ("a", "g_ba")):
        generator = getattr(system, name, None)
        if not pairs or not corrects_prior(generator):
            continue
        sides = _sides(pairs, truths, to)
        two_way[to]["correction"] = _twoway_entry(
            system, meta, name, sides, to, split=split,
            source=Path(str(manifest)).name,
            against="noise-free truth" if truths else "noisy target",
        )  # fmt: skip
        set_correction_weight(generator, two_way[to]["correction"]["weights"])
        generator.raw_reference = two_way[to]["correction"]["raw_reference"]
        two_way[to]["flux_anchor"], two_way[to]["background"] = _choose_finish(
            system, meta, generator, sides, to, rule
        )
        _take_finish_weights(two_way[to]["correction"], generator)
        two_way[to]["noise_spectrum"] = _fit_noise_spectrum(system, _so_far(meta, two_way, to),
                                                            pairs, to)  # fmt: skip
        fitted = True
    if not fitted:
        if not pairs:
            log.warning("%s: no paired %r rows: the translators' correction weights are NOT "
                        "chosen (w = 1, as trained)", manifest, split)  # fmt: skip
        return None
    write_model(Path(checkpoint), meta.replace(two_way=two_way), Path(checkpoint))
    return two_way
