"""CorKit's inpainting loss over the layers of a multi-layer partial-convolution network.

For layer l with prediction P_l, previous mask M_{l−1} and own mask M_l (1 = known), on pixels
where the truth Y exists (``scored``):
- inner  = mean |P_l − Y| over the hole the layer sees, (1 − M_{l−1});
- diff   = mean |P_l − Y| over the ring it is responsible for, (M_l − M_{l−1});
- perceptual = Σ_p mean |Ψ_p(P_l) − Ψ_p(Y)| over each of the two regions (feature-size
  normalised, :func:`~astroi2i.losses.perceptual.perceptual_term`);
- style_inner, style_diff = Σ_p ‖G_p(P_l) − G_p(Y)‖₁ / (C_p³ H_p W_p) over each region.
loss = Σ_l α1·inner + α2·diff + α3·perceptual + α4·style_inner + α5·style_diff.
Ψ: VGG19 layers 4, 9 and 18 with a user-given weights file; without one, the same VGG19 with
fixed random weights (seeded by the run), which needs no ImageNet download (logged).
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from astroi2i.losses.perceptual import perceptual_term, style_term
from astroi2i.losses.pixel import check_space, spaced_mean
from astroi2i.losses.registry import LOSSES

__all__ = ["CorKitLoss", "HoleLogMSELoss"]

log = logging.getLogger(__name__)


def _region_l1(pred, target, region, scale=None, space="stretched") -> torch.Tensor:
    """Mean |pred − target| over ``region`` in ``space`` (:func:`spaced_mean`; ``scale``: the
    batch's ``loss_scale``)."""
    return spaced_mean(torch.abs, pred - target, scale, space, region.expand_as(pred))


@LOSSES.register
class CorKitLoss(nn.Module):
    """α = (inner, diff, perceptual, style over the hole, style over the ring). CorKit's
    pre-training weights are (6, 6, 0.05, 120, 120); fine-tuning (0.2, 0.8, 0.2, 1.2, 1.8)."""

    def __init__(
        self,
        *,
        alphas: list[float] = (6.0, 6.0, 0.05, 120.0, 120.0),
        vgg_layers: list[int] = (4, 9, 18),
        vgg_weights: str | None = None,
        space: str = "stretched",
    ) -> None:
        super().__init__()
        from astroi2i.archs.vgg import VGG19Features

        self.space = check_space(space)

        if len(alphas) != 5:
            raise ValueError(
                f"alphas needs 5 weights (inner, diff, perceptual, style ×2): {alphas}"
            )
        self.alphas = [float(a) for a in alphas]
        self.features = VGG19Features(list(vgg_layers), weights=vgg_weights)
        if vgg_weights is None:
            log.info(
                "no VGG19 weights file (model.inpaint_loss.vgg_weights): the perceptual and "
                "style terms use VGG19 with fixed random weights, which needs no ImageNet weights"
            )

    def forward(self, stages, target: torch.Tensor, scored: torch.Tensor, scale=None):
        """``stages`` from MultiLayerPConvUNet.stages; ``scored`` (N, 1, H, W), 1 where the
        truth exists; ``scale``: the batch's ``loss_scale`` when ``space`` is not
        ``stretched``, whose inner and diff L1 terms then score physical errors (``both``:
        plus the stretched ones). Returns (loss, {term: value summed over layers})."""
        a1, a2, a3, a4, a5 = self.alphas
        f_target = [f.detach() for f in self.features(target)]
        terms = {k: target.new_zeros(()) for k in ("inner", "diff", "perceptual", "style")}
        total = target.new_zeros(())
        for pred, prev, cur in stages:
            inner_region = (1 - prev) * scored
            diff_region = (cur - prev) * scored
            inner = _region_l1(pred, target, inner_region, scale, self.space)
            diff = _region_l1(pred, target, diff_region, scale, self.space)
            f_pred = self.features(pred)
            perceptual = perceptual_term(f_pred, f_target, inner_region) + perceptual_term(
                f_pred, f_target, diff_region
            )
            style_inner = style_term(f_pred, f_target, inner_region)
            style_diff = style_term(f_pred, f_target, diff_region)
            total = total + a1 * inner + a2 * diff + a3 * perceptual
            total = total + a4 * style_inner + a5 * style_diff
            terms["inner"] = terms["inner"] + inner
            terms["diff"] = terms["diff"] + diff
            terms["perceptual"] = terms["perceptual"] + perceptual
            terms["style"] = terms["style"] + style_inner + style_diff
        return total, terms


@LOSSES.register
class HoleLogMSELoss(nn.Module):
    """Mean over the images of a batch of log(MSE over the image's hole + ``eps``).

    The hole is what the network had to fill and has truth for: (1 − M_0) · scored of the
    last stage. Per image, log MSE is the PSNR up to a sign and a constant, so this loss is
    the mean hole PSNR of the batch (÷ −10 log10 e), with every image weighted equally
    whatever its brightness — unlike a pooled MSE, which the brightest crops dominate.
    Images without hole pixels are left out. ``eps`` is in the data's units squared.
    """

    def __init__(self, *, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, stages, target: torch.Tensor, scored: torch.Tensor):
        pred, known, _ = stages[-1]
        region = ((1 - known) * scored).expand_as(pred)
        count = region.sum(dim=(1, 2, 3))
        mse = ((pred - target) ** 2 * region).sum(dim=(1, 2, 3)) / count.clamp_min(1.0)
        has_hole = count > 0
        if not bool(has_hole.any()):
            zero = pred.sum() * 0.0  # no image of the batch has a hole; keeps the graph
            return zero, {"hole_log_mse": zero.detach()}
        loss = torch.log(mse[has_hole] + self.eps).mean()
        return loss, {"hole_log_mse": loss.detach()}
