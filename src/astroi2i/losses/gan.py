"""Adversarial objectives on discriminator logits: vanilla (BCE), least squares, hinge."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from astroi2i.losses.registry import LOSSES

__all__ = ["GANLoss"]


@LOSSES.register
class GANLoss(nn.Module):
    """The adversarial terms of one GAN objective.

    - ``vanilla``: binary cross-entropy on logits (Goodfellow et al.; pix2pix default);
    - ``lsgan``: least squares towards 1 (real) and 0 (fake) (Mao et al.);
    - ``hinge``: D minimises relu(1 − real) + relu(1 + fake); G minimises −fake.

    :meth:`discriminator` returns the D loss for a (real, fake) pair of logits and
    :meth:`generator` the G loss for fake logits; both are multiplied by ``weight``.
    """

    def __init__(
        self, *, mode: Literal["vanilla", "lsgan", "hinge"] = "vanilla", weight: float = 1.0
    ) -> None:
        super().__init__()
        self.mode, self.weight = mode, float(weight)

    def _towards(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)

    def discriminator(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """D loss: real patches towards "real", fake ones towards "fake" (mean of both terms,
        pix2pix's halving of the D objective)."""
        if self.mode == "hinge":
            loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        else:
            loss = self._towards(real_logits, True) + self._towards(fake_logits, False)
        return self.weight * 0.5 * loss

    def generator(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """G loss: make D call the fakes real."""
        if self.mode == "hinge":
            return self.weight * -fake_logits.mean()
        return self.weight * self._towards(fake_logits, True)

    def forward(self, fake_logits: torch.Tensor) -> torch.Tensor:
        return self.generator(fake_logits)
