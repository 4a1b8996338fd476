"""pix2pix training-step time: astroi2i's Pix2Pix system against a plain eager PyTorch
reference of the identical recipe, interleaved in one process.

Usage: python benchmarks/train_step.py [--steps 4] [--rounds 3] [--size 256] [--channels-last]
                                       [--profile]

Recipe (both sides): U-Net-256 generator (3→3 bands, 54.4 M parameters) + 70×70 PatchGAN
(2.8 M), 256² images, batch 1, fp32, vanilla GAN loss, L1 weight 100, Adam(2e-4, 0.5, 0.999);
per batch one D step (real and detached fake) and one G step, as in Isola et al. The
reference is the textbook loop on networks written fresh here in plain torch layers
(junyanz's recursive skip blocks; checked at start-up to compute the same function as
astroi2i's networks when given their weights). Ours runs through Lightning with the system's
own training_step; a callback times each of our batches and, in between, runs and times the
same number of reference steps, so both see the same machine state. Prints median seconds per
batch, the ratio ours/reference and the achieved GFLOP/s (the FLOPs of one whole reference
batch, forward and backward, counted op by op with torch.utils.flop_counter), next to this
machine's fp32 GEMM peak. From those it prints a bound: the time the recipe's FLOPs take at
the GEMM peak with no other work, as a fraction of the reference's time. `--profile` also
splits ours (torch.profiler) into convolution/GEMM kernels and everything else (Adam,
BatchNorm, activations, finite checks, Lightning), and prints the bound with that remainder
as measured.

Caveat: in one process both sides share glibc's allocator, whose mmap threshold adapts to
what was freed last; each side's large temporaries change how often the other page-faults,
so the reference's time moves with what ours allocates (docs/scale.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn


def build(seed: int):
    """astroi2i's networks: the registered U-Net-256 and 70×70 PatchGAN."""
    from astroi2i.archs import PatchDiscriminator, UNetGenerator

    torch.manual_seed(seed)
    return UNetGenerator(3, 3, depth=8, base_channels=64), PatchDiscriminator(6)


class _SkipBlock(nn.Module):
    """junyanz's UnetSkipConnectionBlock, in plain torch layers."""

    def __init__(self, outer: int, inner: int, sub=None, *, outermost=False, innermost=False,
                 in_ch=None, dropout=False):  # fmt: skip
        super().__init__()
        self.outermost = outermost
        in_ch = outer if in_ch is None else in_ch
        down = [nn.LeakyReLU(0.2, True), nn.Conv2d(in_ch, inner, 4, 2, 1, bias=False)]
        up_in = inner if innermost else inner * 2
        up = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1, bias=outermost)]
        if outermost:
            down = [nn.Conv2d(in_ch, inner, 4, 2, 1)]
        elif innermost:
            down = [nn.LeakyReLU(0.2, True), nn.Conv2d(in_ch, inner, 4, 2, 1)]
            up.append(nn.BatchNorm2d(outer))
        else:
            down.append(nn.BatchNorm2d(inner))
            up.append(nn.BatchNorm2d(outer))
        if dropout:
            up.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*down, *([sub] if sub is not None else []), *up)

    def forward(self, x):
        # (junyanz concatenates [x, up]; astroi2i [up, x] — same cost, same function up to the
        # order of the next layer's input channels, kept equal here so outputs can be compared)
        return self.model(x) if self.outermost else torch.cat([self.model(x), x], 1)


