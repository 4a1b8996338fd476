"""The Lightning side of ``train``: the Trainer a recipe asks for, with astroi2i's callbacks
(model description in every checkpoint, resumable data position, atomic checkpoint files,
replica check, progress, validation panels), and the fit call."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from astroi2i.description import ModelDescription

__all__ = ["build_trainer", "fit", "is_rank_zero"]

log = logging.getLogger(__name__)


def is_rank_zero() -> bool:
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


def _callbacks(cfg: dict, system, description: ModelDescription, workdir: Path, validate: bool):
    import lightning as L

    from astroi2i.data.datamodule import TrainingStateCallback
    from astroi2i.workflows.callbacks import ReplicaCheckCallback, RunProgressBar, ValidationPanels
    from astroi2i.workflows.checkpoint import FinalCheckpoint, MetadataCallback

    tcfg, ckpt_dir = cfg["trainer"], workdir / "checkpoints"
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
            every_n_train_steps=tcfg["checkpoint_every"] * system.steps_per_batch,
            save_last=True,
            save_top_k=1 if validate else 0,
            monitor="val/l1" if validate else None,
        ),
    ]
    if tcfg["progress_bar"]:
        callbacks.append(RunProgressBar(tcfg["max_batches"]))
    if tcfg["panels"] and validate and not description.is_two_way:
        callbacks.append(ValidationPanels(workdir / "panels"))
    return callbacks


def build_trainer(cfg: dict, system, description: ModelDescription, workdir: Path, loggers, *,
                  validate: bool):  # fmt: skip
    """The Trainer of a resolved recipe. Temporaries left in the checkpoint folder by a
    killed checkpoint write are removed first."""
    import lightning as L

    from astroi2i.workflows.checkpoint import AtomicCheckpointIO, remove_stale_temporaries

    if is_rank_zero():
        for tmp in remove_stale_temporaries(workdir / "checkpoints"):
            log.warning("removed %s, left by a checkpoint write that was killed", tmp)
    tcfg = cfg["trainer"]
    return L.Trainer(
        max_steps=system.optimizer_steps(tcfg["max_batches"]),
        max_epochs=-1,
        val_check_interval=tcfg["val_every"] if validate else None,
        check_val_every_n_epoch=None if validate else 1,
        limit_val_batches=1.0 if validate else 0,
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
        callbacks=_callbacks(cfg, system, description, workdir, validate),
        default_root_dir=workdir,
        plugins=[AtomicCheckpointIO()],
        use_distributed_sampler=False,  # the ResumableLoader shards by rank itself
    )


def fit(trainer, system, datamodule, ckpt_path) -> None:
    """``trainer.fit``, resuming from ``ckpt_path`` when given (tensors only)."""
    with warnings.catch_warnings():
        # Lightning warns that manual-optimisation checkpoints hold the state *after* the
        # optimizer step: that is exactly the consistent (weights, optimizer) pair we want
        warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
        if ckpt_path is not None:  # a resumed run continues in its own checkpoint folder
            warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not")
        trainer.fit(system, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
