"""The per-pixel uncertainty of a one-way generator: a small σ network beside it.

The σ network sees what the generator saw (its inputs, resampled onto the output grid) and
what it predicted (detached), and returns log σ per output band in the *stretched* target
space. It is trained with the Gaussian negative log-likelihood of the residual
(:func:`astroi2i.losses.pixel.gaussian_nll`), the generator's prediction held fixed, so the
generator trains exactly as without it and σ learns the spread of the truth around the
prediction. At inference :class:`WithUncertainty` returns both in one call — one extra
(small) forward pass per tile — as 2·C channels: C predictions, then C standard deviations
(stretched units). The inverse stretch and the conformal calibration into physical units
happen in ``translate``.

For an inpainting generator (``holes=True``) the σ network also gets the known-pixel mask and
each pixel's depth into the hole (Chebyshev distance to the nearest known pixel, by repeated
max-pooling, capped at ``max_depth``), and σ is exactly 0 on known pixels, which are copied,
not predicted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from astroi2i.archs.registry import ARCHS

__all__ = [
    "SigmaNet",
    "WithUncertainty",
    "combined_stride",
    "input_reach",
    "predict_log_sigma",
    "sigma_inputs",
    "hole_depth",
]

#: log σ is clamped to this range (stretched units) so σ never reaches 0 or overflows
LOG_SIGMA_RANGE = (-12.0, 8.0)


class Pointwise(nn.Module):
    """A 1×1 convolution as one batched matrix product over the pixels: the same function, but
    oneDNN's kernel for 1×1 convolutions with a few channels is ~50× slower on CPU than this
    (measured: 2.8 ms against 0.03 ms for 8 → 1 channels on 256²).

    The weight is expanded over the batch and multiplied with ``bmm``: a broadcast ``weight @
    x`` takes torch's general matmul path, which for a weight that requires grad (a model's
    parameter, also under ``no_grad``) does not fold the batch and was 6–16× slower (20 → 8
    channels on 256², one thread: 9.8 ms against 0.6 ms; forward + backward 15.5 against 6.4)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # as nn.Conv2d initialises

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pointwise(self.weight, x, self.bias)


