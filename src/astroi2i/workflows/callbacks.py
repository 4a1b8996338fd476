"""Callbacks the train workflow adds: loggers, a whole-run progress bar, validation panels and
the replica check for multi-process runs."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import TQDMProgressBar

from astroi2i.errors import InputError

__all__ = ["build_loggers", "RunProgressBar", "ValidationPanels", "ReplicaCheckCallback", "LOGGERS"]

log = logging.getLogger(__name__)

LOGGERS = ("csv", "tensorboard", "wandb", "mlflow")


def build_loggers(names: list[str], workdir: Path, run_name: str) -> list:
    """Lightning loggers by name. CSV always works; TensorBoard needs ``tensorboard`` or
    ``tensorboardX`` (installed with astroi2i); W&B and MLflow are optional extras."""
    from lightning.pytorch import loggers

    out = []
    for name in names:
        if name not in LOGGERS:
            raise InputError(
                f"trainer.loggers: unknown logger {name!r}; known: {', '.join(LOGGERS)}"
            )
        if name == "csv":
            out.append(loggers.CSVLogger(workdir, name="logs", version=""))
        elif name == "tensorboard":
            out.append(loggers.TensorBoardLogger(workdir, name="tensorboard", version=""))
        else:
            package = {"wandb": "wandb", "mlflow": "mlflow"}[name]
            try:
                __import__(package)
            except ImportError:
                raise InputError(
                    f"trainer.loggers: {name!r} needs the {package} package (pip install {package})"
                ) from None
            if name == "wandb":
                out.append(loggers.WandbLogger(name=run_name, save_dir=str(workdir)))
            else:
                out.append(
                    loggers.MLFlowLogger(
                        run_name=run_name, tracking_uri=f"file:{workdir / 'mlruns'}"
                    )
                )
    return out


class RunProgressBar(TQDMProgressBar):
    """One bar for the whole run: training batches done out of ``total``, with it/s and the
    ETA of the run (Lightning's default bar restarts every epoch, which for small data sets is
    every few batches)."""

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = total

    def on_train_epoch_start(self, trainer, *_) -> None:
        bar = self.train_progress_bar
        if bar.total != self.total:
            bar.reset(total=self.total)
            bar.n = trainer.fit_loop.total_batch_idx
            bar.refresh()
        bar.set_description("training")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        bar.n = trainer.fit_loop.total_batch_idx + 1  # batches, whatever the optimizer steps
        bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.refresh()


class ValidationPanels(L.Callback):
    """At each validation, a PNG of input / prediction / target / residual for up to ``n``
    validation samples (in the stretched space the network sees, percentile-scaled), written to
    ``folder`` and to TensorBoard when it is a logger."""

    def __init__(self, folder: Path, n: int = 3) -> None:
        self.folder, self.n = Path(folder), n

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *_) -> None:
        if batch_idx != 0 or not trainer.is_global_zero or trainer.sanity_checking:
            return
        from astroi2i.workflows.report import panel_figure

        with torch.no_grad():
            pred = pl_module(batch["inputs"][: self.n]).float().cpu().numpy()
        x = batch["inputs"][: self.n].float().cpu().numpy()
        y = batch["target"][: self.n].float().cpu().numpy()
        rows = [
            {
                "label": str(batch["key"][i]),
                "input": x[i, -1],
                "prediction": pred[i, 0],
                "target": y[i, 0],
            }
            for i in range(len(pred))
        ]
        self.folder.mkdir(parents=True, exist_ok=True)
        batches = trainer.fit_loop.total_batch_idx + 1  # batches, whatever the optimizer steps
        path = panel_figure(
            rows,
            self.folder / f"val_batch{batches:07d}.png",
            title=f"validation after {batches} batches (stretched units)",
        )
        for logger in trainer.loggers:
            if isinstance(logger, L.pytorch.loggers.TensorBoardLogger):
                import matplotlib.image

                image = matplotlib.image.imread(path)[..., :3]  # the rendered figure, 0..1
                logger.experiment.add_image("val/panels", image, batches, dataformats="HWC")


class ReplicaCheckCallback(L.Callback):
    """After training with several processes, compare a SHA-256 of every rank's parameters and
    write them to ``path`` (rank 0); differing replicas are an error, not a silent drift.
    (BatchNorm running statistics are per-rank by DDP's design and synchronised from rank 0 at
    each forward, so they are not part of the comparison.)"""

    def __init__(self, path) -> None:
        self.path = path

    def on_train_end(self, trainer, pl_module) -> None:
        import hashlib
        import json

        import torch.distributed as dist

        if trainer.world_size < 2 or not dist.is_initialized():
            return
        digest = hashlib.sha256()
        for name, tensor in sorted(pl_module.named_parameters()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        hashes: list[str | None] = [None] * trainer.world_size
        dist.all_gather_object(hashes, digest.hexdigest())
        if trainer.global_rank == 0:
            with open(self.path, "w") as f:
                json.dump({"parameters_sha256_by_rank": hashes}, f, indent=1)
        if len(set(hashes)) != 1:
            raise RuntimeError(f"replicas ended with different weights: {hashes}")
