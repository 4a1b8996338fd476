"""``astroi2i train``: recipe → fitted stretches → Lightning fit → self-describing checkpoints."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from astroi2i.config import apply_overrides, dump_recipe, load_recipe, resolve_recipe
from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io.folders import require_empty_folder

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


def init_from(system, model, description: ModelDescription) -> None:
    """Start ``system``'s generator from the weights of ``model`` (a checkpoint, an export or
    a packaged name: ``trainer.init_from``), which must take and give the same bands."""
    from astroi2i.workflows.model import load_model

    source, desc = load_model(model)
    for side in ("input_bands", "target_bands"):
        if len(getattr(desc, side)) != len(getattr(description, side)):
            raise InputError(
                f"trainer.init_from: {model} has {side.replace('_', ' ')} "
                f"{list(getattr(desc, side))}, this run {list(getattr(description, side))}"
            )
    if not hasattr(source, "state_dict"):
        raise InputError(f"trainer.init_from: {model} is ONNX; start from its checkpoint")
    try:
        system.generator.load_state_dict(source.state_dict())
    except RuntimeError as exc:
        raise InputError(
            f"trainer.init_from: {model} does not fit model.generator ({exc})"
        ) from None
    log.info("generator initialised from %s", model)


def _is_rank_zero() -> bool:
    """False in the extra processes of a multi-process run (Lightning's launcher, torchrun or
    SLURM set the rank in the environment)."""
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _strategy(name: str):
    """Lightning strategy; DDP gets unused-parameter detection, which GAN steps need (each
    optimizer step leaves the other network's parameters without gradients)."""
    if name in ("ddp", "ddp_spawn"):
        from lightning.pytorch.strategies import DDPStrategy

        return DDPStrategy(
            find_unused_parameters=True, start_method="spawn" if name == "ddp_spawn" else "popen"
        )
    return name


def _paired_datasets(cfg: dict, manifest, stretch_in, stretch_out, *, fit: bool):
    """Training and validation :class:`PairedDataset` s of a paired recipe (fitting the
    stretches on the training split when ``fit``), and the checkpoint metadata on bands and
    units."""
    from astroi2i.data.datasets import PairedDataset, fit_pair_stretch, load_pairs
    from astroi2i.sky.geometry import pixel_scale_arcsec

    data = cfg["data"]
    keys = (stretch_in.exposure_keyword, stretch_out.exposure_keyword)
    load = dict(
        align_target=data["align_target"],
        exposure_keyword=keys,
        scale=data["scale"],
        zero_blocks=data["zero_blocks"],
    )
    train_pairs = load_pairs(manifest, data["train_split"], data["inputs"], data["targets"], **load)
    has_val = data["val_split"] in set(manifest.table["split"])
    val_pairs = (
        load_pairs(manifest, data["val_split"], data["inputs"], data["targets"], **load)
        if has_val
        else None
    )
    if fit:
        fit_pair_stretch(stretch_in, train_pairs, "inputs")
        fit_pair_stretch(stretch_out, train_pairs, "targets")
    common = dict(
        input_stretch=stretch_in,
        target_stretch=stretch_out,
        crop_size=data["crop_size"],
        fill_value=data["fill_value"],
        seed=cfg["seed"],
        scale=data["scale"],
        holes=data["holes"],
    )
    train_set = PairedDataset(
        train_pairs,
        crop="random",
        augment=data["augment"],
        crops_per_image=data["crops_per_image"],
        **common,
    )
    val_set = PairedDataset(val_pairs, crop="center", **common) if val_pairs else None
    first = train_pairs[0]
    meta = {
        "input_bands": list(first.inputs.bands),
        "target_bands": list(first.target.bands),
        "input_units": list(first.input_units),
        "target_units": list(first.target_units),
        "input_filters": list(first.input_labels),
        "pixel_scale_arcsec": pixel_scale_arcsec(first.inputs.wcs),
    }
    return train_set, val_set, meta


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
    and the best by validation L1, each carrying recipe, stretches, bands and versions) and
    ``logs/`` (CSV metrics).

    ``resume="last"`` (or a checkpoint path) continues a run from its last checkpoint: model,
    optimizers, schedulers, step counters, data position and RNG states are restored, so in
    deterministic mode the result equals an uninterrupted run bit for bit.
    """
    import lightning as L

    from astroi2i.data.datamodule import PairedDataModule, TrainingStateCallback
    from astroi2i.data.stretches import build_stretch
    from astroi2i.io.manifest import read_manifest
    from astroi2i.systems import SYSTEMS
    from astroi2i.systems.build import build_system
    from astroi2i.workflows.callbacks import (
        ReplicaCheckCallback,
        RunProgressBar,
        ValidationPanels,
        build_loggers,
    )
    from astroi2i.workflows.checkpoint import (
        AtomicCheckpointIO,
        FinalCheckpoint,
        MetadataCallback,
        remove_stale_temporaries,
    )

    cfg = prepare_recipe(recipe, overrides)
    data, tcfg = cfg["data"], cfg["trainer"]
    if not data["manifest"]:
        raise InputError("data.manifest: no manifest given (--set data.manifest=PATH)")
    name = Path(recipe).stem if isinstance(recipe, str | Path) else "run"
    if resume is not None:
        workdir = Path(workdir) if workdir is not None else None
        ckpt_path, resumed = _resume_checkpoint(resume, workdir, cfg)
        workdir = workdir or ckpt_path.parent.parent
    else:
        ckpt_path, resumed = None, None
        workdir = Path(workdir or Path("runs") / f"{name}-{datetime.now():%Y%m%d-%H%M%S}")
        if _is_rank_zero():  # other ranks start inside the folder rank 0 just prepared
            require_empty_folder(
                workdir,
                overwrite=overwrite,
                what="work folder ",
                hint="pass --overwrite, or --resume last",
            )

    manifest = read_manifest(data["manifest"])
    stretch_in = build_stretch(cfg["stretch"]["inputs"])
    stretch_out = build_stretch(cfg["stretch"]["targets"])
    if resumed is not None:  # the fitted stretches travel with the run
        stretch_in = build_stretch(resumed.stretches["inputs"])
        stretch_out = build_stretch(resumed.stretches["targets"])
    two_way = bool(getattr(SYSTEMS.get(cfg["model"]["system"]["type"]), "two_way", False))
    if two_way:
        from astroi2i.data.twoway import twoway_datasets

        train_set, val_set, meta = twoway_datasets(
            cfg, manifest, stretch_in, stretch_out, fit=resumed is None
        )
    else:
        train_set, val_set, meta = _paired_datasets(
            cfg, manifest, stretch_in, stretch_out, fit=resumed is None
        )
    L.seed_everything(cfg["seed"], workers=True, verbose=False)
    system = build_system(cfg["model"], len(meta["input_bands"]), len(meta["target_bands"]))
    generator = getattr(system, "generator", None)
    if not two_way and int(getattr(generator, "scale", 1)) != data["scale"]:
        raise InputError(
            f"data.scale is {data['scale']}, but model.generator "
            f"({cfg['model']['generator']['type']}) enlarges images "
            f"{int(getattr(generator, 'scale', 1))}×"
        )
    description = ModelDescription.from_dict(
        {
            "recipe": cfg,
            **meta,
            "stretches": {"inputs": stretch_in.to_dict(), "targets": stretch_out.to_dict()},
            "scale": data["scale"],
            "stride": int(getattr(generator, "stride", 1)),
            "fill_value": data["fill_value"],
            "fills_invalid": bool(getattr(generator, "fills_invalid", False)),
        },
        source=str(recipe),
    )
    if tcfg["init_from"] and resumed is None:
        init_from(system, tcfg["init_from"], description)

    # fails early if a package is missing
    loggers = build_loggers(tcfg["loggers"], workdir, name, resumed=resumed is not None)
    if _is_rank_zero():
        if resumed is None:
            _clear_run_outputs(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "config.yaml").write_text(dump_recipe(cfg))
    steps = system.steps_per_batch
    ckpt_dir = workdir / "checkpoints"
    if _is_rank_zero():
        for tmp in remove_stale_temporaries(ckpt_dir):
            log.warning("removed %s, left by a checkpoint write that was killed", tmp)
    callbacks = [
        MetadataCallback(description),
        TrainingStateCallback(),
        # after TrainingStateCallback (which advances the data position), before Lightning's
        # own ModelCheckpoint: last.ckpt always holds the final weights
        FinalCheckpoint(ckpt_dir / "last.ckpt"),
        ReplicaCheckCallback(workdir / "replica_check.json"),
        L.pytorch.callbacks.ModelCheckpoint(
            dirpath=ckpt_dir,
            filename="step{step:07d}",
            auto_insert_metric_name=False,
            every_n_train_steps=tcfg["checkpoint_every"] * steps,
            save_last=True,
            save_top_k=1 if val_set is not None else 0,
            monitor="val/l1" if val_set is not None else None,
        ),
    ]
    if tcfg["progress_bar"]:
        callbacks.append(RunProgressBar(tcfg["max_batches"]))
    if tcfg["panels"] and val_set is not None and not two_way:
        callbacks.append(ValidationPanels(workdir / "panels"))
    trainer = L.Trainer(
        max_steps=system.optimizer_steps(tcfg["max_batches"]),
        max_epochs=-1,
        val_check_interval=tcfg["val_every"] if val_set else None,
        check_val_every_n_epoch=None if val_set else 1,
        limit_val_batches=1.0 if val_set else 0,
        num_sanity_val_steps=0,
        log_every_n_steps=tcfg["log_every"],
        accelerator=tcfg["accelerator"],
        devices=tcfg["devices"],
        strategy=_strategy(tcfg["strategy"]),
        precision=tcfg["precision"],
        deterministic=tcfg["deterministic"],
        enable_progress_bar=tcfg["progress_bar"],
        enable_model_summary=False,
        logger=loggers,
        callbacks=callbacks,
        default_root_dir=workdir,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the ResumableLoader shards by rank itself
    )
    datamodule = PairedDataModule(
        train_set,
        val_set,
        batch_size=data["batch_size"],
        num_workers=data["num_workers"],
        seed=cfg["seed"],
    )
    with warnings.catch_warnings():
        # Lightning warns that manual-optimisation checkpoints hold the state *after* the
        # optimizer step: that is exactly the consistent (weights, optimizer) pair we want
        warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
        if resumed is not None:  # a resumed run continues in its own checkpoint folder
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not")
        trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    return TrainResult(workdir, ckpt_dir / "last.ckpt", metrics)
