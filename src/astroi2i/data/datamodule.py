"""LightningDataModule over PairedDatasets, with a loader that can resume mid-epoch.

Exact resume needs three things a stock DataLoader does not give: the shuffle order of each
epoch must be a function of (seed, epoch) only, the position inside the epoch must be saved, and
starting a loader must not consume the global torch RNG (dropout draws from it). The
:class:`ResumableLoader` does all three; :class:`TrainingStateCallback` counts trained batches
and saves the RNG states, and both travel in the checkpoint.
"""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch

from astroi2i.data.datasets import PairedDataset

__all__ = ["PairedDataModule", "ResumableLoader", "EpochSampler", "TrainingStateCallback"]


class EpochSampler(torch.utils.data.Sampler[int]):
    """Indices of one epoch: a permutation drawn from (seed, epoch), sharded by rank
    (``rank::world_size``, padded by wrapping so all ranks get the same count), minus the first
    ``skip`` indices of this rank."""

    def __init__(self, n: int, *, shuffle: bool, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.shuffle, self.seed = n, shuffle, seed
        self.rank, self.world_size = rank, world_size
        self.epoch, self.skip = 0, 0

    def _order(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = -(-self.n // self.world_size)
        order = (order * self.world_size)[: per_rank * self.world_size]
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        # the whole epoch, skipped part included: Lightning counts the batches it restored
        # from the checkpoint as done, and ends the epoch at this length
        return -(-self.n // self.world_size)

    def __iter__(self):
        return iter(self._order()[self.skip :])


class ResumableLoader(torch.utils.data.DataLoader):
    """A DataLoader over an :class:`EpochSampler` that counts epochs itself and can start an
    epoch part-way through (its ``load_state_dict``)."""

    def __init__(
        self,
        dataset: PairedDataset,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int,
        num_workers: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.epoch_sampler = EpochSampler(
            len(dataset), shuffle=shuffle, seed=seed, rank=rank, world_size=world_size
        )
        super().__init__(
            dataset,
            batch_size=batch_size,
            sampler=self.epoch_sampler,
            drop_last=shuffle,
            num_workers=num_workers,
            # the loader's own generator seeds workers, so starting it leaves the global RNG alone
            generator=torch.Generator().manual_seed(seed),
        )
        self.next_epoch, self._resume = 0, None
        self.current = {"epoch": 0, "batches": 0}

    def state_dict(self) -> dict:
        """The data position (saved by Lightning in the checkpoint's loop state)."""
        return dict(self.current)

    def load_state_dict(self, state: dict) -> None:
        """Make the next ``iter()`` continue epoch ``state["epoch"]`` after
        ``state["batches"]`` batches."""
        self._resume = (int(state["epoch"]), int(state["batches"]))

    def __iter__(self):
        epoch, batches = self._resume or (self.next_epoch, 0)
        self._resume = None
        if batches >= len(self):
            epoch, batches = epoch + 1, 0
        self.epoch_sampler.epoch, self.epoch_sampler.skip = epoch, batches * self.batch_size
        if hasattr(self.dataset, "set_epoch"):  # PairedDataset, TwoWayDataset
            self.dataset.set_epoch(epoch)
        self.next_epoch = epoch + 1
        self.current = {"epoch": epoch, "batches": batches}
        return super().__iter__()


class PairedDataModule(L.LightningDataModule):
    """Training and validation loaders. The training loader's state (saved in every
    checkpoint) is the data position, so a resumed run continues with the very next batch."""

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
        self.train_loader: ResumableLoader | None = None

    def _rank(self) -> tuple[int, int]:
        trainer = getattr(self, "trainer", None)
        return (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)

    def train_dataloader(self) -> ResumableLoader:
        rank, world = self._rank()
        self.train_loader = ResumableLoader(
            self.train_set,
            batch_size=min(self.batch_size, len(self.train_set)),
            shuffle=True,
            seed=self.seed,
            num_workers=self.num_workers,
            rank=rank,
            world_size=world,
        )
        return self.train_loader

    def val_dataloader(self):
        if self.val_set is None:
            return []
        rank, world = self._rank()
        return ResumableLoader(
            self.val_set,
            batch_size=min(self.batch_size, len(self.val_set)),
            shuffle=False,
            seed=self.seed,
            num_workers=self.num_workers,
            rank=rank,
            world_size=world,
        )


class TrainingStateCallback(L.Callback):
    """Counts the batches trained in the current epoch (for the data module's position) and puts
    the Python, numpy and torch RNG states into each checkpoint, restoring them on resume."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loader = trainer.datamodule.train_loader
        loader.current["batches"] += 1

    def state_dict(self) -> dict:
        state = {
            "torch": torch.get_rng_state(),
            # the legacy global generator is what third-party code draws from
            "numpy": np.random.get_state(legacy=True),  # noqa: NPY002
            "python": random.getstate(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return _plain(state)

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        torch.set_rng_state(state["torch"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal), gauss_next))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


def _plain(state: dict) -> dict:
    """RNG states as tensors, lists and numbers only (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    version, internal, gauss_next = state["python"]
    out = dict(state)
    out["numpy"] = (str(kind), torch.from_numpy(np.asarray(keys).astype(np.int64)), int(pos),
                    int(has_gauss), float(gauss))  # fmt: skip
    out["python"] = (int(version), list(internal), gauss_next)
    return out
