"""SRGAN (Ledig et al. 2017) for super-resolution between surveys: an optional pixel-loss
pretraining stage (SRResNet), then the GAN stage with content + adversarial + pixel losses.

Content loss: VGG19 features from a user-given weights file; without one, discriminator
feature matching (needs no ImageNet weights) — the choice is logged when training starts.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from astroi2i.archs.uncertainty import sigma_channels
from astroi2i.losses.gan import GANLoss
from astroi2i.losses.perceptual import perceptual_term
from astroi2i.systems.base import GANSystem, sigma_nll
from astroi2i.systems.registry import SYSTEMS

__all__ = ["SRGAN"]

log = logging.getLogger(__name__)


@SYSTEMS.register
class SRGAN(GANSystem):
    """Per batch: in the first ``pretrain_batches``, one generator step on the pixel loss;
    afterwards a D step (HR real vs generated) then a G step on
    ``content_weight`` · content + adversarial (``gan_loss.weight``) + pixel loss.

    Parameters
    ----------
    generator : nn.Module
        LR (N, C_in, h, w) → HR (N, C_out, h·s, w·s), e.g. SRResNetGenerator.
    discriminator : nn.Module
        Unconditional, on HR images; needs ``features(x)`` for the fallback content loss.
    vgg_weights : str, optional
        Path of VGG19 weights (torchvision key names; ``.pth`` read with weights_only, or
        ``.safetensors``). Without it the content loss matches discriminator features.
    content_layers : list of int
        VGG19 ``features`` indices for the content loss (35 = relu5_4, Ledig's VGG54).
    gan_lr : float, optional
        Learning rate of both networks in the GAN stage (Ledig et al. drop it 10× after the
        SRResNet stage); ``None`` keeps ``lr``. Stored in the optimizers, so resumes keep it.
    """

    @staticmethod
    def network_channels(in_channels: int, out_channels: int) -> dict[str, dict[str, int]]:
        return {
            "generator": {"in_channels": in_channels, "out_channels": out_channels},
            "discriminator": {"in_channels": out_channels},
            "uncertainty": sigma_channels(in_channels, out_channels),
        }

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: GANLoss,
        pixel_loss: nn.Module,
        *,
        lr: float = 1e-4,
        beta1: float = 0.9,
        beta2: float = 0.999,
        pretrain_batches: int = 0,
        content_weight: float = 1.0,
        content_layers: list[int] = (35,),
        vgg_weights: str | None = None,
        gan_lr: float | None = None,
        max_nonfinite_steps: int = 10,
        fused_adam: bool = True,
        uncertainty: nn.Module | None = None,
        freeze_generator: bool = False,
    ) -> None:
        super().__init__(
            generator, discriminator, gan_loss, pixel_loss, max_nonfinite_steps, uncertainty
        )
        self.vgg = None
        if vgg_weights:
            from astroi2i.archs.vgg import VGG19Features

            self.vgg = VGG19Features(list(content_layers), weights=vgg_weights)
        self.save_hyperparameters(
            ignore=["generator", "discriminator", "gan_loss", "pixel_loss", "uncertainty"]
        )

    def optimizer_steps(self, batches: int) -> int:
        """Optimizer steps (Lightning's global_step) in ``batches`` training batches."""
        if self.hparams.freeze_generator:  # only σ steps
            return batches
        pre = min(self.hparams.pretrain_batches, batches)
        return pre + 2 * (batches - pre)

    def _content(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        if self.vgg is not None:
            return perceptual_term(self.vgg(fake), [f.detach() for f in self.vgg(real)])
        real_features = [f.detach() for f in self.discriminator.features(real)]
        return perceptual_term(self.discriminator.features(fake), real_features)

    def training_step(self, batch, batch_idx: int) -> None:
        with self.guard.protect_buffers(self):
            self._step(batch)

    def _step(self, batch) -> None:
        x, y, mask = batch["inputs"], batch["target"], batch["mask"]
        if self.hparams.freeze_generator:  # only σ learns (a σ network for a trained model)
            return self._sigma_only_step(x, y, mask)
        opt_g, opt_d = self.optimizers()
        fake = self.generator(x)
        pixel = self.pixel_loss(fake, y, mask, batch.get("loss_scale"))
        nll = sigma_nll(self, x, fake, y, mask)
        if self.trainer.fit_loop.total_batch_idx < self.hparams.pretrain_batches:
            self.guard.step(self, opt_g, pixel + nll, "generator (pretraining)")
            self.log("train/loss_g_pixel", pixel, prog_bar=True, batch_size=x.shape[0])
            return
        if self.hparams.gan_lr is not None:
            for opt in (opt_g, opt_d):
                for group in getattr(opt, "optimizer", opt).param_groups:
                    if not group.get("sigma"):  # the σ network keeps its own rate
                        group["lr"] = self.hparams.gan_lr
        self.toggle_optimizer(opt_d)
        loss_d = self.gan_loss.discriminator(
            self.discriminator(y), self.discriminator(fake.detach())
        )
        self.guard.step(self, opt_d, loss_d, "discriminator")
        self.untoggle_optimizer(opt_d)

        self.toggle_optimizer(opt_g)
        adversarial = self.gan_loss.generator(self.discriminator(fake))
        content = self._content(fake, y)
        loss_g = self.hparams.content_weight * content + adversarial + pixel + nll
        self.guard.step(self, opt_g, loss_g, "generator")
        self.untoggle_optimizer(opt_g)
        self.log_dict(
            {
                "train/loss_d": loss_d,
                "train/loss_g_content": content,
                "train/loss_g_gan": adversarial,
                "train/loss_g_pixel": pixel,
                "train/skipped_steps": float(self.guard.skipped),
            },
            prog_bar=True,
            batch_size=x.shape[0],
        )

    def validation_step(self, batch, batch_idx: int) -> None:
        fake = self.generator(batch["inputs"])
        sigma_nll(self, batch["inputs"], fake, batch["target"], batch["mask"], "val")
        l1 = (fake - batch["target"]).abs()
        valid = (~batch["mask"]).unsqueeze(1).expand_as(l1).to(l1.dtype)
        value = (l1 * valid).sum() / valid.sum().clamp_min(1.0)
        self.log("val/l1", value, prog_bar=True, batch_size=fake.shape[0], sync_dist=True)

    def configure_optimizers(self):
        return self._adams()

    def on_fit_start(self) -> None:
        if self.vgg is None:
            log.info(
                "no VGG19 weights file (model.system.vgg_weights): the content loss uses "
                "discriminator feature matching, which needs no ImageNet weights"
            )
        else:
            log.info("content loss: VGG19 features %s", list(self.hparams.content_layers))
