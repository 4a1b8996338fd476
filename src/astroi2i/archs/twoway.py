"""Networks of the two-way survey translators (Lin et al. and its baselines): generators that
change the grid size between domains (64² SDSS ↔ 136² CFHT), autoencoders, noise emulators and
the latent encoders of Augmented CycleGAN.

Every generator is called as ``g(x, size, z=None)``: ``size`` is the output (H, W), so one
network serves any pair of grids whose sizes the data fixes; ``z`` is the latent code of the
stochastic (Augmented CycleGAN) generators.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from astroi2i.archs.correction import CorrectionWeight
from astroi2i.archs.registry import ARCHS
from astroi2i.archs.resnet import ResidualBlock, ResnetGenerator
from astroi2i.nn.layers import norm_layer

__all__ = [
    "ScaleGenerator",
    "RegridResnetGenerator",
    "ConvAutoencoder",
    "NoiseEmulator",
    "LatentEncoder",
    "resample",
]


def resample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resampling to ``size`` (antialiased when shrinking, so a 136→64 reduction
    averages instead of aliasing); the identity when the size already matches."""
    size = (int(size[0]), int(size[1]))
    if tuple(x.shape[-2:]) == size:
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=shrink)


def _with_latent(x: torch.Tensor, z: torch.Tensor | None, latent_dim: int) -> torch.Tensor:
    if latent_dim == 0:
        return x
    if z is None:
        raise ValueError(f"this generator takes a latent code of {latent_dim} values (z)")
    return torch.cat([x, z[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1)


def _conv_block(cin: int, cout: int, norm: str, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=norm != "batch"),
        norm_layer(norm, cout),
        nn.ReLU(),
    ]


@ARCHS.register
class ScaleGenerator(CorrectionWeight, nn.Module):
    """Encoder at the input resolution, residual blocks, then decoding straight onto the output
    grid (any size: 64² → 136² and back).

    The bottleneck features are resampled (bilinear) to the output size / 2^n_downsampling and
    brought up by ``n_downsampling`` stages: ``resize`` (bilinear ×2 then a 3×3 convolution,
    which avoids checkerboards) or ``pixel_shuffle`` (a convolution to 4× the channels and a
    sub-pixel shuffle, Shi et al. 2016; Lin et al.'s variant (e)). With ``residual``, the input
    resampled to the output grid is added to the output (needs equal channel counts), so the
    network learns the difference between the surveys rather than the whole image.
    ``kernel_size`` is that of the first and last convolutions (CycleGAN: 7; 3 is ~5× cheaper
    at full resolution). ``residual_filter`` > 0 puts a learned per-band filter of that size
    (and gain) on the skip path, starting as the identity: it can learn, within a few hundred
    batches, to smooth away the source survey's pixel noise and rescale its flux, which the
    deep path would otherwise have to cancel pixel by pixel.

    ``latent_dim`` > 0 makes it stochastic: z is broadcast over the image and concatenated to
    the input (Augmented CycleGAN).

    ``anchor=True`` starts at the classical answer, the regrid baseline: the skip path is the
    input taken back to physical units, resampled, multiplied by the pixel-area ratio and the
    unit factor, and stretched into the target's units (:meth:`use_baseline`, called by the
    workflows with the fitted stretches; differentiable, so cycle terms reach both
    generators), and the head's last convolution starts at zero. The untrained generator then
    *is* ``compare``'s regrid reference, and training learns the correction. With
    ``anchor_filter`` the reference is filtered, in physical units, by the radial filter
    fitted from the regrid to the target survey on the paired training stamps (PSF matching:
    :mod:`astroi2i.baselines.radial_filter`), so the untrained generator is ``compare``'s
    "regrid + fitted filter" reference instead.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        base_channels: int = 32,
        n_blocks: int = 4,
        n_downsampling: int = 1,
        upsampling: Literal["resize", "pixel_shuffle"] = "resize",
        latent_dim: int = 0,
        norm: Literal["batch", "instance", "none"] = "instance",
        residual: bool = True,
        kernel_size: int = 7,
        residual_filter: int = 0,
        anchor: bool = False,
        anchor_filter: bool = False,
    ) -> None:
        super().__init__()
        if anchor_filter and not anchor:
            raise ValueError("anchor_filter filters the regrid baseline: needs anchor")
        if anchor and not residual:
            raise ValueError("anchor adds the regrid baseline on the skip path: needs residual")
        if residual and in_channels != out_channels:
            raise ValueError(
                f"residual needs as many input as output channels ({in_channels} ≠ {out_channels})"
            )
        self.latent_dim, self.residual = latent_dim, residual
        self.n_downsampling, self.upsampling = n_downsampling, upsampling
        ch = base_channels
        pad = kernel_size // 2
        enc: list[nn.Module] = [
            nn.ReflectionPad2d(pad),
            nn.Conv2d(in_channels + latent_dim, ch, kernel_size, bias=norm != "batch"),
            norm_layer(norm, ch),
            nn.ReLU(),
        ]
        for _ in range(n_downsampling):
            enc += _conv_block(ch, ch * 2, norm, stride=2)
            ch *= 2
        enc += [ResidualBlock(ch, norm=norm) for _ in range(n_blocks)]
        self.encoder = nn.Sequential(*enc)
        self.up = nn.ModuleList()
        for _ in range(n_downsampling):
            if upsampling == "pixel_shuffle":
                stage = [nn.Conv2d(ch, (ch // 2) * 4, 3, padding=1), nn.PixelShuffle(2),
                         norm_layer(norm, ch // 2), nn.ReLU()]  # fmt: skip
            else:
                stage = _conv_block(ch, ch // 2, norm)
            self.up.append(nn.Sequential(*stage))
            ch //= 2
        self.head = nn.Sequential(nn.ReflectionPad2d(pad), nn.Conv2d(ch, out_channels, kernel_size))
        self.skip = None
        if residual and residual_filter:
            # a learned per-band filter and gain on the skip path, starting as the identity
            k = residual_filter
            self.skip = nn.Conv2d(in_channels, in_channels, k, padding=k // 2,
                                  padding_mode="reflect", groups=in_channels)  # fmt: skip
            with torch.no_grad():
                self.skip.weight.zero_()
                self.skip.weight[:, 0, k // 2, k // 2] = 1.0
                self.skip.bias.zero_()
        self.anchor, self._baseline = bool(anchor), None
        self.anchor_filter, self._transfer = bool(anchor_filter), None
        #: per band, whether the correction weight weighs the output against the raw input's
        #: classical answer (``forward(…, raw=…)``); set from the stored correction
        self.raw_reference: list[bool] | None = None
        # what a correction weight weighs
        self.prior = ("filtered regrid" if anchor_filter else "regrid") if anchor else "none"
        if anchor:  # the correction starts at zero: the output is the baseline
            with torch.no_grad():
                self.head[-1].weight.zero_()
                self.head[-1].bias.zero_()

    def use_baseline(self, source: dict, target: dict, factor: float,
                     transfer: dict | None = None) -> None:  # fmt: skip
        """The regrid baseline of ``anchor``: ``source``/``target`` are the two domains' fitted
        stretches (their ``to_dict()``), ``factor`` the pixel-area ratio × unit factor;
        ``transfer`` (``{"k": …, "gain": [per band]}``) the radial filter of
        ``anchor_filter``."""
        if self.anchor_filter and not transfer:
            raise ValueError(
                "anchor_filter: no regrid filter was fitted (it is fitted band by band on "
                "the paired training rows; without them, or between different bands, set "
                "anchor_filter: false)"
            )
        self._baseline = (_torch_stretch(source)[1], _torch_stretch(target)[0], float(factor))
        self._transfer = (
            (transfer["k"], transfer["gain"], transfer.get("interpolation", "k"))
            if self.anchor_filter else None
        )  # fmt: skip

    def forward(
        self, x: torch.Tensor, size: tuple[int, int], z: torch.Tensor | None = None,
        raw: torch.Tensor | None = None,
    ) -> torch.Tensor:  # fmt: skip
        """``raw``: the unprocessed source image when ``x`` is a processed one (the noise
        GAN's autoencoder output). In the bands where :attr:`raw_reference` is set, and with a
        correction weight w, the output is B(raw) + w·(G(x) − B(raw)): w = 0 is the classical
        answer B of the raw input, w = 1 the translator as trained; in the others it is
        B(x) + w·Δ(x)."""
        h = self.encoder(_with_latent(x, z, self.latent_dim))
        f = 2**self.n_downsampling
        h = resample(h, (max(1, round(size[0] / f)), max(1, round(size[1] / f))))
        for stage in self.up:
            if self.upsampling == "resize":
                h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = stage(h)
        out = self.head(resample(h, size))
        if not self.residual:
            return out
        if not self.anchor:
            skip = resample(x, size)
            return out + (self.skip(skip) if self.skip is not None else skip)
        base = self._anchor_path(x, size)
        if raw is None or not any(self.raw_reference or ()) or self._correction_weight is None:
            return self.weighted(out) + base  # w·correction (w = 1 unless chosen after training)
        by_band = torch.as_tensor(self.raw_reference, device=x.device).view(1, -1, 1, 1)
        reference = torch.where(by_band, self._anchor_path(raw, size), base)
        return reference + self.weighted(out + base - reference)

    def _anchor_path(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The classical answer of ``x`` on the output grid, in the target's stretched units."""
        if self._baseline is None:
            raise RuntimeError("an anchored ScaleGenerator needs use_baseline() first")
        inverse, forward, factor = self._baseline
        base = resample(inverse(x), size) * factor
        if self._transfer is not None:
            base = radial_filter_torch(base, *self._transfer)
        skip = forward(base)
        return self.skip(skip) if self.skip is not None else skip


def radial_filter_torch(x: torch.Tensor, k, gains, interpolation: str = "k2") -> torch.Tensor:
    """:func:`astroi2i.baselines.radial_filter.radial_filter` in torch for (N, C, H, W), with
    the same response (:func:`~astroi2i.baselines.radial_filter.radial_response`);
    differentiable in ``x``."""
    from astroi2i.baselines.radial_filter import radial_response

    h, w = x.shape[-2:]
    response = torch.from_numpy(radial_response((h, w), k, gains, interpolation)).to(x.device)
    spectrum = torch.fft.rfft2(x.to(torch.float64))
    return torch.fft.irfft2(spectrum * response, s=(h, w)).to(x.dtype)


def _torch_stretch(spec: dict):
    """(forward, inverse) in torch of a stretch given as its ``to_dict()``: the ones two-way
    recipes use (identity, Lin et al.'s signed square root)."""
    kind = spec.get("type")
    if kind == "IdentityStretch":
        return (lambda x: x), (lambda y: y)
    if kind == "SignedSqrtStretch":
        f = float(spec.get("flux_scale", 1.0))

        def forward(x):
            return torch.sign(x) * (torch.sqrt(torch.abs(x / f) + 1.0) - 1.0)

        def inverse(y):
            return f * torch.sign(y) * ((torch.abs(y) + 1.0) ** 2 - 1.0)

        return forward, inverse
    raise ValueError(
        f"anchor: the regrid baseline needs the stretch in torch; {kind} has none here "
        "(use IdentityStretch or SignedSqrtStretch)"
    )


@ARCHS.register
class RegridResnetGenerator(nn.Module):
    """Baseline (g): the classic CycleGAN ResNet generator (6 residual blocks for 128²-class
    images) on inputs first regridded bilinearly to the output size, so both domains share one
    grid inside the network."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_blocks: int = 6,
        base_channels: int = 32,
        n_downsampling: int = 2,
        norm: Literal["batch", "instance", "none"] = "instance",
    ) -> None:
        super().__init__()
        self.latent_dim = 0
        self.net = ResnetGenerator(in_channels, out_channels, n_blocks=n_blocks,
                                   base_channels=base_channels, n_downsampling=n_downsampling,
                                   norm=norm)  # fmt: skip

    def forward(
        self, x: torch.Tensor, size: tuple[int, int], z: torch.Tensor | None = None
    ) -> torch.Tensor:
        f = 2**self.net.n_downsampling
        padded = (-(-int(size[0]) // f) * f, -(-int(size[1]) // f) * f)
        out = self.net(resample(x, padded))
        return out[..., : int(size[0]), : int(size[1])]


@ARCHS.register
class ConvAutoencoder(nn.Module):
    """Lin et al.'s autoencoder: a strided encoder down to a narrow bottleneck and a decoder,
    with no skip connections, so it cannot pass pixel noise through: A(x) is the noise-free
    part of x and x − A(x) its noise.

    ``smooth`` > 0 starts it at a classical noise-free estimate: A(x) = G ∗ x + the decoder's
    output, G a Gaussian of that σ (pixels, in the units A works in) and the decoder's last
    layer zero, so the bottlenecked network learns only the structure the smoothing blurs.
    """

    def __init__(
        self,
        channels: int,
        *,
        base_channels: int = 32,
        depth: int = 2,
        bottleneck_channels: int = 8,
        norm: Literal["batch", "instance", "none"] = "instance",
        smooth: float = 0.0,
    ) -> None:
        super().__init__()
        if smooth < 0:
            raise ValueError(f"smooth must be ≥ 0 pixels, got {smooth}")
        self.smooth = float(smooth)
        layers: list[nn.Module] = _conv_block(channels, base_channels, norm)
        ch = base_channels
        for _ in range(depth):
            layers += _conv_block(ch, ch * 2, norm, stride=2)
            ch *= 2
        layers += [nn.Conv2d(ch, bottleneck_channels, 1)]
        self.encoder = nn.Sequential(*layers)
        dec: list[nn.Module] = _conv_block(bottleneck_channels, ch, norm)
        self.decoder_stages = nn.ModuleList()
        for _ in range(depth):
            self.decoder_stages.append(nn.Sequential(*_conv_block(ch, ch // 2, norm)))
            ch //= 2
        self.decoder_in = nn.Sequential(*dec)
        self.head = nn.Conv2d(ch, channels, 3, padding=1)
        if self.smooth:
            with torch.no_grad():
                self.head.weight.zero_()
                self.head.bias.zero_()

    def _smoothed(self, x: torch.Tensor) -> torch.Tensor:
        r = max(1, int(round(3 * self.smooth)))
        g = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
                              / self.smooth) ** 2)  # fmt: skip
        g = g / g.sum()
        c = x.shape[1]
        h = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).repeat(c, 1, 1, 1),
                     groups=c)  # fmt: skip
        return F.conv2d(F.pad(h, (0, 0, r, r), mode="reflect"),
                        g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.decoder_in(self.encoder(x))
        for stage in self.decoder_stages:
            h = stage(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False))
        out = self.head(resample(h, tuple(x.shape[-2:])))
        return out + self._smoothed(x) if self.smooth else out


@ARCHS.register
class NoiseEmulator(nn.Module):
    """Noise from Gaussian seeds: a small fully convolutional net sees the noise-free image and
    ``seed_channels`` maps of N(0, 1) seeds and returns a noise image (so the noise may depend
    on the signal, as photon noise does, and be spatially correlated, as resampled stacks are).

    ``anchor=True`` fixes the noise *level* to the survey's measured one and leaves the
    adversarial game only its texture: the emulator takes ``channels`` more seed maps, white
    noise w per band, and returns σ · n̂ with n = w + net(clean, seeds) and n̂ = n minus its
    mean, divided by its RMS, per image and band; σ (a buffer, per band, in the stretched
    units the emulator works in) is set from the training images with :meth:`set_noise_level`
    (the two-way training does this: the per-band median over training images of the
    Immerkær pixel noise). Its last layer is zero, so it starts as white noise of exactly σ.
    Without ``anchor`` it starts silent and the noise grows as the discriminator asks for it.
    """

    def __init__(
        self,
        channels: int,
        *,
        seed_channels: int = 4,
        base_channels: int = 16,
        n_layers: int = 4,
        anchor: bool = False,
    ) -> None:
        super().__init__()
        self.anchor, self.channels = bool(anchor), channels
        self.seed_channels = seed_channels + (channels if anchor else 0)
        layers: list[nn.Module] = []
        ch = channels + self.seed_channels
        for _ in range(n_layers - 1):
            layers += [nn.Conv2d(ch, base_channels, 3, padding=1), nn.LeakyReLU(0.2)]
            ch = base_channels
        last = nn.Conv2d(ch, channels, 3, padding=1)
        with torch.no_grad():  # start silent (or, anchored, as white noise of the set level)
            last.weight.zero_()
            last.bias.zero_()
        self.net = nn.Sequential(*layers, last)
        if self.anchor:  # only then: checkpoints of silent-start emulators load as before
            self.register_buffer("noise_sigma", torch.zeros(channels))

    def set_noise_level(self, sigma) -> None:
        """σ per band (stretched units) of the survey's pixel noise, for ``anchor``."""
        if not self.anchor:
            raise ValueError("set_noise_level: this emulator is not anchored (anchor=False)")
        sigma = torch.as_tensor(sigma, dtype=self.noise_sigma.dtype).flatten()
        if sigma.numel() != self.channels or not bool(torch.isfinite(sigma).all()):
            raise ValueError(f"noise level: {self.channels} finite values needed, got {sigma}")
        self.noise_sigma.copy_(sigma.to(self.noise_sigma.device))

    def forward(self, clean: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
        out = self.net(torch.cat([clean, seed], 1))
        if not self.anchor:
            return out
        n = seed[:, : self.channels] + out
        n = n - n.mean(dim=(-2, -1), keepdim=True)
        rms = n.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt().clamp_min(1e-12)
        return n / rms * self.noise_sigma.view(1, -1, 1, 1).to(n.dtype)


@ARCHS.register
class LatentEncoder(nn.Module):
    """Augmented CycleGAN's E: infers the latent code of a target-domain image from the pair
    (source resampled to the target grid, target)."""

    def __init__(
        self, in_channels: int, *, latent_dim: int = 4, base_channels: int = 16, n_layers: int = 3
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        layers: list[nn.Module] = []
        ch = in_channels
        for i in range(n_layers):
            layers += [nn.Conv2d(ch, base_channels * 2**i, 4, stride=2, padding=1),
                       nn.LeakyReLU(0.2)]  # fmt: skip
            ch = base_channels * 2**i
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(ch, latent_dim)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        h = self.features(torch.cat([resample(source, tuple(target.shape[-2:])), target], 1))
        return self.fc(h.mean(dim=(-2, -1)))
