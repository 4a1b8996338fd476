"""PConvInpainting: CorKit's two-stage training of a multi-layer partial-convolution U-Net.

Stage ``pretrain``: Adam (lr 2e-4), gradient norm clipped to 0.005, α = (6, 6, 0.05, 120, 120).
Stage ``finetune``: starts from the pre-trained generator (``trainer.init_from``), lr 5e-5,
clip 5e-4, α = (0.2, 0.8, 0.2, 1.2, 1.8), and freezes the encoders' BatchNorm statistics
(Liu et al.).

A batch carries ``inputs`` (the image, holes filled), ``target`` (the full image), ``mask``
(True = no truth: never scored) and ``hole`` (True = removed for training). The network sees
the pixels that are neither.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from astroi2i.archs.uncertainty import predict_log_sigma, sigma_channels
from astroi2i.systems.base import adam, freeze_generator, sigma_nll, with_sigma_net
from astroi2i.systems.guard import NonFiniteGuard
from astroi2i.systems.registry import SYSTEMS

__all__ = ["PConvInpainting"]


@SYSTEMS.register
class PConvInpainting(L.LightningModule):
    """One generator step per batch on CorKit's loss, with teacher forcing per layer."""

    components = {"generator": "arch", "inpaint_loss": "loss"}
    #: ``uncertainty``: a σ network that also sees the known-pixel mask and the hole depth
    optional_components = {"uncertainty": "arch"}
    steps_per_batch = 1
    fills = True

    @staticmethod
    def network_channels(in_channels: int, out_channels: int) -> dict[str, dict[str, int]]:
        return {
            "generator": {"in_channels": in_channels, "out_channels": out_channels},
            "uncertainty": sigma_channels(in_channels, out_channels, holes=True),
        }  # fmt: skip

    def __init__(
        self,
        generator: nn.Module,
        inpaint_loss: nn.Module,
        *,
        lr: float = 2e-4,
        beta1: float = 0.9,
        beta2: float = 0.999,
        clip: float | None = 0.005,
        freeze_encoder_bn: bool = False,
        max_nonfinite_steps: int = 10,
        fused_adam: bool = True,
        uncertainty: nn.Module | None = None,
        freeze_generator: bool = False,
    ) -> None:
        super().__init__()
        if not hasattr(generator, "stages"):
            raise ValueError(
                "PConvInpainting needs a generator with stages(), e.g. MultiLayerPConvUNet"
            )
        self.automatic_optimization = False
        self.generator, self.inpaint_loss = generator, inpaint_loss
        self.sigma_net = uncertainty
        self.guard = NonFiniteGuard(max_nonfinite_steps)
        self.save_hyperparameters(ignore=["generator", "inpaint_loss", "uncertainty"])

    def optimizer_steps(self, batches: int) -> int:
        return batches

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.generator(inputs)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.generator(batch["inputs"])

    def train(self, mode: bool = True):
        """A frozen generator (``freeze_generator``) stays in eval mode."""
        super().train(mode)
        freeze_generator(self)
        return self

    def on_train_epoch_start(self) -> None:
        if self.hparams.freeze_encoder_bn:
            for layer in self.generator.layers:
                for block in layer.enc:
                    if isinstance(block.norm, nn.BatchNorm2d):
                        block.norm.eval()

    @staticmethod
    def _masks(batch):
        x, mask = batch["inputs"], batch["mask"]
        hole = batch.get("hole", torch.zeros_like(mask))
        valid = (~(mask | hole)).unsqueeze(1).to(x.dtype)
        scored = (~mask).unsqueeze(1).to(x.dtype)
        return valid, scored, hole

    def training_step(self, batch, batch_idx: int) -> None:
        x, y = batch["inputs"], torch.nan_to_num(batch["target"])
        valid, scored, _ = self._masks(batch)
        opt = self.optimizers()
        if self.hparams.freeze_generator:  # only σ learns; the generator in eval mode
            freeze_generator(self)
            self.guard.step(self, opt, self._sigma_term(batch, y, "train"), "σ network")
            return
        stages = self.generator.stages(torch.nan_to_num(x) * valid, valid, target=y)
        scale = batch.get("loss_scale")
        if scale is None:
            loss, terms = self.inpaint_loss(stages, y, scored)
        else:  # a loss that scores physical errors (model.inpaint_loss.space)
            loss, terms = self.inpaint_loss(stages, y, scored, scale)
        loss = loss + self._sigma_term(batch, y, "train")
        self.guard.step(self, opt, loss, "generator", clip=self.hparams.clip)
        logs = {f"train/loss_{k}": v for k, v in terms.items()}
        logs |= {"train/loss": loss, "train/skipped_steps": float(self.guard.skipped)}
        self.log_dict(logs, prog_bar=True, batch_size=x.shape[0])

    def _sigma_term(self, batch, y, name: str) -> torch.Tensor:
        """The σ network's NLL on the scored hole pixels, around the generator's fill of the
        damaged input as translate makes it (no teacher forcing; computed without gradient)."""
        if self.sigma_net is None:
            return y.new_zeros(())
        valid, scored, hole = self._masks(batch)
        damaged = torch.where(valid.bool(), batch["inputs"], torch.nan)
        with torch.no_grad():
            filled = self.generator(damaged)
        not_scored = ~(hole.unsqueeze(1) & scored.bool())
        return sigma_nll(self, damaged, filled, y, not_scored, name)

    def _validation_fill(self, batch):
        """(damaged input, fill, scored, hole): every hole and invalid pixel set to NaN, as
        translate sees missing data, and the generator's fill of them."""
        valid, scored, hole = self._masks(batch)
        damaged = torch.where(valid.bool(), batch["inputs"], torch.nan)
        return damaged, self.generator(damaged), scored, hole

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch["inputs"], torch.nan_to_num(batch["target"])
        _, filled, scored, hole = self._validation_fill(batch)
        self._sigma_term(batch, y, "val")
        region = hole.unsqueeze(1).to(x.dtype) * scored
        err = ((filled - y).abs() * region).sum() / region.sum().clamp_min(1.0)
        self.log("val/l1", err, prog_bar=True, batch_size=x.shape[0], sync_dist=True)

    def panel_rows(self, batch, n: int) -> list[dict]:
        """Validation panels (band 0, stretched units): the input with its holes and invalid
        pixels blank (NaN), the fill, the target blank where it is invalid (occulter,
        off-detector: never scored), and σ of the fill when the model has one. The residual
        is then blank where nothing is scored, zero on valid pixels (kept bit for bit) and the
        fill's error in the holes."""
        part = {k: v[:n] for k, v in batch.items() if torch.is_tensor(v)}
        damaged, filled, scored, hole = self._validation_fill(part)
        y = torch.where(scored.bool(), part["target"], torch.nan)
        sigma = None
        if self.sigma_net is not None:  # σ of the fill: 0 on kept pixels, growing into holes
            log_sigma, known = predict_log_sigma(self.sigma_net, damaged, filled, holes=True)
            sigma = (torch.exp(log_sigma) * (1.0 - known))[:, 0].float().cpu().numpy()
        rows = []
        for i in range(len(damaged)):
            n_hole = int(hole[i].sum())
            rows.append({
                "label": f"{batch['key'][i]} ({n_hole} px hole)",
                "input": damaged[i, 0].float().cpu().numpy(),
                "prediction": filled[i, 0].float().cpu().numpy(),
                "target": y[i, 0].float().cpu().numpy(),
                "sigma": None if sigma is None else sigma[i],
            })  # fmt: skip
        return rows

    def configure_optimizers(self):
        return adam(with_sigma_net(self.generator, self.sigma_net), self.hparams)
