"""The partial-convolution U-Net of Liu et al. (2018), the network inside CorKit's inpainting.

Every convolution is a :class:`~astroi2i.nn.partial_conv.PartialConv2d`, so the hole shrinks as
the image goes down the encoder (each stride-2 layer turns a pixel valid when any tap of its
window was valid), and the decoder gets the skip connection's features *and* masks.
``forward(x, mask)`` returns ``(out, mask_out)``; with ``return_masks=True`` it also returns the
updated mask after every encoder level (what CorKit's per-layer losses are defined on).
Mask convention: 1 = valid (as :class:`PartialConv2d`), the opposite of ``SkyImage.mask``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from astroi2i.archs.correction import CorrectionWeight
from astroi2i.archs.registry import ARCHS
from astroi2i.nn.layers import norm_layer
from astroi2i.nn.partial_conv import PartialConv2d

__all__ = ["PConvUNet", "MultiLayerPConvUNet"]


class _PBlock(nn.Module):
    def __init__(self, cin, cout, kernel, stride, *, norm, act) -> None:
        super().__init__()
        self.conv = PartialConv2d(cin, cout, kernel, stride, kernel // 2, bias=norm != "batch")
        self.norm = norm_layer(norm, cout)
        self.act = act

    def forward(self, x, mask):
        y, m = self.conv(x, mask)
        return self.act(self.norm(y)), m


@ARCHS.register
class PConvUNet(nn.Module):
    """Partial-convolution U-Net: ``depth`` stride-2 encoder levels (kernels 7, 5, 5, 3, …;
    no norm on the first), nearest-neighbour upsampling of features and masks, skip
    concatenation, 3×3 partial convolutions in the decoder (LeakyReLU 0.2) and a linear last
    layer that also sees the input image and mask. ``depth=7, base_channels=64,
    max_channels=512`` is Liu et al.'s 512² network. H and W must be multiples of 2^depth.
    The mask may have 1 channel or ``in_channels`` channels."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        depth: int = 7,
        base_channels: int = 64,
        max_channels: int = 512,
        norm: str = "batch",
    ) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be ≥ 2, got {depth}")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        widths = [min(base_channels * 2**i, max_channels) for i in range(depth)]
        kernels = [7, 5, 5] + [3] * max(0, depth - 3)
        self.enc = nn.ModuleList()
        prev = in_channels
        for i, (w, k) in enumerate(zip(widths, kernels)):
            self.enc.append(_PBlock(prev, w, k, 2, norm="none" if i == 0 else norm, act=nn.ReLU()))
            prev = w
        self.dec = nn.ModuleList()
        for i in reversed(range(depth)):
            skip = widths[i - 1] if i > 0 else in_channels
            out = widths[i - 1] if i > 0 else out_channels
            last = i == 0
            self.dec.append(
                _PBlock(
                    prev + skip,
                    out,
                    3,
                    1,
                    norm="none" if last else norm,
                    act=nn.Identity() if last else nn.LeakyReLU(0.2),
                )
            )
            prev = out

    @property
    def stride(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, *, return_masks=False):
        if mask is None:
            mask = torch.ones_like(x[:, :1])
        if x.shape[-1] % self.stride or x.shape[-2] % self.stride:
            raise ValueError(f"H and W must be multiples of {self.stride}, got {tuple(x.shape)}")
        mask = mask.to(x.dtype).expand(-1, x.shape[1], -1, -1)
        feats, masks = [(x, mask)], []
        h, m = x, mask
        for block in self.enc:
            h, m = block(h, m)
            feats.append((h, m))
            masks.append(m[:, :1])
        feats.pop()  # the bottleneck is the decoder's starting point, not a skip
        for block in self.dec:
            skip_h, skip_m = feats.pop()
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            m = F.interpolate(m, scale_factor=2, mode="nearest")
            # per-channel masks: the layer counts valid (channel, tap) pairs, as Liu et al.
            if skip_m.shape[1] != skip_h.shape[1]:
                skip_m = skip_m[:, :1].expand_as(skip_h)
            m = torch.cat([m[:, :1].expand_as(h), skip_m], 1)
            h, m = block(torch.cat([h, skip_h], 1), m)
        return (h, m[:, :1], masks) if return_masks else (h, m[:, :1])


