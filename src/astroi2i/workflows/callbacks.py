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


def _continuing_csv_logger(workdir: Path):
    """A CSVLogger that continues ``logs/metrics.csv`` of a resumed run. Lightning's writer
    deletes the file when it starts; this one keeps the rows logged before the first step the
    resumed run logs (rows after the checkpoint, from the part that was killed, are replaced
    by the resumed run's own)."""
    import csv

    from lightning.fabric.loggers.logger import rank_zero_experiment
    from lightning.pytorch.loggers import CSVLogger
    from lightning.pytorch.loggers.csv_logs import ExperimentWriter

    class Writer(ExperimentWriter):
        _earlier: list[dict] | None = None

        def _check_log_dir_exists(self) -> None:
            if self._fs.isfile(self.metrics_file_path):
                with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                    reader = csv.DictReader(file)
                    self._earlier = list(reader)
                    self.metrics_keys = list(reader.fieldnames or [])

        def save(self) -> None:
            if self._earlier is not None and self.metrics:
                first = min(int(m["step"]) for m in self.metrics)
                kept = [r for r in self._earlier if r.get("step") and int(r["step"]) < first]
                with self._fs.open(self.metrics_file_path, "w", newline="") as file:
                    writer = csv.DictWriter(file, fieldnames=self.metrics_keys)
                    writer.writeheader()
                    writer.writerows(kept)
                self._earlier = None
            super().save()

    class ContinuingCSVLogger(CSVLogger):
        @property
        @rank_zero_experiment
        def experiment(self):
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = Writer(log_dir=self.log_dir)
            return self._experiment

    return ContinuingCSVLogger(workdir, name="logs", version="")


def build_loggers(names: list[str], workdir: Path, run_name: str, *, resumed=False) -> list:
    """Lightning loggers by name. CSV always works; TensorBoard needs ``tensorboard`` or
    ``tensorboardX`` (installed with astroi2i); W&B and MLflow are optional extras.
    ``resumed``: the CSV log continues the run's ``metrics.csv`` instead of replacing it."""
    from lightning.pytorch import loggers

    out = []
    for name in names:
        if name not in LOGGERS:
            raise InputError(
                f"trainer.loggers: unknown logger {name!r}; known: {', '.join(LOGGERS)}"
            )
        if name == "csv" and resumed:
            out.append(_continuing_csv_logger(workdir))
        elif name == "csv":
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
            bar.n = trainer.fit_loop.total_batch_idx + 1  # batches done (0 on a fresh run)
            bar.refresh()
        bar.set_description("training")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        bar = self.train_progress_bar
        bar.n = trainer.fit_loop.total_batch_idx + 1  # batches, whatever the optimizer steps
        bar.set_postfix(self.get_metrics(trainer, pl_module), refresh=False)
        bar.refresh()


def _forward_rows(pl_module, batch, n: int) -> list[dict]:
    """Panel rows of a system whose prediction is its forward pass on ``batch["inputs"]``: the
    last input band, and band 0 of the prediction and the target (and of σ, for a system
    with a σ network; all in the stretched space)."""
    import torch

    from astroi2i.archs.uncertainty import predict_log_sigma

    inputs = batch["inputs"][:n]
    fake = pl_module(inputs)
    pred = fake.float().cpu().numpy()
    sigma = None
    if getattr(pl_module, "sigma_net", None) is not None:
        log_sigma, _ = predict_log_sigma(pl_module.sigma_net, inputs, fake, holes=False)
        sigma = torch.exp(log_sigma).float().cpu().numpy()
    x = inputs.float().cpu().numpy()
    y = batch["target"][:n].float().cpu().numpy()
    return [
        {"label": str(batch["key"][i]), "input": x[i, -1], "prediction": pred[i, 0],
         "target": y[i, 0], "sigma": None if sigma is None else sigma[i, 0]}
        for i in range(len(pred))
    ]  # fmt: skip


class ValidationPanels(L.Callback):
    """At each validation, a PNG of input / prediction / target / residual for up to ``n``
    validation samples (in the stretched space the network sees, percentile-scaled), written to
    ``folder`` and to TensorBoard when it is a logger. A system with a ``panel_rows(batch, n)``
    method (inpainting: the damaged input and the fill) supplies its own rows."""

    def __init__(self, folder: Path, n: int = 3) -> None:
        self.folder, self.n = Path(folder), n

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *_) -> None:
        if batch_idx != 0 or not trainer.is_global_zero or trainer.sanity_checking:
            return
        from astroi2i.workflows.report import panel_figure

        with torch.no_grad():
            if hasattr(pl_module, "panel_rows"):  # systems whose input is not a plain forward
                rows = pl_module.panel_rows(batch, self.n)
            else:
                rows = _forward_rows(pl_module, batch, self.n)
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
