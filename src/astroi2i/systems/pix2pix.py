"""pix2pix (Isola et al. 2017): a conditional GAN with an L1 term. Multi-input is simply more
``in_channels``: the bands of several surveys are stacked by the dataset."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from astroi2i.archs.uncertainty import sigma_channels
from astroi2i.losses.gan import GANLoss
from astroi2i.systems.base import GANSystem, lr_factors, sigma_nll
from astroi2i.systems.registry import SYSTEMS

__all__ = ["Pix2Pix"]


def _linear_decay(start: int, total: int):
    """pix2pix's schedule in optimizer-step units: 1 until ``start``, then linearly to 0."""

    def factor(step: int) -> float:
        if total <= start or step < start:
            return 1.0
        return max(0.0, 1.0 - (step - start) / float(total - start))

    return factor


@SYSTEMS.register
class Pix2Pix(GANSystem):
    """D step, then G step, per batch (manual optimisation).

    Parameters
    ----------
    generator, discriminator : nn.Module
        G maps inputs (N, C_in, H, W) → (N, C_out, H, W). D sees inputs and target (or fake)
        concatenated along channels (conditional GAN), so it takes C_in + C_out channels.
    gan_loss : GANLoss
    pixel_loss : nn.Module
        Called as ``pixel_loss(fake, target, mask, scale)``; pix2pix's L1 with weight 100.
        ``scale`` is the batch's ``loss_scale`` (``model.pixel_loss.space`` physical or
        both) or None.
    lr, beta1, beta2 : float
        Adam settings for both networks (pix2pix: 2e-4, 0.5, 0.999).
    lr_schedule : {"constant", "linear"}
        ``linear`` holds the rate until ``decay_start`` batches, then decays it to 0 at the
        trainer's ``max_steps``.
    max_nonfinite_steps : int
        An optimizer step whose loss or gradients are not finite is skipped (and counted in
        ``train/skipped_steps``); this many in a row stop the run.
    freeze_generator : bool
        Train only the σ network (``model.uncertainty``) of a generator started from
        ``trainer.init_from``, which stays as it is (eval mode; the stretches and baseline
        are the initial model's): σ for a model trained without one.
    fused_adam : bool
        Use PyTorch's fused Adam kernel (same update, one kernel for all parameters: about 8×
        faster than the per-tensor loop on CPU); falls back to the loop where unsupported.
    channels_last : bool
        Run convolutions in the channels-last memory layout (often faster with oneDNN on CPU
        and with tensor cores on GPU; the numbers are the same up to float rounding).
    """

    @staticmethod
    def network_channels(in_channels: int, out_channels: int) -> dict[str, dict[str, int]]:
        """Channel arguments the builder passes to each network (conditional D sees both)."""
        return {
            "generator": {"in_channels": in_channels, "out_channels": out_channels},
            "discriminator": {"in_channels": in_channels + out_channels},
            "uncertainty": sigma_channels(in_channels, out_channels),
        }

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: GANLoss,
        pixel_loss: nn.Module,
        *,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        lr_schedule: Literal["constant", "linear"] = "constant",
        decay_start: int = 0,
        max_nonfinite_steps: int = 10,
        channels_last: bool = False,
        fused_adam: bool = True,
        uncertainty: nn.Module | None = None,
        freeze_generator: bool = False,
    ) -> None:
        super().__init__(
            generator, discriminator, gan_loss, pixel_loss, max_nonfinite_steps, uncertainty
        )
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "gan_loss", "pixel_loss", "uncertainty"]
        )

    def training_step(self, batch, batch_idx: int) -> None:
        with self.guard.protect_buffers(self):
            stepped = self._gan_step(batch)
        # a skipped (non-finite) batch does not advance the schedule; a frozen generator has
        # none (σ's rate is constant, the discriminator does not step)
        if stepped and not self.hparams.freeze_generator:
            for scheduler in self.lr_schedulers() or []:
                scheduler.step()

    def on_fit_start(self) -> None:
        if self.hparams.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)

    def _gan_step(self, batch) -> bool:
        x, y, mask = batch["inputs"], batch["target"], batch["mask"]
        if self.hparams.freeze_generator:  # only σ learns (a σ network for a trained model)
            return self._sigma_only_step(x, y, mask)
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
            y = y.contiguous(memory_format=torch.channels_last)
        opt_g, opt_d = self.optimizers()
        fake = self.generator(x)

        # 1. discriminator: real pairs towards "real", generated pairs towards "fake"
        self.toggle_optimizer(opt_d)
        loss_d = self.gan_loss.discriminator(
            self.discriminator(torch.cat([x, y], 1)),
            self.discriminator(torch.cat([x, fake.detach()], 1)),
        )
        self.guard.step(self, opt_d, loss_d, "discriminator")
        self.untoggle_optimizer(opt_d)

        # 2. generator: fool D and stay close to the target on valid pixels
        self.toggle_optimizer(opt_g)
        loss_g_gan = self.gan_loss.generator(self.discriminator(torch.cat([x, fake], 1)))
        loss_g_pix = self.pixel_loss(fake, y, mask, batch.get("loss_scale"))
        loss_g = loss_g_gan + loss_g_pix + sigma_nll(self, x, fake, y, mask)
        stepped = self.guard.step(self, opt_g, loss_g, "generator")
        self.untoggle_optimizer(opt_g)

        self.log_dict(
            {
                "train/loss_d": loss_d,
                "train/loss_g_gan": loss_g_gan,
                "train/loss_g_pixel": loss_g_pix,
                "train/skipped_steps": float(self.guard.skipped),
            },
            prog_bar=True,
            batch_size=x.shape[0],
        )
        return stepped

    def validation_step(self, batch, batch_idx: int) -> None:
        fake = self.generator(batch["inputs"])
        l1 = self.pixel_loss(fake, batch["target"], batch["mask"], batch.get("loss_scale"))
        l1 = l1 / self.pixel_loss.weight
        sigma_nll(self, batch["inputs"], fake, batch["target"], batch["mask"], "val")
        self.log("val/l1", l1, prog_bar=True, batch_size=fake.shape[0], sync_dist=True)

    def configure_optimizers(self):
        hp = self.hparams
        opt_g, opt_d = self._adams()
        if hp.lr_schedule == "constant":
            return [opt_g, opt_d]
        total = int(self.trainer.max_steps) if self.trainer.max_steps > 0 else 0
        # Lightning's max_steps counts both optimizers' steps; the schedule counts batches
        factor = _linear_decay(hp.decay_start, total // self.steps_per_batch)
        schedulers = [torch.optim.lr_scheduler.LambdaLR(o, lr_factors(o, factor))
                      for o in (opt_g, opt_d)]  # fmt: skip
        return [opt_g, opt_d], schedulers
