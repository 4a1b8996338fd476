"""``astroi2i train``: recipe → fitted stretches → Lightning fit → self-describing checkpoints."""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from astroi2i.config import apply_overrides, dump_recipe, load_recipe, resolve_recipe
from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io.folders import require_empty_folder
from astroi2i.io.solar import INSTRUMENT_KEYS
from astroi2i.workflows.lightning_run import is_rank_zero

__all__ = ["train", "TrainResult", "prepare_recipe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    workdir: Path
    checkpoint: Path
    metrics: dict[str, float]


def prepare_recipe(recipe: str | dict, overrides=()) -> dict:
    """Load (name, path or dict), apply ``key=value`` overrides and resolve every default."""
    raw = load_recipe(recipe) if isinstance(recipe, str | Path) else recipe
    return resolve_recipe(apply_overrides(raw, list(overrides)))


#: what a run writes into its work folder (and what --overwrite replaces)
RUN_OUTPUTS = ("config.yaml", "checkpoints", "logs", "tensorboard", "panels", "replica_check.json")


def _clear_run_outputs(workdir: Path) -> None:
    """Remove a previous run's outputs (only those), so no stale checkpoint survives an
    --overwrite (Lightning would otherwise write last-v1.ckpt beside an old last.ckpt)."""
    import shutil

    for name in RUN_OUTPUTS:
        path = workdir / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _differences(a, b, prefix="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            out += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".")]


def _resume_checkpoint(
    resume: str, workdir: Path | None, cfg: dict
) -> tuple[Path, ModelDescription]:
    """The checkpoint to resume and its metadata; the recipe must match the checkpoint's except
    for ``trainer.max_batches`` (so a finished run can be extended)."""
    from astroi2i.workflows.model import describe

    if resume == "last":
        if workdir is None:
            raise InputError("--resume last needs --workdir (the run folder to continue)")
        path = workdir / "checkpoints" / "last.ckpt"
    else:
        path = Path(resume)
    meta = describe(path)
    stored = {**meta.recipe, "trainer": {**meta.recipe["trainer"], "max_batches": None}}
    given = {**cfg, "trainer": {**cfg["trainer"], "max_batches": None}}
    changed = _differences(stored, given)
    if changed:
        raise InputError(
            f"{path}: the recipe differs from the checkpoint's at {', '.join(changed[:5])}; "
            "a resumed run must use the same recipe (only trainer.max_batches may change)"
        )
    return path, meta


def _with_receptive_field(description: ModelDescription, generator, crop) -> ModelDescription:
    """The generator's receptive radius in the description; a warning when it is not smaller
    than half the training crop (then no training pixel saw its whole receptive field, and
    what the network does with full context is untrained: its output depends on the tile)."""
    from astroi2i.data.tiling import receptive_radius

    radius = receptive_radius(generator, len(description.input_bands), description.stride,
                              limit=512)  # fmt: skip
    if radius is not None and crop is not None and 2 * radius >= crop:
        log.warning(
            "the generator's receptive field (radius %d px) is not smaller than half the "
            "training crop (%d px): no training pixel saw its whole receptive field, so its "
            "predictions will depend on how images are tiled; use a larger data.crop_size or "
            "a shallower generator (docs/tiling.md)", radius, crop,
        )  # fmt: skip
    return description.replace(receptive_radius=radius)


def init_from(system, model, description: ModelDescription) -> None:
    """Start ``system``'s generator from the weights of ``model`` (a checkpoint, an export or
    a packaged name: ``trainer.init_from``), which must take and give the same bands."""
    from astroi2i.workflows.model import load_if_fits, load_model

    source, desc = load_model(model)
    for side in ("input_bands", "target_bands"):
        if len(getattr(desc, side)) != len(getattr(description, side)):
            raise InputError(
                f"trainer.init_from: {model} has {side.replace('_', ' ')} "
                f"{list(getattr(desc, side))}, this run {list(getattr(description, side))}"
            )
    if not hasattr(source, "state_dict"):
        raise InputError(f"trainer.init_from: {model} is ONNX; start from its checkpoint")
    sigma_net = getattr(source, "sigma_net", None)  # a model with σ: both networks
    generator = getattr(source, "generator", source) if sigma_net is not None else source
    try:
        system.generator.load_state_dict(generator.state_dict())
    except RuntimeError as exc:
        raise InputError(
            f"trainer.init_from: {model} does not fit model.generator ({exc})"
        ) from None
    log.info("generator initialised from %s", model)
    if sigma_net is not None and getattr(system, "sigma_net", None) is not None:
        if not load_if_fits(system.sigma_net, sigma_net.state_dict()):
            log.warning("trainer.init_from: %s's σ network does not fit model.uncertainty; "
                        "this run's σ network starts from scratch", model)  # fmt: skip


def _paired_datasets(cfg: dict, manifest, stretch_in, stretch_out, *, fit: bool,
                     resumed_baseline: dict | None = None):  # fmt: skip
    """Training and validation :class:`PairedDataset` s of a paired recipe (fitting the
    stretches and the classical baseline on the training split when ``fit``; a resumed run
    keeps its own), and the checkpoint metadata on bands, units and the baseline."""
    from astroi2i.baselines import baseline_from_dict
    from astroi2i.data.datasets import PairedDataset, fit_pair_stretch, iter_pairs, load_pairs
    from astroi2i.sky.geometry import pixel_scale_arcsec, sky_frame

    data = cfg["data"]
    keys = (stretch_in.exposure_keyword, stretch_out.exposure_keyword)
    load = dict(align_target=data["align_target"], exposure_keyword=keys, scale=data["scale"],
                zero_blocks=data["zero_blocks"])  # fmt: skip
    on_disk = data["cache"] == "disk"
    columns = (data["inputs"], data["targets"])
    if on_disk:  # fit on the first rows only; the datasets stream every row into the cache
        rows = iter_pairs(manifest, data["train_split"], *columns, **load)
        train_pairs = list(itertools.islice(rows, data["fit_samples"]))
    else:
        train_pairs = load_pairs(manifest, data["train_split"], *columns, **load)
    load["units"] = (train_pairs[0].input_units, train_pairs[0].target_units)
    has_val = data["val_split"] in set(manifest.table["split"])
    val_pairs = (
        load_pairs(manifest, data["val_split"], *columns, **load) if has_val and not on_disk
        else iter_pairs(manifest, data["val_split"], *columns, **load) if has_val else None
    )  # fmt: skip
    if fit:
        fit_pair_stretch(stretch_in, train_pairs, "inputs")
        fit_pair_stretch(stretch_out, train_pairs, "targets")
    same_grid = data["scale"] == 1 and not data["holes"] and not data["zero_blocks"]
    baseline = fit_baseline(train_pairs, seed=cfg["seed"]) if fit and same_grid else None
    baseline = baseline if fit else resumed_baseline
    common = dict(
        input_stretch=stretch_in,
        target_stretch=stretch_out,
        crop_size=data["crop_size"],
        fill_value=data["fill_value"],
        seed=cfg["seed"],
        scale=data["scale"],
        holes=data["holes"],
        baseline=baseline_from_dict(baseline) if data["anchor"] == "baseline" else None,
        loss_space=loss_space(cfg),
    )
    first = train_pairs[0]
    caches = _disk_caches(cfg, manifest, stretch_in, stretch_out, baseline) if on_disk else {}
    train_set = PairedDataset(
        iter_pairs(manifest, data["train_split"], *columns, **load) if on_disk else train_pairs,
        crop="random",
        augment=data["augment"],
        crops_per_image=data["crops_per_image"],
        cache=caches.get("train"),
        **common,
    )
    val_set = (PairedDataset(val_pairs, crop="center", cache=caches.get("val"), **common)
               if val_pairs is not None else None)  # fmt: skip
    meta = {
        "input_bands": list(first.inputs.bands),
        "target_bands": list(first.target.bands),
        "input_units": list(first.input_units),
        "target_units": list(first.target_units),
        "input_filters": list(first.input_labels),
        "target_filters": list(first.target_labels),
        "pixel_scale_arcsec": pixel_scale_arcsec(first.inputs.wcs),
        "input_frame": sky_frame(first.inputs.wcs),
        "target_instrument": {k: first.target.header[k] for k in INSTRUMENT_KEYS
                              if isinstance(first.target.header.get(k), str | int | float)},
    }  # fmt: skip
    if baseline is not None:
        meta["baseline"] = baseline
    return train_set, val_set, meta


def loss_space(cfg: dict) -> str:
    """``"stretched"``, or ``"physical"`` when the pixel loss scores physical errors
    (``model.pixel_loss.space`` or ``model.inpaint_loss.space`` physical or both): the
    samples then carry ``loss_scale``."""
    model = cfg["model"]
    loss = model.get("pixel_loss") or model.get("inpaint_loss") or {}
    space = loss.get("space") or "stretched"
    return "stretched" if space == "stretched" else "physical"


def _disk_caches(cfg: dict, manifest, stretch_in, stretch_out, baseline) -> dict:
    """``{"train": (folder, fingerprint), "val": …}`` for ``data.cache: disk``: one cache per
    split, named by a fingerprint of everything its samples depend on, so a rerun with the same
    data and stretches reuses it and any change builds a new one."""
    import hashlib
    import json

    data = cfg["data"]
    root = Path(data["cache_dir"]) if data["cache_dir"] else Path(manifest.base) / ".astroi2i-cache"
    out = {}
    for name, split in (("train", data["train_split"]), ("val", data["val_split"])):
        rows = manifest.rows(split)
        cells = [[str(r[c]) for c in ("id", *data["inputs"], *data["targets"])] for r in rows]
        recipe = {k: data[k] for k in ("inputs", "targets", "fill_value", "scale", "zero_blocks",
                                        "align_target", "anchor")}  # fmt: skip
        spec = {
            "manifest": str(manifest.source),
            "rows": cells,
            "data": recipe,
            "stretches": [stretch_in.to_dict(), stretch_out.to_dict()],
            "baseline": baseline,
            "loss_space": loss_space(cfg),
        }
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
        fingerprint = digest.hexdigest()
        out[name] = (root / f"{name}-{fingerprint[:16]}", fingerprint)
    return out


def fit_baseline(pairs, *, seed: int = 0) -> dict:
    """The classical baseline of a same-grid translation, fitted on the training pairs in
    physical units: target bands as a linear combination of the Gaussian-smoothed input bands
    (:class:`~astroi2i.baselines.LinearSmoothBaseline`)."""
    import numpy as np

    from astroi2i.baselines import LinearSmoothBaseline

    def physical(image):
        return np.where(image.band_mask, np.nan, image.data)

    fitted = LinearSmoothBaseline.fit([physical(p.inputs) for p in pairs],
                                      [physical(p.target) for p in pairs], seed=seed)  # fmt: skip
    log.info("baseline fitted on the training split: %s", fitted.describe())
    return fitted.to_dict()


def train(
    recipe: str | dict,
    *,
    overrides=(),
    workdir: str | Path | None = None,
    overwrite: bool = False,
    resume: str | None = None,
) -> TrainResult:
    """Train the recipe's system. Everything is validated before the work folder is touched.

    The work folder receives ``config.yaml`` (the resolved recipe), ``checkpoints/`` (``last``
    and the best by validation L1, each carrying the model description) and ``logs/`` (CSV
    metrics).

    ``resume="last"`` (or a checkpoint path) continues a run from its last checkpoint: model,
    optimizers, schedulers, step counters, data position and RNG states are restored, so in
    deterministic mode the result equals an uninterrupted run bit for bit.
    """
    import lightning as L

    from astroi2i.data.datamodule import PairedDataModule
    from astroi2i.workflows.callbacks import build_loggers
    from astroi2i.workflows.lightning_run import build_trainer, fit

    cfg = prepare_recipe(recipe, overrides)
    if not cfg["data"]["manifest"]:
        raise InputError("data.manifest: no manifest given (--set data.manifest=PATH)")
    name = Path(recipe).stem if isinstance(recipe, str | Path) else "run"
    workdir, ckpt_path, resumed = _run_folder(name, cfg, workdir, overwrite, resume)
    kept = resumed if resumed is not None else _frozen_source(cfg)
    train_set, val_set, description = _datasets(cfg, kept, source=str(recipe))
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    system, description = _system(cfg, description, resumed)
    # fails early if a package is missing
    loggers = build_loggers(cfg["trainer"]["loggers"], workdir, name, resumed=resumed is not None)
    if is_rank_zero():
        if resumed is None:
            _clear_run_outputs(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(dump_recipe(cfg))
    trainer = build_trainer(
        cfg, system, description, workdir, loggers, validate=val_set is not None
    )
    data = cfg["data"]
    datamodule = PairedDataModule(train_set, val_set, batch_size=data["batch_size"],
                                  num_workers=data["num_workers"], seed=cfg["seed"])  # fmt: skip
    fit(trainer, system, datamodule, ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    last = workdir / "checkpoints" / "last.ckpt"
    if is_rank_zero():
        _calibrate_last(last, cfg, system, description, has_val=val_set is not None)
    return TrainResult(workdir, last, metrics)


def _calibrate_last(last: Path, cfg: dict, system, description, *, has_val: bool) -> None:
    """On the validation split, in place: the weight of the correction to the classical answer
    (``trainer.fit_correction``), then σ."""
    from astroi2i.workflows.calibrate import calibrate
    from astroi2i.workflows.correction import can_correct, fit_twoway_correction

    if description.is_two_way:
        if cfg["trainer"]["fit_correction"] and has_val and last.is_file():
            fit_twoway_correction(last, cfg["data"]["manifest"], split=cfg["data"]["val_split"])
        return
    generator = getattr(system, "generator", None)
    weigh = cfg["trainer"]["fit_correction"] and can_correct(generator, description)
    if not (weigh or description.has_uncertainty):
        return
    if not has_val or not last.is_file():
        log.warning(
            "%s: σ and the correction weight are NOT calibrated (no %r split to calibrate on); "
            "run 'astroi2i calibrate' on held-out data before trusting its intervals", last,
            cfg["data"]["val_split"],
        )  # fmt: skip
        return
    calibrate(last, cfg["data"]["manifest"], split=cfg["data"]["val_split"], output=last,
              overwrite=True, seed=cfg["seed"], correction=weigh)  # fmt: skip


def _frozen_source(cfg: dict) -> ModelDescription | None:
    """``model.system.freeze_generator``: the description of ``trainer.init_from``, whose
    stretches and baseline the run keeps (its generator's predictions depend on them)."""
    if not cfg["model"]["system"].get("freeze_generator", False):
        return None
    from astroi2i.workflows.model import describe

    if not cfg["trainer"]["init_from"]:
        raise InputError("model.system.freeze_generator: needs trainer.init_from (the model "
                         "whose generator is kept)")  # fmt: skip
    if "uncertainty" not in cfg["model"]:
        raise InputError("model.system.freeze_generator: needs model.uncertainty (the σ "
                         "network to train)")  # fmt: skip
    return describe(cfg["trainer"]["init_from"])


def _run_folder(name: str, cfg: dict, workdir, overwrite: bool, resume: str | None):
    """(work folder, checkpoint to resume or None, its description or None). A new run's
    folder must be empty (or ``overwrite``); a resumed run's recipe must match."""
    if resume is not None:
        workdir = Path(workdir) if workdir is not None else None
        ckpt_path, resumed = _resume_checkpoint(resume, workdir, cfg)
        return workdir or ckpt_path.parent.parent, ckpt_path, resumed
    workdir = Path(workdir or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}")
    if is_rank_zero():  # other ranks start inside the folder rank 0 just prepared
        require_empty_folder(workdir, overwrite=overwrite, what="work folder ",
                             hint="pass --overwrite, or --resume last")  # fmt: skip
    return workdir, None, None


def _datasets(cfg: dict, resumed: ModelDescription | None, *, source: str):
    """Training and validation datasets, with the stretches fitted on the training split (or
    those of the run being resumed), and the model description they make."""
    from astroi2i.data.stretches import build_stretch
    from astroi2i.io.manifest import read_manifest
    from astroi2i.systems import SYSTEMS

    manifest = read_manifest(cfg["data"]["manifest"])
    specs = resumed.stretches if resumed is not None else cfg["stretch"]  # fitted ones travel
    stretch_in, stretch_out = build_stretch(specs["inputs"]), build_stretch(specs["targets"])
    fit = resumed is None
    if getattr(SYSTEMS.get(cfg["model"]["system"]["type"]), "two_way", False):
        from astroi2i.data.twoway import twoway_datasets
        from astroi2i.workflows.twoway_anchors import measure_anchors

        train_set, val_set, meta = twoway_datasets(cfg, manifest, stretch_in, stretch_out, fit=fit)
        measure_anchors(train_set, meta, stretch_in, stretch_out, resumed)
    else:
        train_set, val_set, meta = _paired_datasets(
            cfg, manifest, stretch_in, stretch_out, fit=fit,
            resumed_baseline=None if fit else resumed.baseline,
        )  # fmt: skip
    stored = {
        "recipe": cfg,
        **meta,
        "stretches": {"inputs": stretch_in.to_dict(), "targets": stretch_out.to_dict()},
        "scale": cfg["data"]["scale"],
        "fill_value": cfg["data"]["fill_value"],
    }
    return train_set, val_set, ModelDescription.from_dict(stored, source=source)


def _system(cfg: dict, description: ModelDescription, resumed):
    """(system, description): the recipe's system for the description's bands, its generator
    checked against ``data.scale`` and started from ``trainer.init_from``; the description
    completed with the generator's stride and whether it fills."""
    from astroi2i.systems.build import build_system
    from astroi2i.workflows.model import attach_stretches

    data = cfg["data"]
    system = build_system(cfg["model"], len(description.input_bands),
                          len(description.target_bands))  # fmt: skip
    generator = getattr(system, "generator", None)
    enlarges = int(getattr(generator, "scale", 1))
    if not description.is_two_way and enlarges != data["scale"]:
        raise InputError(
            f"data.scale is {data['scale']}, but model.generator "
            f"({cfg['model']['generator']['type']}) enlarges images {enlarges}×"
        )
    sigma_net = getattr(system, "sigma_net", None)
    stride = int(getattr(generator, "stride", 1))
    if sigma_net is not None:  # sizes both networks accept
        from astroi2i.archs.uncertainty import combined_stride

        stride = combined_stride(generator, sigma_net)
    description = description.replace(
        stride=stride,
        fills_invalid=bool(getattr(generator, "fills_invalid", False)),
    )
    if generator is not None and not description.is_two_way and not description.fills_invalid:
        description = _with_receptive_field(description, generator, data["crop_size"])
        if sigma_net is not None and description.receptive_radius is not None:
            # σ sees the prediction within its own radius (output pixels) of each pixel
            from astroi2i.archs.uncertainty import input_reach

            extra = input_reach(sigma_net, enlarges)
            description = description.replace(receptive_radius=description.receptive_radius
                                              + extra)  # fmt: skip
    if cfg["trainer"]["init_from"] and resumed is None:
        init_from(system, cfg["trainer"]["init_from"], description)
    if generator is not None:
        attach_stretches(generator, description, "model.generator")
    if description.is_two_way:
        from astroi2i.workflows.twoway import anchor_twoway

        anchor_twoway(system, description, resumed)
    return system, description
