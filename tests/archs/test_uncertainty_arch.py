"""The σ network and its wrapper: shapes, the zero-initialised start, σ = 0 on known pixels,
the hole depth against scipy's distance transform, and the cost bound in FLOPs."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from astroi2i.archs.uncertainty import Pointwise, SigmaNet, WithUncertainty, hole_depth
from astroi2i.archs.unet import UNetGenerator


def test_hole_depth_is_exact_near_the_edge_and_close_deeper():
    valid = torch.ones(1, 1, 100, 100)
    valid[..., 20:84, 10:90] = 0
    valid[..., 5:8, 50:53] = 0  # a small hole too
    got = hole_depth(valid, 32)[0, 0].numpy()
    ref = np.minimum(ndimage.distance_transform_cdt(valid[0, 0].numpy() == 0,
                                                    metric="chessboard"), 32)  # fmt: skip
    assert (got[ref <= 8] == ref[ref <= 8]).all()
    assert np.abs(got - ref).max() <= 3 and got.max() == 32


def test_the_distance_transform_gives_the_poolings_depth_exactly():
    """The CPU route (a chessboard distance transform) and the pooling route (GPU, tracing,
    export) agree value for value, also for an image without any known pixel."""
    from astroi2i.archs.uncertainty import _hole_depth_pooling, _hole_depth_transform

    rng = np.random.default_rng(0)
    for trial in range(12):
        valid = torch.ones(2, 1, 120, 104)
        for _ in range(int(rng.integers(1, 6))):
            y, x = rng.integers(0, 110, 2)
            h, w = rng.integers(1, 80, 2)
            valid[int(rng.integers(0, 2)), 0, y : y + h, x : x + w] = 0
        if trial == 0:
            valid[1] = 0  # nothing known
        for max_depth, fine in ((32, 8), (20, 4)):
            pooled = _hole_depth_pooling(valid, max_depth, fine)
            assert torch.equal(_hole_depth_transform(valid, max_depth, fine), pooled)
        assert torch.equal(hole_depth(valid, 32), _hole_depth_pooling(valid, 32, 8))
    assert pooled.max() == 20 and pooled.min() == 0


class _ZeroFill(torch.nn.Module):
    """An inpainting stand-in: missing pixels become 0."""

    out_channels = 1

    def forward(self, x):
        return torch.nan_to_num(x)


def test_untrained_sigma_is_constant_and_zero_on_known_pixels():
    torch.manual_seed(0)
    net = WithUncertainty(_ZeroFill(), SigmaNet(1 + 2 + 1, 1, init_log_sigma=-1.5), holes=True)
    x = torch.randn(2, 1, 32, 32)
    x[:, :, 8:20, 8:20] = torch.nan
    with torch.no_grad():
        out = net(x)
    assert out.shape == (2, 2, 32, 32)
    sigma = out[:, 1]
    hole = torch.isnan(x[:, 0])
    assert (sigma[~hole] == 0).all()
    torch.testing.assert_close(sigma[hole], torch.full_like(sigma[hole], np.exp(-1.5)))
    # without holes: the generator's prediction and a constant σ everywhere
    plain = WithUncertainty(UNetGenerator(1, 1, depth=2, base_channels=4),
                            SigmaNet(2, 1, init_log_sigma=-1.5))  # fmt: skip
    with torch.no_grad():
        out = plain.eval()(torch.randn(1, 1, 32, 32))
    torch.testing.assert_close(out[:, 1], torch.full_like(out[:, 1], np.exp(-1.5)))


def test_sigma_net_needs_sizes_on_its_pooling_grid_and_stays_cheap():
    net = SigmaNet(3, 1)
    assert net.stride == 4 and net.receptive_radius == 4 * (10 + 2)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 3, 30, 32))
    # multiply-adds per output pixel, counted from the layers: at most ~2 kFLOP
    macs = 0.0
    coarse = list(net.coarse.modules())
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            per_out = m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            macs += per_out / (net.pool**2 if m in coarse else 1)
        elif isinstance(m, Pointwise):
            macs += m.weight.numel()
    assert 2 * macs < 2500
    # the pointwise layers are 1×1 convolutions
    pw = Pointwise(5, 3)
    conv = torch.nn.Conv2d(5, 3, 1)
    conv.weight.data, conv.bias.data = pw.weight.data[..., None, None], pw.bias.data
    x = torch.randn(2, 5, 8, 12)
    torch.testing.assert_close(pw(x), conv(x))
    # and so are their gradients (the weight is shared over the batch)
    pw(x).square().sum().backward()
    conv(x).square().sum().backward()
    torch.testing.assert_close(pw.weight.grad, conv.weight.grad[..., 0, 0])
    torch.testing.assert_close(pw.bias.grad, conv.bias.grad)


def test_the_starting_level_and_feature_scale_follow_the_data():
    """Data in DN (thousands) or stretched units (near 1) start at their own residual level:
    σ = 1.4826 × median |residual| per band, features divided by their RMS."""
    from astroi2i.systems.base import _log_residual_level, _set_level

    torch.manual_seed(0)
    fake = torch.zeros(4, 2, 16, 16)
    target = torch.randn(4, 2, 16, 16) * torch.tensor([2.0, 500.0])[None, :, None, None]
    mask = torch.zeros(4, 16, 16, dtype=torch.bool)
    mask[:, :2] = True
    target[:, :, :2] = 1e9  # masked pixels do not count
    level = _log_residual_level(fake, target, mask).exp()
    np.testing.assert_allclose(level.numpy(), [2.0, 500.0], rtol=0.12)
    net = SigmaNet(1 + 2, 2)
    x = torch.randn(4, 1, 16, 16) * 3000.0
    _set_level(net, x, fake, target, mask, holes=False)
    assert int(net.level_set) == 1
    torch.testing.assert_close(net.head.bias, level.log())
    assert net.feature_scale[0] == pytest.approx(3000.0, rel=0.05)
    with torch.no_grad():  # an untrained head gives the level everywhere
        out = net(torch.cat([x, fake], 1))
    torch.testing.assert_close(out.exp()[:, 1], torch.full_like(out[:, 1], float(level[1])))


def test_the_mixing_on_the_coarse_grid_is_the_concatenated_mix():
    """SigmaNet mixes the coarse branch before upsampling it: the same function as mixing the
    concatenation of the upsampled coarse and the fine features (float rounding apart)."""
    import torch.nn.functional as F

    torch.manual_seed(0)
    net = SigmaNet(5, 2)
    torch.nn.init.normal_(net.head.weight)  # the head starts at zero: make it see the mix
    with torch.no_grad():
        net.feature_scale.copy_(torch.rand(5) * 4 + 0.1)  # folded into the first weights
    x = torch.randn(2, 5, 64, 48)
    scaled = x / net.feature_scale[:, None, None]
    up = F.interpolate(net.coarse(scaled), size=(64, 48), mode="bilinear", align_corners=False)
    expected = net.head(net.mix(torch.cat([up, net.fine(scaled)], 1)))
    torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-5)  # with gradients
    with torch.no_grad():  # in place
        torch.testing.assert_close(net(x), expected.detach(), rtol=1e-5, atol=1e-5)
    net(x).sum().backward()  # and every parameter trains
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
