"""The pix2pix U-Net generator (Isola et al. 2017), written as explicit encoder/decoder lists."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from astroi2i.archs.registry import ARCHS
from astroi2i.nn.layers import Conv2d, ConvTranspose2d, norm_layer

__all__ = ["UNetGenerator"]


class _Up(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, *, mode: str, norm: str, dropout: float) -> None:
        super().__init__()
        if mode == "transpose":
            up = ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1, bias=norm != "batch")
        else:  # bilinear + conv: no checkerboard artefacts
            up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=norm != "batch"),
            )
        layers = [nn.ReLU(inplace=False), up, norm_layer(norm, out_ch)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


@ARCHS.register
class UNetGenerator(nn.Module):
    """U-Net with ``depth`` stride-2 levels and skip connections.

    ``depth=8, base_channels=64`` is pix2pix's ``unet_256`` (54.4 M parameters for 3→3 bands),
    ``depth=7`` its ``unet_128``. Inputs must have H and W divisible by :attr:`stride` = 2^depth
    (translate pads automatically). Dropout (pix2pix's noise source) acts in the three decoder
    levels below the innermost one in ``unet_256`` (levels 4 … depth−2, so small U-Nets have
    none). The output is linear by default: stretched astronomical data are not confined to
    [−1, 1], so ``final_activation="tanh"`` is opt-in. ``zero_output`` zeroes the last layer,
    so the untrained network returns exactly 0: a model that predicts a correction on top of a
    baseline (``data.anchor: baseline``) then starts exactly at the baseline.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        depth: int = 8,
        base_channels: int = 64,
        max_channels: int = 512,
        norm: Literal["batch", "instance", "none"] = "batch",
        dropout: float = 0.5,
        upsample: Literal["transpose", "bilinear"] = "transpose",
        final_activation: Literal["none", "tanh"] = "none",
        zero_output: bool = False,
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be ≥ 2, got {depth}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        widths = [min(base_channels * 2**i, max_channels) for i in range(depth)]
        self.down = nn.ModuleList()
        prev = in_channels
        for i, width in enumerate(widths):
            layers: list[nn.Module] = []
            if i > 0:
                layers.append(nn.LeakyReLU(0.2))
            use_norm = 0 < i < depth - 1  # no norm on the first level and at the bottleneck
            layers.append(
                Conv2d(prev, width, 4, stride=2, padding=1, bias=not (use_norm and norm == "batch"))
            )
            if use_norm:
                layers.append(norm_layer(norm, width))
            self.down.append(nn.Sequential(*layers))
            prev = width
        self.up = nn.ModuleList()
        for i in reversed(range(1, depth)):
            in_ch = widths[i] if i == depth - 1 else widths[i] * 2
            # pix2pix: dropout in the 512-wide levels between level 4 and the bottleneck
            drop = dropout if 4 <= i <= depth - 2 else 0.0
            self.up.append(_Up(in_ch, widths[i - 1], mode=upsample, norm=norm, dropout=drop))
        out_layers: list[nn.Module] = [nn.ReLU()]
        if upsample == "transpose":
            out_layers.append(ConvTranspose2d(widths[0] * 2, out_channels, 4, stride=2, padding=1))
        else:
            out_layers += [
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(widths[0] * 2, out_channels, 3, padding=1),
            ]
        if zero_output:
            nn.init.zeros_(out_layers[-1].weight)
            nn.init.zeros_(out_layers[-1].bias)
        if final_activation == "tanh":
            out_layers.append(nn.Tanh())
        self.out = nn.Sequential(*out_layers)

    @property
    def stride(self) -> int:
        """H and W of the input must be multiples of this."""
        return 2**self.depth

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side of an output pixel that can change it: 2^(depth+1) − 1 (the
        4×4 stride-2 encoder and decoder; checked against the gradient in the tests)."""
        return 2 ** (self.depth + 1) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.stride or w % self.stride:
            raise ValueError(
                f"image is {h}×{w}, but this U-Net needs multiples of {self.stride}; translate "
                "pads automatically, so call translate() or pad_to_multiple() first"
            )
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        x = skips.pop()
        for block in self.up:
            x = torch.cat([block(x), skips.pop()], dim=1)
        return self.out(x)