def _pointwise(weight: torch.Tensor, x: torch.Tensor, bias: torch.Tensor | None = None, *,
               add: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """``weight`` (C_out, C_in) applied at every pixel of ``x`` (N, C_in, H, W), plus a
    ``bias`` per output channel or an ``add`` of the output's shape, in one batched product."""
    n, c, h, w = x.shape
    flat, weights = x.reshape(n, c, h * w), weight.expand(n, -1, -1)
    if add is not None:
        out = torch.baddbmm(add.reshape(n, -1, h * w), weights, flat)
    elif bias is not None:
        out = torch.baddbmm(bias[None, :, None], weights, flat)
    else:
        out = torch.bmm(weights, flat)
    return out.reshape(n, -1, h, w)


@ARCHS.register
class SigmaNet(nn.Module):
    """log σ per band from the features of :func:`sigma_inputs`, at a fraction of the
    generator's cost.

    σ varies with the local signal level and structure (and the depth into a hole), over
    scales from one pixel (a star's core) to tens (a galaxy's wings), so the network has two
    branches: on a grid ``pool`` times coarser, a ``pool``×``pool`` stride-``pool``
    convolution and dilated 3×3 convolutions (default dilations (1, 2, 4, 2, 1): a radius of
    10 coarse pixels), upsampled bilinearly; on the full grid, one 3×3 convolution of
    ``fine_width`` channels. A 1×1 convolution mixes both, and a zero-initialised 1×1 head
    (bias ``init_log_sigma``: every pixel starts at the same σ) gives log σ. About 2 kFLOP per
    output pixel with the defaults. Input sizes must be multiples of ``pool`` (:attr:`stride`)
    so that every tiling pools on the same grid.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        width: int = 12,
        fine_width: int = 8,
        pool: int = 4,
        dilations: tuple[int, ...] = (1, 2, 4, 2, 1),
        init_log_sigma: float = -2.0,
    ) -> None:
        super().__init__()
        self.pool, self.dilations = int(pool), tuple(int(d) for d in dilations)
        act = nn.LeakyReLU(0.1)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, self.pool, stride=self.pool), act]
        for d in self.dilations:
            layers += [nn.Conv2d(width, width, 3, padding=d, dilation=d), act]
        self.coarse = nn.Sequential(*layers)
        self.fine = nn.Sequential(nn.Conv2d(in_channels, fine_width, 3, padding=1), act)
        self.mix = nn.Sequential(Pointwise(width + fine_width, fine_width), act)
        self.head = Pointwise(fine_width, out_channels)
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, float(init_log_sigma))
        #: 1 once :meth:`set_level` has fitted the two buffers below to the data
        self.register_buffer("level_set", torch.zeros((), dtype=torch.uint8))
        #: per input channel, the RMS of the first training batch's features: the network
        #: sees features / scale, so data in any unit (DN in the thousands, stretched values
        #: near 1) reach it at order 1
        self.register_buffer("feature_scale", torch.ones(in_channels))

    def set_level(self, log_sigma: torch.Tensor, features: torch.Tensor) -> None:
        """Fit the starting point to the data (called once, on the first training batch):
        every pixel's σ at ``log_sigma`` (per band: the batch's robust residual scale) and
        the feature scale at the batch features' RMS per channel."""
        with torch.no_grad():
            self.head.bias.copy_(log_sigma.to(self.head.bias))
            rms = features.float().pow(2).mean(dim=(0, 2, 3)).sqrt()
            self.feature_scale.copy_(torch.where(rms > 0, rms, torch.ones_like(rms)))
            self.level_set.fill_(1)

    @property
    def stride(self) -> int:
        return self.pool

    @property
    def receptive_radius(self) -> int:
        """Full-grid pixels on each side that can change σ (the pooled convolutions' reach,
        plus one coarse pixel for the pooling window and the interpolation)."""
        return self.pool * (sum(self.dilations) + 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if h % self.pool or w % self.pool:
            raise ValueError(f"SigmaNet needs sizes that are multiples of {self.pool}, got {h}×{w}")
        # head(act(mix(cat(up(coarse(x / s)), fine(x / s))))), computed in fewer full-grid
        # passes (the same function to float rounding, tested): the feature scale s is folded
        # into the two first convolutions' weights; the 1×1 mixing is linear per pixel and
        # the bilinear upsampling linear per channel with weights summing to 1, so the coarse
        # branch's share and the mixing's bias are added on the coarse grid and upsampled
        # with fine_width channels; the fine share is multiplied into the upsampled one in
        # one batched product; without gradients the activations work in place
        scale = self.feature_scale[None, :, None, None]
        inplace = not torch.is_grad_enabled()
        first, conv = self.coarse[0], self.fine[0]
        pointwise, act = self.mix
        n_coarse = pointwise.weight.shape[1] - conv.out_channels
        coarse = F.conv2d(x, first.weight / scale, first.bias, stride=first.stride)
        coarse = self.coarse[2:](F.leaky_relu(coarse, self.coarse[1].negative_slope, inplace))
        shared = _pointwise(pointwise.weight[:, :n_coarse], coarse, pointwise.bias)
        up = F.interpolate(shared, size=(h, w), mode="bilinear", align_corners=False)
        fine = F.conv2d(x, conv.weight / scale, conv.bias, padding=conv.padding)
        fine = F.leaky_relu(fine, self.fine[1].negative_slope, inplace)
        mixed = _pointwise(pointwise.weight[:, n_coarse:], fine, add=up)
        return self.head(F.leaky_relu(mixed, act.negative_slope, inplace))


def input_reach(sigma_net: nn.Module, scale: int) -> int:
    """Input pixels that the σ network adds to the generator's receptive radius: its own
    reach is on the output grid, ``scale`` times finer than the input's (rounded up)."""
    return -(-int(sigma_net.receptive_radius) // max(1, int(scale)))


def combined_stride(generator: nn.Module, sigma_net: nn.Module) -> int:
    """Input sizes that both networks accept: the σ network's stride applies on the output
    grid, ``scale`` times finer than the input's."""
    import math

    scale = int(getattr(generator, "scale", 1))
    inner = int(getattr(sigma_net, "stride", 1))
    return math.lcm(int(getattr(generator, "stride", 1)), max(1, -(-inner // scale)))


def hole_depth(valid: torch.Tensor, max_depth: int, *, fine: int = 8) -> torch.Tensor:
    """Chebyshev distance (pixels) of each pixel to the nearest known one (0 on known pixels),
    capped at ``max_depth``; ``valid`` is (N, 1, H, W) with 1 = known. Exact to ``fine``
    pixels (3×3 max-pooling, one pixel a step), then in steps of 4 (9×9 pooling): σ needs the
    detail at a hole's edge, not deep inside, and this costs 14 poolings instead of 32.

    On the CPU (not while tracing or exporting) the same values come from scipy's chessboard
    distance transform, rounded up the same way: 0.4 ms a 256² tile against 27 ms for the
    poolings, which were most of what σ cost an inpainting model (tested equal)."""
    if (valid.device.type == "cpu" and not torch.jit.is_tracing()
            and not torch.compiler.is_compiling()
            and not torch.onnx.is_in_onnx_export()):  # fmt: skip
        return _hole_depth_transform(valid, max_depth, fine)
    return _hole_depth_pooling(valid, max_depth, fine)


def _hole_depth_pooling(valid: torch.Tensor, max_depth: int, fine: int) -> torch.Tensor:
    depth = torch.zeros_like(valid)
    reach, step = valid, 0
    while step < max_depth:
        stride = 1 if step < fine else 4
        depth = depth + stride * (1.0 - reach)
        reach = F.max_pool2d(reach, 2 * stride + 1, stride=1, padding=stride)
        step += stride
    return depth.clamp_max(max_depth)


def _hole_depth_transform(valid: torch.Tensor, max_depth: int, fine: int) -> torch.Tensor:
    """:func:`hole_depth` through a distance transform: the poolings' depth of a pixel at
    Chebyshev distance d from the nearest known pixel is d up to ``fine``, then ``fine`` +
    4·⌈(d − fine)/4⌉, capped (an image with no known pixel: ``max_depth`` everywhere)."""
    import numpy as np
    from scipy.ndimage import distance_transform_cdt

    known = valid.detach().numpy()[:, 0] > 0.5
    out = np.full(known.shape, float(max_depth), np.float32)
    for i in range(known.shape[0]):
        if known[i].any():
            d = distance_transform_cdt(~known[i], metric="chessboard").astype(np.float32)
            steps = np.where(d <= fine, d, fine + 4 * np.ceil((d - fine) / 4))
            out[i] = np.minimum(steps, max_depth)
    return torch.from_numpy(out[:, None]).to(valid.dtype)


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


def predict_log_sigma(sigma_net: nn.Module, x, mu, *, holes: bool, max_depth: int = 32):
    """(log σ, known mask) of the σ network for inputs ``x`` and prediction ``mu``."""
    features, known = sigma_inputs(x, mu.detach(), holes=holes, max_depth=max_depth)
    return sigma_net(features).clamp(*LOG_SIGMA_RANGE), known


def sigma_channels(in_channels: int, out_channels: int, *, holes: bool = False) -> dict:
    """The σ network's channel arguments: it sees the inputs (on the output grid) and the
    prediction, and for a model that fills holes also the known-pixel mask and hole depth."""
    return {"in_channels": in_channels + out_channels + (2 if holes else 0),
            "out_channels": out_channels}  # fmt: skip


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
        for name in ("scale", "fills_invalid", "onnx_exportable"):
            if hasattr(generator, name):
                setattr(self, name, getattr(generator, name))
        self.stride = combined_stride(generator, sigma_net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = self.generator(x)
        log_sigma, known = predict_log_sigma(
            self.sigma_net, x, mu, holes=self.holes, max_depth=self.max_depth
        )
        return torch.cat([mu, torch.exp(log_sigma) * (1.0 - known)
                          if self.holes else torch.exp(log_sigma)], 1)  # fmt: skip