@ARCHS.register
class MultiLayerPConvUNet(CorrectionWeight, nn.Module):
    """CorKit's multi-layer inpainting network: ``n_layers`` PConv U-Nets that fill the hole
    from its edge inwards.

    Masks (1 = known): M₀ is the valid-pixel mask; M_l is M_{l−1} grown by ``grow`` pixels
    for l < L, and M_L covers everything. Layer l sees the image known on M_{l−1} and is
    responsible for the ring M_l − M_{l−1}. In training (:meth:`stages` with ``target``) the
    image known on M_l is the truth (teacher forcing per layer); at inference it is the
    composite of the layers before.

    ``forward(x)`` takes (N, C, H, W) with NaN at missing pixels and returns the composite:
    the input where it is valid, the layers' predictions in the hole.

    ``prior="biharmonic"`` starts from the classical answer, the paper's own next step
    (residual connections): scikit-image's biharmonic fill P of the holes, made in physical
    units when the input stretch is attached (:meth:`use_input_stretch`, done by every
    workflow that builds the model), is given to every layer as C extra, all-valid channels,
    and each layer predicts a *relative* correction: s(P) + g·tanh(δ_l), with s the stretch
    and g the change of s(P) for a relative change of P (:func:`biharmonic_prior`), i.e.
    P·(1 + tanh δ) to first order. A correction in the stretched units themselves fails on a
    histogram equalisation: its top knots span ~10⁶ DN per unit, so a small error there is
    thousands of DN (measured: −11.6 dB against biharmonic on coronagraph scenes after 500
    batches). δ_l's last convolution is zero at initialisation, so the untrained network
    returns exactly the fill that ``evaluate --mask`` scores as its baseline, and training
    (CorKit's losses, unchanged) learns the correction; after training, each layer's
    correction is weighted by the w that ``train`` fits on the validation split
    (:mod:`astroi2i.archs.correction`).
    """

    fills_invalid = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        n_layers: int = 2,
        grow: int = 16,
        depth: int = 5,
        base_channels: int = 32,
        max_channels: int = 256,
        norm: str = "batch",
        prior: str = "none",
    ) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError("inpainting maps an image onto itself: in_channels == out_channels")
        if n_layers < 1 or grow < 1:
            raise ValueError(f"n_layers and grow must be ≥ 1, got {n_layers}, {grow}")
        if prior not in ("none", "biharmonic"):
            raise ValueError(f"prior must be 'none' or 'biharmonic', got {prior!r}")
        self.in_channels, self.out_channels, self.grow = in_channels, out_channels, grow
        self.prior, self._space = prior, None
        if prior == "biharmonic":
            self.receptive_radius = None  # the fill of a hole depends on all its edge
            self.onnx_exportable = False  # scikit-image runs inside forward()
        self.layers = nn.ModuleList(
            PConvUNet(
                in_channels * (2 if prior == "biharmonic" else 1),
                out_channels,
                depth=depth,
                base_channels=base_channels,
                max_channels=max_channels,
                norm=norm,
            )
            for _ in range(n_layers)
        )
        if prior == "biharmonic":  # δ = 0: the untrained network is the biharmonic fill
            for layer in self.layers:
                nn.init.zeros_(layer.dec[-1].conv.weight)
                nn.init.zeros_(layer.dec[-1].conv.bias)

    @property
    def stride(self) -> int:
        return self.layers[0].stride

    def use_input_stretch(self, forward, inverse) -> None:
        """Make the biharmonic prior in physical units: ``forward``/``inverse`` are the input
        stretch's maps of numpy arrays (N, C, H, W). Without them it is made in the stretched
        units the network sees."""
        self._space = (forward, inverse)

    def masks(self, valid: torch.Tensor) -> list[torch.Tensor]:
        """[M₀, M₁, …, M_L] for a (N, 1, H, W) valid mask (1 = known)."""
        masks = [valid]
        k = 2 * self.grow + 1
        for _ in range(len(self.layers) - 1):
            masks.append(F.max_pool2d(masks[-1], k, stride=1, padding=self.grow))
        masks.append(torch.ones_like(valid))
        return masks

    def stages(self, x: torch.Tensor, valid: torch.Tensor, target: torch.Tensor | None = None):
        """[(out_l, M_{l−1}, M_l)] for a finite ``x`` and its (N, 1, H, W) ``valid`` mask;
        with ``target`` each layer after the first starts from the truth on M_{l−1}."""
        masks = self.masks(valid.to(x.dtype))
        known = x * masks[0]
        prior = None
        if self.prior == "biharmonic":
            from astroi2i.archs.prior_unet import biharmonic_prior

            prior, gain = biharmonic_prior(x, masks[0], self._space, with_gain=True)
        out = []
        for layer, prev, cur in zip(self.layers, masks[:-1], masks[1:]):
            if prior is None:
                pred, _ = layer(known, prev)
            else:  # the prior as extra channels, valid everywhere; the layer adds δ to it
                seen = torch.cat([prev.expand_as(known), torch.ones_like(prior)], 1)
                delta, _ = layer(torch.cat([known, prior], 1), seen)
                pred = prior + self.weighted(gain * torch.tanh(delta))
            out.append((pred, prev, cur))
            fill = target if target is not None else pred
            known = known * prev + fill * (cur - prev)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        valid = torch.isfinite(x).all(dim=1, keepdim=True)
        x0 = torch.where(valid, x, torch.zeros_like(x))
        composite = x0
        for pred, prev, cur in self.stages(x0, valid.to(x.dtype)):
            composite = composite * prev + pred * (cur - prev)
        return composite
