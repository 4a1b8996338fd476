"""pix2pix training-step time: astroi2i's Pix2Pix system against a plain eager PyTorch
reference of the identical recipe, interleaved in one process.

Usage: python benchmarks/train_step.py [--steps 6] [--rounds 3] [--size 256] [--channels-last]

Recipe (both sides): U-Net-256 generator (3→3 bands, 54.4 M parameters) + 70×70 PatchGAN
(2.8 M), 256² images, batch 1, fp32, vanilla GAN loss, L1 weight 100, Adam(2e-4, 0.5, 0.999);
per batch one D step (real and detached fake) and one G step, as in Isola et al. The
reference is the textbook loop (junyanz-style, written fresh in plain torch). Ours runs
through Lightning with the system's own training_step; a callback times each of our batches
and, in between, runs and times the same number of reference steps, so both see the same
machine state. Prints median seconds per batch, the ratio ours/reference and the achieved
GFLOP/s (forward FLOPs counted with torch.utils.flop_counter; a training step ≈ 3× forward).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn


def build(seed: int):
    from astroi2i.archs import PatchDiscriminator, UNetGenerator

    torch.manual_seed(seed)
    return UNetGenerator(3, 3, depth=8, base_channels=64), PatchDiscriminator(6)


class Reference:
    """The plain eager pix2pix step."""

    def __init__(self, seed: int) -> None:
        self.g, self.d = build(seed)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCEWithLogitsLoss()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        fake = self.g(x)
        for p in self.d.parameters():
            p.requires_grad_(True)
        self.opt_d.zero_grad()
        real_logits = self.d(torch.cat([x, y], 1))
        fake_logits = self.d(torch.cat([x, fake.detach()], 1))
        loss_d = 0.5 * (
            self.bce(real_logits, torch.ones_like(real_logits))
            + self.bce(fake_logits, torch.zeros_like(fake_logits))
        )
        loss_d.backward()
        self.opt_d.step()
        for p in self.d.parameters():
            p.requires_grad_(False)
        self.opt_g.zero_grad()
        logits = self.d(torch.cat([x, fake], 1))
        loss_g = self.bce(logits, torch.ones_like(logits)) + 100.0 * (fake - y).abs().mean()
        loss_g.backward()
        self.opt_g.step()


def forward_flops(size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    g, d = build(0)
    x = torch.randn(1, 3, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fake = g(x)
        for _ in range(3):  # D sees real, detached fake and fake
            d(torch.cat([x, fake], 1))
    return float(counter.get_total_flops())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="batches per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--channels-last", action="store_true", help="ours in channels_last")
    args = parser.parse_args()

    import lightning as L

    from astroi2i.losses import GANLoss, MaskedL1Loss
    from astroi2i.systems import Pix2Pix

    size = args.size
    batch = {
        "inputs": torch.randn(1, 3, size, size),
        "target": torch.randn(1, 3, size, size),
        "mask": torch.zeros(1, size, size, dtype=torch.bool),
    }
    reference = Reference(seed=0)
    ref_times, our_times = [], []
    warmup = 2

    class Interleave(L.Callback):
        def on_train_batch_start(self, trainer, module, b, idx):
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, b, idx):
            if idx >= warmup:
                our_times.append(time.perf_counter() - self.t0)
            if idx >= warmup - 1 and (idx - warmup + 1) % args.steps == 0:
                for _ in range(args.steps):
                    t0 = time.perf_counter()
                    reference.step(batch["inputs"], batch["target"])
                    ref_times.append(time.perf_counter() - t0)

    g, d = build(0)
    system = Pix2Pix(
        g, d, GANLoss(mode="vanilla"), MaskedL1Loss(weight=100.0), channels_last=args.channels_last
    )
    total = warmup + args.steps * args.rounds
    loader = torch.utils.data.DataLoader([batch] * total, batch_size=None)
    trainer = L.Trainer(
        max_steps=2 * total,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[Interleave()],
    )
    for _ in range(warmup):
        reference.step(batch["inputs"], batch["target"])
    trainer.fit(system, train_dataloaders=loader)

    ours, ref = statistics.median(our_times), statistics.median(ref_times)
    flops = 3 * forward_flops(size)
    n_g = sum(p.numel() for p in g.parameters()) / 1e6
    n_d = sum(p.numel() for p in d.parameters()) / 1e6
    print(
        f"G {n_g:.1f} M + D {n_d:.1f} M parameters, {size}², batch 1, fp32, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(f"reference (plain eager): {ref:.3f} s/batch  ({flops / ref / 1e9:.1f} GFLOP/s)")
    print(
        f"astroi2i Pix2Pix:        {ours:.3f} s/batch  ({flops / ours / 1e9:.1f} GFLOP/s)"
        f"{'  [channels_last]' if args.channels_last else ''}"
    )
    print(
        f"ratio ours/reference: {ours / ref:.3f}  (goal ≤ 0.67); "
        f"{len(our_times)} + {len(ref_times)} timed batches"
    )


if __name__ == "__main__":
    main()
