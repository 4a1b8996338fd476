"""Pixel losses that average over valid pixels only (BasicSR habit; what NaN-bearing FITS and
inpainting need)."""

from __future__ import annotations

import torch
from torch import nn

from astroi2i.losses.registry import LOSSES

__all__ = ["MaskedL1Loss", "MaskedMSELoss", "masked_mean", "gaussian_nll"]


def masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``values`` (N, C, H, W) over pixels where ``mask`` is False.

    ``mask`` is bool, True = invalid, shaped (N, H, W), (N, 1, H, W) or (N, C, H, W). With no
    valid pixel at all the result is 0 (and carries no gradient), never NaN.
    """
    if mask is None:
        return values.mean()
    if mask.dim() == values.dim() - 1:
        mask = mask.unsqueeze(1)
    valid = (~mask).to(values.dtype).expand_as(values)
    return (values * valid).sum() / valid.sum().clamp_min(1.0)


def gaussian_nll(mu, log_sigma, target, mask=None) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood of ``target`` under N(``mu``, σ²), σ =
    exp(``log_sigma``), over pixels where ``mask`` is False (as :func:`masked_mean`). ``mu`` is
    detached, so only σ learns from it. The constant ½ log 2π is left out."""
    r = (target - mu.detach()).nan_to_num()
    return masked_mean(log_sigma + 0.5 * (r * torch.exp(-log_sigma)) ** 2, mask)


class _PixelLoss(nn.Module):
    def __init__(self, *, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    def _elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``weight`` × mean error over valid pixels (``mask`` True = invalid)."""
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        return self.weight * masked_mean(self._elementwise(pred, target), mask)


@LOSSES.register
class MaskedL1Loss(_PixelLoss):
    """weight · mean |pred − target| over valid pixels. pix2pix uses weight 100."""

    def __init__(self, *, weight: float = 100.0) -> None:
        super().__init__(weight=weight)

    def _elementwise(self, pred, target):
        return (pred - target).abs()


@LOSSES.register
class MaskedMSELoss(_PixelLoss):
    """weight · mean (pred − target)² over valid pixels."""

    def __init__(self, *, weight: float = 1.0) -> None:
        super().__init__(weight=weight)

    def _elementwise(self, pred, target):
        return (pred - target).square()
