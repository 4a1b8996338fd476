"""``astroi2i calibrate``: the split-conformal calibration of a model's σ on held-out pairs,
written into a new model file (any form: checkpoint, safetensors or ONNX with its sidecar, a
packaged name). ``train`` runs it on the validation split when a run ends. Before σ, a model
that learns a correction to a classical answer gets the correction's weight chosen on the
same pairs (:mod:`astroi2i.workflows.correction`; ``--keep-correction`` keeps the stored one).

Each held-out pair is translated exactly as ``translate`` does (tiled, streamed, inverse
stretch) but with the raw σ; the scores |truth − prediction| / σ_raw over its valid pixels
(for inpainting models: over holes cut into it, as in training) give the calibration of
:func:`astroi2i.metrics.uncertainty.calibrate`.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io.folders import write_atomic
from astroi2i.metrics import uncertainty

__all__ = ["calibrate", "calibrated_path", "held_out_jobs", "write_model"]

log = logging.getLogger(__name__)

#: at most this many scores per image and band enter the calibration (a random subset)
MAX_SCORES_PER_IMAGE = 500_000


def calibrated_path(source: Path) -> Path:
    """Where a calibrated copy goes by default: ``name.calibrated.ext`` next to the source, or
    in the current folder for a packaged model."""
    from astroi2i.workflows.model import MODEL_DIR

    folder = Path(".") if source.parent == MODEL_DIR else source.parent
    return folder / f"{source.stem}.calibrated{source.suffix}"


def _check_output(source: Path, output, overwrite: bool) -> Path:
    from astroi2i.workflows.model import EXPORT_SUFFIXES, sidecar_path

    output = calibrated_path(source) if output is None else Path(output)
    if output.suffix != source.suffix:
        raise InputError(f"{output}: must end in {source.suffix}, like {source.name}")
    if output.is_dir():
        raise InputError(f"{output}: a folder, not a model file name")
    targets = [output] + ([sidecar_path(output)] if source.suffix in EXPORT_SUFFIXES else [])
    for path in targets:
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    return output


def _hole_mask(shape, holes: dict, crop: int, seed: int) -> np.ndarray:
    """Holes like the training ones, drawn in every ``crop``-sized window of the image."""
    from astroi2i.sky.masks import random_blocks

    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, bool)
    for y0 in range(0, shape[0], crop):
        for x0 in range(0, shape[1], crop):
            window = mask[y0 : y0 + crop, x0 : x0 + crop]
            window |= random_blocks(window.shape, rng, **holes)
    return mask


def _scores(pred_path: Path, target, rng) -> list[tuple[np.ndarray, np.ndarray]]:
    """(|target − prediction|, σ_raw) per band over pixels valid in both with σ_raw > 0."""
    with fits.open(pred_path) as hdul:
        pred = np.asarray(hdul[0].data, np.float64).reshape(target.data.shape)
        sigma = np.asarray(hdul["UNCERT"].data, np.float64).reshape(target.data.shape)
    out = []
    for c in range(target.n_bands):
        t = np.where(target.band_mask[c], np.nan, target.data[c])
        r = np.abs(t - pred[c])
        ok = np.isfinite(r) & np.isfinite(sigma[c]) & (sigma[c] > 0)
        r, s = r[ok], sigma[c][ok]
        if r.size > MAX_SCORES_PER_IMAGE:
            pick = rng.choice(r.size, MAX_SCORES_PER_IMAGE, replace=False)
            r, s = r[pick], s[pick]
        out.append((r, s))
    return out


def held_out_jobs(desc: ModelDescription, manifest, split: str, seed: int, tmp: Path):
    """(index, pair, input paths, mask path or None) of each ``split`` row of ``manifest``, to
    be translated as ``translate`` would; inpainting models get holes like the training ones
    (drawn from ``seed`` + index), written as a mask file in ``tmp``."""
    from astroi2i.data.datasets import load_pairs
    from astroi2i.data.stretches import build_stretch
    from astroi2i.io.manifest import read_manifest

    table = read_manifest(manifest)
    data = desc.data
    keys = tuple(build_stretch(desc.stretches[s]).exposure_keyword for s in ("inputs", "targets"))
    pairs = load_pairs(table, split, data["inputs"], data["targets"],
                       align_target=data["align_target"], exposure_keyword=keys,
                       scale=data.get("scale", 1), units=desc.units,
                       zero_blocks=data.get("zero_blocks", 0))  # fmt: skip
    rows = {str(r["id"]): r for r in table.rows(split)}
    for i, pair in enumerate(pairs):
        cells = [table.cell(rows[pair.key], c) for c in data["inputs"]]
        inputs = [f"{p}:{h}" if h is not None else str(p) for p, h in cells]
        mask = None
        if desc.fills_invalid:  # holes to fill, as in training
            holes = data.get("holes") or {"block": 32, "max_blocks": 2, "max_size": 2}
            hole = _hole_mask(pair.target.shape, holes, int(data["crop_size"]), seed + i)
            mask = tmp / f"{i}.mask.fits"
            wcs = pair.target.wcs  # on the image's grid (read_mask checks the shape)
            head = wcs.to_header() if wcs is not None else None
            fits.PrimaryHDU(hole.astype(np.int16), header=head).writeto(mask, overwrite=True)
        yield i, pair, inputs, mask


def calibrate(model, manifest, *, split: str = "val", output=None, overwrite: bool = False,
              device: str | None = None, seed: int = 0, correction: bool = True,
              offset: bool = True,
              finish: str | None = None) -> tuple[Path, dict | None]:  # fmt: skip
    """Calibrate ``model`` on the ``split`` rows of ``manifest`` and write the calibrated model
    to ``output`` (default :func:`calibrated_path`): first, for a model that learns a
    correction to a classical answer (and ``correction``), the correction's weight
    (:mod:`astroi2i.workflows.correction`), then σ (models with a σ network; ``offset``:
    choose the score's offset β and power γ, :func:`astroi2i.metrics.uncertainty.choose_shape`). A
    two-way model refits all its post-training choices, its finish by the rule ``finish``
    (default ``photometry``; :func:`astroi2i.workflows.twoway_anchors.choose_finish`).
    Returns (path, the σ calibration or None)."""
    from astroi2i.workflows.correction import can_correct, fit_correction
    from astroi2i.workflows.model import describe, load_model, resolve_model
    from astroi2i.workflows.translate_checks import resolve_device

    source = resolve_model(model)
    if source.suffix == ".ckpt" and describe(source).is_two_way:
        if not (correction and offset):
            raise InputError(
                f"{model}: a two-way model has no σ to calibrate and refits all "
                "its choices; --keep-correction and --no-offset do not apply"
            )
        return _calibrate_twoway(source, manifest, split, output, overwrite,
                                 finish or "photometry"), None  # fmt: skip
    if finish is not None:
        raise InputError(f"{model}: --finish applies to two-way models only")
    device = resolve_device(device)
    loaded = load_model(source, device=device)
    desc = loaded[1]
    weigh = correction and can_correct(loaded[0], desc)
    if not desc.has_uncertainty and not weigh:
        raise InputError(
            f"{model}: this model has no σ network (model.uncertainty), so it predicts no σ to "
            "calibrate, nor a correction to a classical answer to weigh; train it with a "
            "recipe that has one"
        )
    output = _check_output(source, output, overwrite)
    calibration = None
    with tempfile.TemporaryDirectory(prefix="astroi2i-calibrate-") as tmp:
        jobs = list(held_out_jobs(desc, manifest, split, seed, Path(tmp)))  # read once
        if weigh:
            try:
                fitted = fit_correction(source, loaded, manifest, jobs, Path(tmp), split=split,
                                        device=device)  # fmt: skip
            except ValueError as exc:
                raise InputError(f"{manifest} (split {split!r}): {exc}") from None
            desc = desc.replace(correction=fitted)
            loaded = (loaded[0], desc)
        if desc.has_uncertainty:
            calibration = _calibrate_sigma(source, loaded, manifest, jobs, Path(tmp), split,
                                           device, seed, offset)  # fmt: skip
            desc = desc.replace(calibration=calibration)
    write_model(source, desc, output)
    if calibration is not None:
        log.info("calibrated σ on %d %s image(s): scale %s, 95%% multipliers %s → %s",
                 calibration["n_images"], split, [f"{v:.3g}" for v in calibration["scale"]],
                 [f"{m[2]:.3g}" for m in calibration["multipliers"]], output)  # fmt: skip
    return output, calibration


def _calibrate_twoway(source: Path, manifest, split: str, output, overwrite: bool,
                      rule: str) -> Path:  # fmt: skip
    """A two-way checkpoint's post-training choices, made again on the paired ``split`` rows of
    ``manifest`` (:func:`astroi2i.workflows.correction.fit_twoway_correction`: the weights of
    its translators' corrections, flux anchoring and the smooth background by ``rule``, the
    noise spectrum) in a copy written to ``output``; the source is never changed."""
    from astroi2i.workflows.correction import fit_twoway_correction

    output = _check_output(source, output, overwrite)
    with tempfile.TemporaryDirectory(prefix="astroi2i-calibrate-") as tmp:
        work = Path(tmp) / source.name
        shutil.copyfile(source, work)
        if fit_twoway_correction(work, manifest, split=split, rule=rule) is None:
            raise InputError(f"{manifest}: no paired {split!r} rows, or no anchored translator "
                             f"in {source.name}: nothing to calibrate")  # fmt: skip
        write_atomic(output, lambda dest: shutil.copyfile(work, dest))
    log.info("two-way choices refitted on the %s pairs of %s → %s", split, manifest, output)
    return output


def _calibrate_sigma(source: Path, loaded: tuple, manifest, jobs: list, tmp: Path, split: str,
                     device, seed: int, offset: bool) -> dict:  # fmt: skip
    """The split-conformal calibration of σ on the held-out ``jobs``, translated into
    ``tmp`` with the raw σ."""
    from astroi2i.workflows.translate import translate

    desc = loaded[1]
    rng = np.random.default_rng(seed)
    scores: list[list[tuple]] = [[] for _ in desc.target_bands]
    for i, pair, inputs, mask in jobs:
        pred = translate(source, inputs, tmp / f"{i}.fits", device=device, loaded=loaded,
                         mask=mask, calibrated=False)  # fmt: skip
        for c, s in enumerate(_scores(pred, pair.target, rng)):
            scores[c].append(s)
        pred.unlink()
    try:
        return uncertainty.calibrate(
            [np.concatenate([r for r, _ in band]) for band in scores],
            [np.concatenate([s for _, s in band]) for band in scores], n_images=len(jobs),
            split=split, source=Path(str(manifest)).name, offset=offset,
        )  # fmt: skip
    except ValueError as exc:
        raise InputError(f"{manifest} (split {split!r}): {exc}") from None


def write_model(source: Path, desc: ModelDescription, output: Path) -> Path:
    """Write the model of ``source`` with description ``desc`` to ``output`` (same form;
    atomically; ``output`` may be ``source``)."""
    from astroi2i.workflows.model import EXPORT_SUFFIXES, sidecar_path

    if source.suffix in EXPORT_SUFFIXES:
        if output.resolve() != source.resolve():
            write_atomic(output, lambda tmp: shutil.copyfile(source, tmp))
        text = json.dumps(desc.to_dict(), indent=1)
        write_atomic(sidecar_path(output), lambda tmp: tmp.write_text(text))
        return output
    import torch

    from astroi2i.workflows.checkpoint import META_KEY, read_checkpoint

    ckpt = read_checkpoint(source, mmap=False)
    ckpt["hyper_parameters"][META_KEY] = desc.to_dict()
    write_atomic(output, lambda tmp: torch.save(ckpt, tmp))
    return output
