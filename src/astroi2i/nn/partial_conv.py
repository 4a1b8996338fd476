"""Partial convolution (Liu et al. 2018), as CorKit uses it for missing telemetry blocks:

    O = Wᵀ(X ⊙ M) · sum(1)/sum(M) + b   where sum(M) > 0, else 0;   M' = [sum(M) > 0]

The layer is stateless (no mask is cached between calls), the bias is added after the
renormalisation (it is not scaled), and masks may have one channel or as many as the input.
Mask convention here: 1 = valid pixel (the opposite of SkyImage.mask), as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["PartialConv2d"]


class PartialConv2d(nn.Conv2d):
    """``nn.Conv2d`` whose forward takes ``(x, mask)`` and returns ``(out, new_mask)``.

    With an all-ones mask the output equals ``nn.Conv2d`` with the same weights exactly: the
    paper's sum(1) is taken over the window's taps inside the image, so zero padding is not
    counted as missing data. ``mask`` is (N, 1, H, W) or (N, C_in, H, W), 1 = valid; a
    multi-channel mask counts valid (channel, tap) pairs.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):  # type: ignore[override]
        if mask is None:
            mask = torch.ones_like(x[:, :1])
        if mask.shape[1] not in (1, x.shape[1]):
            raise ValueError(f"mask has {mask.shape[1]} channels; expected 1 or {x.shape[1]}")
        mask = mask.to(x.dtype)
        ones = torch.ones(1, mask.shape[1], *self.kernel_size, device=x.device, dtype=x.dtype)
        conv = dict(stride=self.stride, padding=self.padding, dilation=self.dilation)
        with torch.no_grad():
            valid = F.conv2d(mask, ones, **conv)  # valid taps per output pixel: sum(M)
            # sum(1): the window's taps inside the image (zero padding is not data, so an
            # all-valid mask gives a factor of exactly 1 and the layer is a plain Conv2d)
            window = F.conv2d(torch.ones_like(mask[:1]), ones, **conv)
            scale = torch.where(valid > 0, window / valid.clamp_min(1.0), torch.zeros_like(valid))
            new_mask = (valid > 0).to(x.dtype)
        raw = F.conv2d(x * mask, self.weight, None, **conv, groups=self.groups)
        out = raw * scale
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1) * new_mask
        return out, new_mask
