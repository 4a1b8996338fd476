"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), for super-resolution by an
integer factor. The S-PLUS → Legacy Survey seed upsamples with bilinear interpolation + conv
(no checkerboard artefacts) instead of sub-pixel convolution; both are available."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from astroi2i.archs.registry import ARCHS
from astroi2i.nn.layers import norm_layer

__all__ = ["SRResNetGenerator", "SRGANDiscriminator"]


class _SRBlock(nn.Module):
    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            norm_layer(norm, channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            norm_layer(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@ARCHS.register
class SRResNetGenerator(nn.Module):
    """9×9 stem, ``n_blocks`` residual blocks with a global skip, log2(``scale``) ×2 upsampling
    steps (``bilinear`` + conv, or ``pixelshuffle``), 9×9 head. ``scale`` ∈ {2, 4, 8}."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        scale: int = 2,
        n_blocks: int = 16,
        base_channels: int = 64,
        norm: Literal["batch", "instance", "none"] = "batch",
        upsample: Literal["bilinear", "pixelshuffle"] = "bilinear",
    ) -> None:
        super().__init__()
        if scale < 2 or 2 ** round(math.log2(scale)) != scale:
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}")
        self.scale = scale
        c = base_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 9, padding=4), nn.PReLU(c))
        self.blocks = nn.Sequential(*[_SRBlock(c, norm) for _ in range(n_blocks)])
        self.fuse = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), norm_layer(norm, c))
        ups: list[nn.Module] = []
        for _ in range(int(math.log2(scale))):
            if upsample == "bilinear":
                ups += [
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                    nn.Conv2d(c, c, 3, padding=1),
                ]
            else:
                ups += [nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2)]
            ups.append(nn.PReLU(c))
        self.upsample = nn.Sequential(*ups)
        self.head = nn.Conv2d(c, out_channels, 9, padding=4)

    @property
    def stride(self) -> int:
        return 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        return self.head(self.upsample(stem + self.fuse(self.blocks(stem))))


@ARCHS.register
class SRGANDiscriminator(nn.Module):
    """Ledig et al.'s discriminator made size-agnostic: eight 3×3 conv blocks (64→512
    channels, stride 2 every second block), global average pooling and a 1024-wide 1×1-conv
    head giving one logit per image. :meth:`features` returns the block outputs (for feature
    matching when no VGG weights are available)."""

    def __init__(
        self,
        in_channels: int,
        *,
        base_channels: int = 64,
        norm: Literal["batch", "instance", "none"] = "batch",
    ) -> None:
        super().__init__()
        c = base_channels
        widths = [c, c, 2 * c, 2 * c, 4 * c, 4 * c, 8 * c, 8 * c]
        blocks, prev = [], in_channels
        for i, width in enumerate(widths):
            layers: list[nn.Module] = [nn.Conv2d(prev, width, 3, stride=1 + i % 2, padding=1)]
            if i > 0:
                layers.append(norm_layer(norm, width))
            layers.append(nn.LeakyReLU(0.2))
            blocks.append(nn.Sequential(*layers))
            prev = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(prev, 16 * c, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(16 * c, 1, 1),
        )

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)[-1]).flatten(1)
