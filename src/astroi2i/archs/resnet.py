"""The ResNet generator of pix2pix/CycleGAN (Johnson et al. 2016): down, residual blocks, up."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from astroi2i.archs.registry import ARCHS
from astroi2i.nn.layers import norm_layer

__all__ = ["ResnetGenerator", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """x + conv-norm-relu-(dropout)-conv-norm(x), reflection padded."""

    def __init__(self, channels: int, *, norm: str, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm != "batch"),
            norm_layer(norm, channels),
            nn.ReLU(),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3, bias=norm != "batch"),
            norm_layer(norm, channels),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


@ARCHS.register
class ResnetGenerator(nn.Module):
    """7×7 stem, ``n_downsampling`` stride-2 convolutions, ``n_blocks`` residual blocks (6 for
    128² images, 9 for 256² in CycleGAN), then as many upsampling steps and a 7×7 head."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_blocks: int = 9,
        base_channels: int = 64,
        n_downsampling: int = 2,
        norm: Literal["batch", "instance", "none"] = "instance",
        dropout: float = 0.0,
        final_activation: Literal["none", "tanh"] = "none",
    ) -> None:
        super().__init__()
        self.n_downsampling = n_downsampling
        bias = norm != "batch"
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, base_channels, 7, bias=bias),
            norm_layer(norm, base_channels),
            nn.ReLU(),
        ]
        ch = base_channels
        for _ in range(n_downsampling):
            layers += [
                nn.Conv2d(ch, ch * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, ch * 2),
                nn.ReLU(),
            ]
            ch *= 2
        layers += [ResidualBlock(ch, norm=norm, dropout=dropout) for _ in range(n_blocks)]
        for _ in range(n_downsampling):
            layers += [
                nn.ConvTranspose2d(
                    ch, ch // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(norm, ch // 2),
                nn.ReLU(),
            ]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7)]
        if final_activation == "tanh":
            layers.append(nn.Tanh())
        self.model = nn.Sequential(*layers)

    @property
    def stride(self) -> int:
        return 2**self.n_downsampling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
