"""Pixel losses that average over valid pixels only (BasicSR habit; what NaN-bearing FITS and
inpainting need)."""

from __future__ import annotations

import torch
from torch import nn

from astroi2i.losses.registry import LOSSES

__all__ = [
    "MaskedL1Loss",
    "MaskedMSELoss",
    "masked_mean",
    "gaussian_nll",
    "SPACES",
    "check_space",
    "spaced_mean",
]

#: what a loss measures the error in (see :func:`spaced_mean`)
SPACES = ("stretched", "physical", "both")


def check_space(space: str) -> str:
    if space not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}, got {space!r}")
    return space


def spaced_mean(elementwise, error, scale, space: str, weight=None) -> torch.Tensor:
    """The mean of ``elementwise(error)`` over pixels weighted by ``weight`` (shaped as
    ``error``; None: all pixels), in ``space``:

    - ``"stretched"``: of the errors as they are;
    - ``"physical"``: of the errors times ``scale`` (the batch's ``loss_scale``: physical units
      per stretched unit at each target pixel), i.e. to first order the physical errors,
      normalised by the mean of ``elementwise(scale)`` so the loss keeps the stretched loss's
      size;
    - ``"both"``: the two added: faint pixels keep their weight while bright ones count as
      much as in physical units."""

    def mean(values):
        if weight is None:
            return values.mean()
        return (values * weight).sum() / weight.sum().clamp_min(1.0)

    if space == "stretched":
        return mean(elementwise(error))
    if scale is None:
        raise ValueError(f"a loss in space {space!r} needs the batch's loss_scale")
    w = 1.0 if weight is None else weight
    physical = (elementwise(error * scale) * w).sum()
    physical = physical / (elementwise(scale) * w).sum().clamp_min(1e-12)
    return physical + mean(elementwise(error)) if space == "both" else physical


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
        self.weight = float(weight)
        self.space = check_space(space)

    def _elementwise(self, error: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        pred: torch.Tensor,
        target: torch.Tensor,
        mask: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``weight`` × mean error over valid pixels (``mask`` True = invalid), in the
        loss's ``space`` (:func:`spaced_mean`); ``scale`` (shaped as ``pred``) is the batch's
        ``loss_scale``, needed unless the space is ``"stretched"``."""
        if pred.shape != target.shape:
            raise ValueError(
                f"prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ"
            )
        error = pred - target
        if mask is None:
            valid = None
        else:
            mask = mask.unsqueeze(1) if mask.dim() == error.dim() - 1 else mask
            valid = (~mask).to(error.dtype).expand_as(error)
        return self.weight * spaced_mean(self._elementwise, error, scale, self.space, valid)


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
