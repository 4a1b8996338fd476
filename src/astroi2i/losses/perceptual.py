"""Perceptual and style terms on feature maps from any extractor (VGG19 with user-given
weights, or a fallback such as a discriminator's or the model's own encoder's features).

Normalisations follow CorKit: the perceptual term of layer p is the mean absolute feature
difference, i.e. divided by the feature size C_p·H_p·W_p (over the valid region when a mask is
given); the style term compares Gram matrices G_p = Ψ_p Ψ_pᵀ and divides by
F_p = C_p³·H_p·W_p.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["perceptual_term", "style_term", "gram"]


def _region(mask: torch.Tensor | None, feature: torch.Tensor) -> torch.Tensor | None:
    """Mask (N, 1, H, W), 1 = inside the region, resized to a feature map (area average > 0)."""
    if mask is None:
        return None
    resized = F.adaptive_avg_pool2d(mask.to(feature.dtype), feature.shape[-2:])
    return (resized > 0).to(feature.dtype)


def perceptual_term(
    pred: list[torch.Tensor], target: list[torch.Tensor], mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ_p mean |Ψ_p(pred) − Ψ_p(target)| over the region ``mask`` (1 = scored) or everywhere."""
    total = pred[0].new_zeros(())
    for fp, ft in zip(pred, target):
        diff = (fp - ft).abs()
        region = _region(mask, fp)
        if region is None:
            total = total + diff.mean()
        else:
            weight = region.expand_as(diff)
            total = total + (diff * weight).sum() / weight.sum().clamp_min(1.0)
    return total


def gram(feature: torch.Tensor) -> torch.Tensor:
    """(N, C, C) Gram matrices Ψ Ψᵀ of (N, C, H, W) features (unnormalised)."""
    n, c, h, w = feature.shape
    flat = feature.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2)


def style_term(
    pred: list[torch.Tensor], target: list[torch.Tensor], mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ_p ‖G_p(pred) − G_p(target)‖₁ / (C_p³ H_p W_p), batch-averaged; features are multiplied
    by the region ``mask`` first when one is given."""
    total = pred[0].new_zeros(())
    for fp, ft in zip(pred, target):
        region = _region(mask, fp)
        if region is not None:
            fp, ft = fp * region, ft * region
        n, c, h, w = fp.shape
        total = total + (gram(fp) - gram(ft)).abs().sum() / (n * c**3 * h * w)
    return total
