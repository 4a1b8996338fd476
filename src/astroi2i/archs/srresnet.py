"""SRResNet generator and SRGAN discriminator (Ledig et al. 2017), for super-resolution by an
integer factor. The S-PLUS → Legacy Survey seed upsamples with bilinear interpolation + conv
(no checkerboard artefacts) instead of sub-pixel convolution; both are available."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
from torch import nn

from astroi2i.archs.correction import CorrectionWeight
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


def _reach(n_blocks: int, scale: int, upsample: str) -> int:
    """The generator's receptive radius in input pixels, rounded up: the 9×9 stem (4), two
    3×3 convolutions a block, the 3×3 fuse (1), per ×2 step a 3×3 convolution at the step's
    input grid (pixel shuffle) or a bilinear doubling (1 px of that grid) and a 3×3
    convolution on the doubled one, and the 9×9 head on the output grid (4 / ``scale``).
    One pixel more than the gradient shows at most (tested), never less. (The bicubic prior's
    spline reaches further in principle, but decays by 0.27 a pixel: below float32 after 13.)"""
    reach = 4 + 2 * n_blocks + 1 + 4 / scale
    for k in range(int(math.log2(scale))):
        before = 2.0**-k  # one pixel of the step's input grid, in input pixels
        reach += before + before / 2 if upsample == "bilinear" else before
    return math.ceil(reach)


@ARCHS.register
class SRResNetGenerator(CorrectionWeight, nn.Module):
    """9×9 stem, ``n_blocks`` residual blocks with a global skip, log2(``scale``) ×2 upsampling
    steps (``bilinear`` + conv, or ``pixelshuffle``), 9×9 head. ``scale`` ∈ {2, 4, 8}.

    ``prior="bicubic"`` starts at the classical answer: the network's output is added to the
    bicubic upsampling of its input, made in physical units (input stretch inverted, cubic
    spline, ×1/f² for per-pixel flux units, target stretch applied) once the stretches are
    attached (:meth:`use_stretches`, done by every workflow that builds the model), otherwise
    in the stretched units it sees. With ``zero_output`` the head starts at zero, so the
    untrained network returns exactly the bicubic baseline that ``evaluate --bicubic-from``
    scores, and training learns only the correction (the seed's SRResNet: ``prior="none"``),
    weighted after training by the w fitted on the validation split
    (:mod:`astroi2i.archs.correction`).
    """

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
        prior: Literal["none", "bicubic"] = "none",
        zero_output: bool = False,
    ) -> None:
        super().__init__()
        if prior not in ("none", "bicubic"):
            raise ValueError(f"prior must be 'none' or 'bicubic', got {prior!r}")
        if scale < 2 or 2 ** round(math.log2(scale)) != scale:
            raise ValueError(f"scale must be 2, 4 or 8, got {scale}")
        self.scale, self._reach = scale, _reach(n_blocks, scale, upsample)
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
        if zero_output:
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        if prior == "bicubic" and in_channels != out_channels:
            raise ValueError(
                f"prior='bicubic' upsamples each input band into the same target band: "
                f"needs as many output as input channels ({in_channels} → {out_channels})"
            )
        self.prior = prior
        self.onnx_exportable = prior == "none"  # scipy runs inside forward() with a prior
        self._maps = None

    def use_stretches(self, input_inverse, target_forward, flux_scale) -> None:
        """Make the bicubic prior in physical units: ``input_inverse`` and ``target_forward``
        map numpy arrays (N, C, H, W) out of the input stretch and into the target stretch;
        ``flux_scale`` per band (1/f² for per-pixel flux units, 1 for surface brightness)."""
        self._maps = (input_inverse, target_forward, flux_scale)

    def bicubic_prior(self, x: torch.Tensor) -> torch.Tensor:
        """The bicubic upsampling of ``x`` (stretched inputs), in the target's stretched
        units (no gradient: the prior is fixed)."""
        from astroi2i.baselines.resample import bicubic_upsample

        values = x.detach().to("cpu", torch.float64).numpy()
        if self._maps is None:
            out = bicubic_upsample(values, self.scale)
        else:
            inverse, forward, flux_scale = self._maps
            out = forward(bicubic_upsample(inverse(values), self.scale, flux_scale))
        return torch.from_numpy(np.ascontiguousarray(out)).to(x.device, x.dtype)

    @property
    def stride(self) -> int:
        return 1

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can change an output pixel (see :func:`_reach`)."""
        return self._reach

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        out = self.head(self.upsample(stem + self.fuse(self.blocks(stem))))
        return out if self.prior == "none" else self.weighted(out) + self.bicubic_prior(x)


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
