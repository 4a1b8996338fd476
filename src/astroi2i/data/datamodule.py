"""LightningDataModule over PairedDatasets."""

from __future__ import annotations

import lightning as L
import torch

from astroi2i.data.datasets import PairedDataset

__all__ = ["PairedDataModule", "EpochSeedCallback"]


class PairedDataModule(L.LightningDataModule):
    """Training and validation loaders. Shuffling uses a seeded generator, and each sample's
    crop and augmentation are drawn from (seed, epoch, index), so runs are reproducible."""

    def __init__(
        self,
        train: PairedDataset,
        val: PairedDataset | None = None,
        *,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_set, self.val_set = train, val
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed

    def _loader(self, dataset: PairedDataset, shuffle: bool) -> torch.utils.data.DataLoader:
        generator = torch.Generator().manual_seed(self.seed + dataset.epoch)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=min(self.batch_size, len(dataset)),
            shuffle=shuffle,
            drop_last=shuffle and len(dataset) >= self.batch_size,
            num_workers=self.num_workers,
            generator=generator,
        )

    def train_dataloader(self):
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self):
        return [] if self.val_set is None else self._loader(self.val_set, shuffle=False)


class EpochSeedCallback(L.Callback):
    """Tells the training set which epoch it is, so each epoch draws new crops."""

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        trainer.datamodule.train_set.set_epoch(trainer.current_epoch)