def plain_networks(seed: int):
    """The reference's networks, written fresh in plain torch: pix2pix's unet_256 and the
    n_layers=3 PatchGAN (nn.Conv2d / nn.ConvTranspose2d / nn.BatchNorm2d only)."""
    torch.manual_seed(seed)
    block = _SkipBlock(512, 512, innermost=True)
    for _ in range(3):
        block = _SkipBlock(512, 512, block, dropout=True)
    for outer in (256, 128, 64):
        block = _SkipBlock(outer, outer * 2, block)
    g = _SkipBlock(3, 64, block, outermost=True, in_ch=3)
    d_layers = [nn.Conv2d(6, 64, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    for c_in, c_out, stride in ((64, 128, 2), (128, 256, 2), (256, 512, 1)):
        d_layers += [nn.Conv2d(c_in, c_out, 4, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                     nn.LeakyReLU(0.2, True)]  # fmt: skip
    d = nn.Sequential(*d_layers, nn.Conv2d(512, 1, 4, 1, 1))
    return g, d


def check_same_networks(size: int) -> None:
    """The reference computes what ours computes: our weights copied into the plain networks
    in parameter order give the same outputs (eval mode, so dropout is off)."""
    ours, plain = build(0), plain_networks(1)
    x = torch.randn(1, 6, size, size)
    for a, b in zip(ours, plain, strict=True):
        with torch.no_grad():
            for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
                pb.copy_(pa)
            a.eval(), b.eval()
            inputs = x[:, :3] if a is ours[0] else x
            diff = (a(inputs) - b(inputs)).abs().max().item()
        if diff > 1e-4:
            raise SystemExit(f"reference and astroi2i networks differ by {diff:.2e}")


class Reference:
    """The plain eager pix2pix step."""

    def __init__(self, seed: int) -> None:
        self.g, self.d = plain_networks(seed)
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


def step_flops(reference: Reference, size: int) -> float:
    """FLOPs of one batch of the recipe, forward and backward, counted op by op
    (torch.utils.flop_counter) over one more step of ``reference``; both sides run the same
    recipe."""
    from torch.utils.flop_counter import FlopCounterMode

    x, y = torch.randn(1, 3, size, size), torch.randn(1, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        reference.step(x, y)
    return float(counter.get_total_flops())


def peak_gemm(n: int = 4096, repeats: int = 3) -> float:
    """This machine's fp32 GEMM rate (FLOP/s): the best of `repeats` n×n×n products."""
    a, b, out = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best


# the operators that run convolutions and our GEMM route (aten::_convolution's own time is the
# transposed convolutions' oneDNN kernel, which the profiler records under no separate name)
GEMM_OPS = frozenset(
    "aten::convolution_backward aten::mkldnn_convolution aten::_convolution aten::mm "
    "aten::addmm aten::im2col aten::col2im".split()
)


def profile_ours(make_system, batch, warmup: int, batches: int) -> tuple[float, float]:
    """Ours under torch.profiler: (seconds per batch in convolution/GEMM kernels, seconds per
    batch in everything else: Adam, BatchNorm, activations, checks, Lightning)."""
    import lightning as L
    from torch.profiler import ProfilerActivity, profile

    walls: list[float] = []

    class Profile(L.Callback):
        def on_train_batch_start(self, trainer, module, b, idx):
            if idx == warmup:
                self.prof = profile(activities=[ProfilerActivity.CPU])
                self.prof.__enter__()
            self.t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, b, idx):
            if idx >= warmup:
                walls.append(time.perf_counter() - self.t0)
            if idx == warmup + batches - 1:
                self.prof.__exit__(None, None, None)

    callback = Profile()
    _fit(make_system(), batch, warmup + batches, [callback])
    gemm = sum(e.self_cpu_time_total for e in callback.prof.key_averages() if e.key in GEMM_OPS)
    per_batch_gemm = gemm / 1e6 / batches
    return per_batch_gemm, sum(walls) / batches - per_batch_gemm


def _fit(system, batch, total: int, callbacks) -> None:
    import lightning as L

    loader = torch.utils.data.DataLoader([batch] * total, batch_size=None)
    trainer = L.Trainer(
        max_steps=2 * total,  # two optimizer steps per batch
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=callbacks,
    )
    trainer.fit(system, train_dataloaders=loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="batches per round and side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--channels-last", action="store_true", help="ours in channels_last")
    parser.add_argument(
        "--profile", action="store_true",
        help="also profile ours: time in convolution/GEMM kernels against everything else",
    )  # fmt: skip
    args = parser.parse_args()

    import lightning as L

    from astroi2i.losses import GANLoss, MaskedL1Loss
    from astroi2i.systems import Pix2Pix

    size = args.size
    check_same_networks(size)
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

    def make_system():
        g, d = build(0)
        return Pix2Pix(
            g, d, GANLoss(mode="vanilla"), MaskedL1Loss(weight=100.0),
            channels_last=args.channels_last,
        )  # fmt: skip

    for _ in range(warmup):
        reference.step(batch["inputs"], batch["target"])
    _fit(make_system(), batch, warmup + args.steps * args.rounds, [Interleave()])

    ours, ref = statistics.median(our_times), statistics.median(ref_times)
    flops, peak = step_flops(reference, size), peak_gemm()
    # (the parameter counts equal ours: checked by check_same_networks at start-up)
    n_g = sum(p.numel() for p in reference.g.parameters()) / 1e6
    n_d = sum(p.numel() for p in reference.d.parameters()) / 1e6
    print(
        f"G {n_g:.1f} M + D {n_d:.1f} M parameters, {size}², batch 1, fp32, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}"
    )
    print(
        f"recipe: {flops / 1e9:.1f} GFLOP per batch (forward and backward, counted); "
        f"this machine's fp32 GEMM peak {peak / 1e9:.1f} GFLOP/s (4096³ matmul)"
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
    print(
        f"bound: every FLOP at the GEMM peak and nothing else would take {flops / peak:.3f} s "
        f"= {flops / peak / ref:.3f} × the reference"
    )
    if args.profile:
        gemm, rest = profile_ours(make_system, batch, warmup, args.steps)
        print(
            f"ours profiled ({args.steps} batches): convolutions and GEMMs {gemm:.3f} s/batch "
            f"({flops / gemm / 1e9:.1f} GFLOP/s, {flops / gemm / peak:.0%} of the peak), "
            f"everything else {rest:.3f} s/batch"
        )
        print(
            f"bound with the rest as measured: {flops / peak + rest:.3f} s "
            f"= {(flops / peak + rest) / ref:.3f} × the reference"
        )


if __name__ == "__main__":
    main()
