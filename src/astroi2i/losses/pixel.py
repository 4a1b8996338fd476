"""Pixel losses that average over valid pixels only (BasicSR habit; what NaN-bearing FITS and
inpainting need)."""

from __future__ import annotations

import torch
from torch import nn

from astroi2i.losses.registry import LOSSES

__all__ = ["MaskedL1Loss", "MaskedMSELoss", "masked_mean", "gaussian_nll", "SPACES"]

#: what a pixel loss measures the error in (see :meth:`_PixelLoss.forward`)
SPACES = ("stretched", "physical", "both")


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
    def __init__(self, *, weight: float, space: str = "stretched") -> None:
        super().__init__()
        if space not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
        self.weight = float(weight)
        self.space = space

    def _elementwise(self, error: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``weight`` × mean error over valid pixels (``mask`` True = invalid).

        ``space`` other than ``"stretched"`` needs ``scale`` (shaped as ``pred``): the
        physical units per stretched unit at each target pixel (the batch's ``loss_scale``).
        ``"physical"`` scores the errors times ``scale`` (to first order the physical
        errors; normalised by the mean of the same function of ``scale``, so the loss keeps
        the stretched loss's size), ``"both"`` adds that to the stretched term: faint
        pixels keep their weight while bright ones count as much as in physical units."""
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        error = pred - target
        if self.space == "stretched":
            return self.weight * masked_mean(self._elementwise(error), mask)
        if scale is None:
            raise ValueError(f"a pixel loss in space {self.space!r} needs the batch's loss_scale")
        physical = masked_mean(self._elementwise(error * scale), mask)
        physical = physical / masked_mean(self._elementwise(scale), mask).clamp_min(1e-12)
        if self.space == "both":
            physical = physical + masked_mean(self._elementwise(error), mask)
        return self.weight * physical


@LOSSES.register
class MaskedL1Loss(_PixelLoss):
    """weight · mean |pred − target| over valid pixels. pix2pix uses weight 100."""

    def __init__(self, *, weight: float = 100.0, space: str = "stretched") -> None:
        super().__init__(weight=weight, space=space)

    def _elementwise(self, error):
        return error.abs()


@LOSSES.register
class MaskedMSELoss(_PixelLoss):
    """weight · mean (pred − target)² over valid pixels."""

    def __init__(self, *, weight: float = 1.0, space: str = "stretched") -> None:
        super().__init__(weight=weight, space=space)

    def _elementwise(self, error):
        return error.square()
