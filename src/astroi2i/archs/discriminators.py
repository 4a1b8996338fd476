"""pix2pix discriminators: the PatchGAN (70×70 receptive field with n_layers=3) and the 1×1
pixel discriminator. Both return logits (no sigmoid): the GAN loss decides what to do."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from astroi2i.archs.registry import ARCHS
from astroi2i.nn.layers import norm_layer

__all__ = ["PatchDiscriminator", "PixelDiscriminator", "patch_receptive_field"]


def patch_receptive_field(n_layers: int) -> int:
    """Receptive field in pixels of one PatchGAN output (70 for n_layers=3)."""
    rf = 1
    # from the output back: two stride-1 4×4 convs, then n_layers stride-2 4×4 convs
    for stride in [1, 1] + [2] * n_layers:
        rf = (rf - 1) * stride + 4
    return rf


@ARCHS.register
class PatchDiscriminator(nn.Module):
    """Classifies overlapping patches as real or fake (Isola et al. 2017).

    For a conditional GAN, ``in_channels`` is inputs + targets (the builder sets it).
    """

    def __init__(
        self,
        in_channels: int,
        *,
        base_channels: int = 64,
        n_layers: int = 3,
        norm: Literal["batch", "instance", "none"] = "batch",
    ) -> None:
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, base_channels, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        ch = base_channels
        for i in range(1, n_layers + 1):
            nxt = base_channels * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(ch, nxt, 4, stride=stride, padding=1, bias=bias),
                norm_layer(norm, nxt),
                nn.LeakyReLU(0.2),
            ]
            ch = nxt
        layers.append(nn.Conv2d(ch, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)
        self.receptive_field = patch_receptive_field(n_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@ARCHS.register
class PixelDiscriminator(nn.Module):
    """1×1 PatchGAN: judges each pixel on its own (colour/intensity statistics only)."""

    def __init__(
        self,
        in_channels: int,
        *,
        base_channels: int = 64,
        norm: Literal["batch", "instance", "none"] = "batch",
    ) -> None:
        super().__init__()
        bias = norm != "batch"
        self.model = nn.Sequential(
            nn.Conv2d(in_channels, base_channels, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(base_channels, base_channels * 2, 1, bias=bias),
            norm_layer(norm, base_channels * 2),
            nn.LeakyReLU(0.2),
            nn.Conv2d(base_channels * 2, 1, 1, bias=bias),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
