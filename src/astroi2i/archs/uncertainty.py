"""The per-pixel uncertainty of a one-way generator: a small σ network beside it.

The σ network sees what the generator saw (its inputs, resampled onto the output grid) and
what it predicted (detached), and returns log σ per output band in the *stretched* target
space. It is trained with the Gaussian negative log-likelihood of the residual
(:func:`gaussian_nll`), the generator's prediction held fixed, so the generator trains exactly
as without it and σ learns the spread of the truth around the prediction. At inference
:class:`WithUncertainty` returns both in one call — one extra (small) forward pass per tile —
as 2·C channels: C predictions, then C standard deviations (stretched units). The inverse
stretch and the conformal calibration into physical units happen in ``translate``.

For an inpainting generator (``holes=True``) the σ network also gets the known-pixel mask and
each pixel's depth into the hole (Chebyshev distance to the nearest known pixel, by repeated
3×3 max-pooling, capped at ``max_depth``), and σ is exactly 0 on known pixels, which are
copied, not predicted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from astroi2i.archs.registry import ARCHS

__all__ = ["SigmaNet", "WithUncertainty", "gaussian_nll", "sigma_inputs", "hole_depth"]

#: log σ is clamped to this range (stretched units) so σ never reaches 0 or overflows
LOG_SIGMA_RANGE = (-12.0, 8.0)


@ARCHS.register
class SigmaNet(nn.Module):
    """A stride-1 stack of dilated 3×3 convolutions → log σ per band.

    With the default dilations (1, 2, 4, 8, 4, 2, 1) each output pixel sees a radius of 22
    pixels, enough to know the local signal level and structure, at ~2 % of a small U-Net's
    cost. The last layer is zero-initialised with bias ``init_log_sigma``: every pixel starts
    at the same σ, and the training spreads it.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 32,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 4, 2, 1),
        init_log_sigma: float = -2.0,
    ) -> None:
        super().__init__()
        self.dilations = tuple(int(d) for d in dilations)
        layers: list[nn.Module] = []
        prev = in_channels
        for d in self.dilations:
            layers += [nn.Conv2d(prev, width, 3, padding=d, dilation=d), nn.LeakyReLU(0.1)]
            prev = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(prev, out_channels, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, float(init_log_sigma))

    @property
    def receptive_radius(self) -> int:
        return sum(self.dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def hole_depth(valid: torch.Tensor, max_depth: int) -> torch.Tensor:
    """Chebyshev distance (pixels) of each pixel to the nearest known one (0 on known pixels),
    capped at ``max_depth``; ``valid`` is (N, 1, H, W) with 1 = known."""
    depth = torch.zeros_like(valid)
    reach = valid
    for _ in range(max_depth):
        depth = depth + (1.0 - reach)
        reach = F.max_pool2d(reach, 3, stride=1, padding=1)
    return depth


def sigma_inputs(x: torch.Tensor, mu: torch.Tensor, *, holes: bool, max_depth: int = 32):
    """What the σ network sees: the inputs on the output grid (NaN → 0) and the prediction;
    for ``holes`` also the known-pixel mask and the scaled depth into the hole. Returns
    (features, known) with ``known`` the (N, 1, H, W) mask (all ones without ``holes``)."""
    finite = torch.isfinite(x)
    x0 = torch.where(finite, x, torch.zeros_like(x))
    if x0.shape[-2:] != mu.shape[-2:]:  # super-resolution: inputs onto the output grid
        x0 = F.interpolate(x0, size=mu.shape[-2:], mode="bilinear", align_corners=False)
    if not holes:
        return torch.cat([x0, mu], 1), torch.ones_like(mu[:, :1])
    known = finite.all(dim=1, keepdim=True).to(mu.dtype)
    depth = hole_depth(known, max_depth) / max_depth
    return torch.cat([x0 * known, known, depth, mu], 1), known


def gaussian_nll(mu, log_sigma, target, mask=None) -> torch.Tensor:
    """Mean Gaussian negative log-likelihood of ``target`` under N(``mu``, σ²) over pixels where
    ``mask`` (True = not scored; (N, H, W), (N, 1, H, W) or (N, C, H, W)) is False; ``mu``
    is detached, so only σ learns from it. The constant ½ log 2π is left out."""
    r = (target - mu.detach()).nan_to_num()
    nll = log_sigma + 0.5 * (r * torch.exp(-log_sigma)) ** 2
    if mask is None:
        return nll.mean()
    if mask.dim() == nll.dim() - 1:
        mask = mask.unsqueeze(1)
    valid = (~mask).to(nll.dtype).expand_as(nll)
    return (nll * valid).sum() / valid.sum().clamp_min(1.0)


def predict_log_sigma(sigma_net: nn.Module, x, mu, *, holes: bool, max_depth: int = 32):
    """(log σ, known mask) of the σ network for inputs ``x`` and prediction ``mu``."""
    features, known = sigma_inputs(x, mu.detach(), holes=holes, max_depth=max_depth)
    return sigma_net(features).clamp(*LOG_SIGMA_RANGE), known


class WithUncertainty(nn.Module):
    """Generator and σ network as one inference module: ``forward(x)`` returns
    ``cat([prediction, σ], 1)`` in stretched units (σ = 0 on known pixels for ``holes``).
    Its state dict holds ``generator.*`` and ``sigma_net.*``, as the training system does."""

    def __init__(self, generator: nn.Module, sigma_net: nn.Module, *, holes: bool = False,
                 max_depth: int = 32) -> None:  # fmt: skip
        super().__init__()
        self.generator, self.sigma_net = generator, sigma_net
        self.holes, self.max_depth = holes, max_depth
        self.out_channels = 2 * getattr(generator, "out_channels", 0)
        for name in ("stride", "scale", "fills_invalid", "onnx_exportable"):
            if hasattr(generator, name):
                setattr(self, name, getattr(generator, name))

    @property
    def sigma_radius(self) -> int:
        """Output pixels on each side that can change σ beyond those that change the
        prediction: the σ network's radius (plus the depth cap for holes). The whole module's
        radius in input pixels is the generator's plus this ÷ ``scale``, rounded up."""
        return self.sigma_net.receptive_radius + (self.max_depth if self.holes else 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = self.generator(x)
        log_sigma, known = predict_log_sigma(
            self.sigma_net, x, mu, holes=self.holes, max_depth=self.max_depth
        )
        return torch.cat([mu, torch.exp(log_sigma) * (1.0 - known)
                          if self.holes else torch.exp(log_sigma)], 1)  # fmt: skip
