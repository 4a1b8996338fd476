import numpy as np
import pytest
import torch

from astroi2i.archs import (
    ARCHS,
    PatchDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    SRGANDiscriminator,
    SRResNetGenerator,
    UNetGenerator,
)
from astroi2i.archs.discriminators import patch_receptive_field


def _grad_flows(model, x):
    model(x).square().mean().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
def test_unet_shapes_and_gradients(norm, upsample):
    g = UNetGenerator(3, 2, depth=4, base_channels=4, norm=norm, upsample=upsample)
    x = torch.randn(2, 3, 32, 48)
    assert g(x).shape == (2, 2, 32, 48) and g.stride == 16
    _grad_flows(g, x)


def test_unet_classic_sizes_and_stride_error():
    n = sum(p.numel() for p in UNetGenerator(3, 3).parameters())
    assert round(n / 1e6, 1) == 54.4  # pix2pix unet_256
    with pytest.raises(ValueError, match="needs multiples of 8"):
        UNetGenerator(1, 1, depth=3, base_channels=2)(torch.zeros(1, 1, 20, 16))


def test_unet_dropout_levels_follow_pix2pix():
    g = UNetGenerator(3, 3, depth=8)
    has_dropout = [any(isinstance(m, torch.nn.Dropout) for m in up.modules()) for up in g.up]
    assert has_dropout == [False, True, True, True, False, False, False]


@pytest.mark.parametrize("n_blocks", [6, 9])
def test_resnet_generator(n_blocks):
    g = ResnetGenerator(2, 1, n_blocks=n_blocks, base_channels=4)
    x = torch.randn(1, 2, 32, 32)
    assert g(x).shape == (1, 1, 32, 32)
    _grad_flows(g, x)


def test_discriminators():
    assert patch_receptive_field(3) == 70
    d = PatchDiscriminator(4, base_channels=4, n_layers=3)
    assert d(torch.randn(1, 4, 64, 64)).shape == (1, 1, 6, 6)
    assert sum(p.numel() for p in PatchDiscriminator(6).parameters()) == 2_768_705
    _grad_flows(d, torch.randn(2, 4, 64, 64))
    p = PixelDiscriminator(4, base_channels=4)
    assert p(torch.randn(1, 4, 9, 7)).shape == (1, 1, 9, 7)
    _grad_flows(p, torch.randn(2, 4, 8, 8))


def test_registry_lists_names():
    assert ARCHS.names() == [
        "BiharmonicResidualUNet",
        "ConvAutoencoder",
        "LatentEncoder",
        "MultiLayerPConvUNet",
        "NoiseEmulator",
        "PConvUNet",
        "PatchDiscriminator",
        "PixelDiscriminator",
        "RegridResnetGenerator",
        "ResnetGenerator",
        "SRGANDiscriminator",
        "SRResNetGenerator",
        "ScaleGenerator",
        "SigmaNet",
        "UNetGenerator",
    ]
    with pytest.raises(
        ValueError, match="unknown architecture 'Foo'; known: BiharmonicResidualUNet, ConvAuto"
    ):
        ARCHS.get("Foo")


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("upsample", ["bilinear", "pixelshuffle"])
def test_srresnet_scales_and_gradients(scale, upsample):
    g = SRResNetGenerator(3, 3, scale=scale, n_blocks=2, base_channels=8, upsample=upsample)
    x = torch.randn(2, 3, 12, 10)
    assert g(x).shape == (2, 3, 12 * scale, 10 * scale) and g.scale == scale
    _grad_flows(g, x)
    with pytest.raises(ValueError, match="scale must be 2, 4 or 8"):
        SRResNetGenerator(1, 1, scale=3)


def test_srgan_discriminator_any_size_and_features():
    d = SRGANDiscriminator(3, base_channels=4)
    for size in (32, 48):
        assert d(torch.randn(2, 3, size, size)).shape == (2, 1)
    feats = d.features(torch.randn(1, 3, 32, 32))
    assert len(feats) == 8 and feats[-1].shape == (1, 32, 2, 2)
    _grad_flows(d, torch.randn(2, 3, 32, 32))


def test_pconv_unet_fills_the_hole_and_keeps_gradients():
    from astroi2i.archs import PConvUNet

    torch.manual_seed(0)
    net = PConvUNet(2, 1, depth=3, base_channels=4, max_channels=8)
    x = torch.randn(2, 2, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    mask[:, :, 8:24, 8:24] = 0  # a 16×16 missing block
    out, mask_out, levels = net(x, mask, return_masks=True)
    assert out.shape == (2, 1, 32, 32) and torch.isfinite(out).all()
    assert mask_out.shape == (2, 1, 32, 32) and mask_out.all()  # the hole is filled
    # the hole shrinks level by level: 16 px block → 8×8 grid of 16² cells, kernels 7, 5, 5
    assert [lv.shape[-1] for lv in levels] == [16, 8, 4]
    assert levels[0][0, 0].sum() < 16 * 16 and levels[-1].all()
    out.mean().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    # the masked pixels' values do not reach the output
    y = x.clone()
    y[:, :, 8:24, 8:24] = 1e3
    torch.testing.assert_close(net.eval()(x, mask)[0], net(y, mask)[0])
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.randn(1, 2, 30, 32), None)


def test_multilayer_pconv_masks_teacher_forcing_and_composite():
    from astroi2i.archs import MultiLayerPConvUNet

    torch.manual_seed(0)
    net = MultiLayerPConvUNet(1, 1, n_layers=3, grow=4, depth=3, base_channels=4).eval()
    valid = torch.ones(1, 1, 32, 32)
    valid[:, :, 8:24, 8:24] = 0
    masks = net.masks(valid)
    assert len(masks) == 4 and masks[-1].all()
    # M1 is M0 grown by 4 px: the hole shrinks from 16² to 8²
    assert (1 - masks[1]).sum() == 8 * 8 and (1 - masks[2]).sum() == 0
    x = torch.randn(1, 1, 32, 32)
    stages = net.stages(x * valid, valid)
    assert len(stages) == 3 and all(p.shape == x.shape for p, _, _ in stages)
    forced = net.stages(x * valid, valid, target=torch.zeros_like(x))
    torch.testing.assert_close(forced[0][0], stages[0][0])  # layer 1 sees the same input
    assert not torch.allclose(forced[1][0], stages[1][0])  # later layers start from the truth
    holed = torch.where(valid.bool(), x, torch.nan)
    out = net(holed)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[valid.bool()], x[valid.bool()], rtol=0, atol=0)
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        MultiLayerPConvUNet(2, 1)


def test_multilayer_pconv_with_biharmonic_prior_starts_at_the_physical_fill():
    """prior='biharmonic': the untrained network returns scikit-image's biharmonic fill made in
    physical units through the attached hist-eq stretch, and every layer learns δ."""
    from astroi2i.archs import MultiLayerPConvUNet
    from astroi2i.baselines import biharmonic_fill
    from astroi2i.data.stretches import HistEqStretch

    torch.manual_seed(0)
    yy, xx = np.mgrid[:64, :64]
    rng = np.random.default_rng(0)
    image = 1000 * np.exp(-((xx - 30) ** 2 + (yy - 36) ** 2) / 300) + 50
    image = (image + rng.normal(0, 3, image.shape)).astype(np.float32)
    stretch = HistEqStretch(n_levels=256).fit([image[None]])
    net = MultiLayerPConvUNet(1, 1, n_layers=2, grow=4, depth=3, base_channels=4,
                              prior="biharmonic").eval()  # fmt: skip
    missing = np.zeros((64, 64), bool)
    missing[24:40, 16:48] = True
    x = stretch.forward(image[None, None]).astype(np.float32)
    x[0, 0][missing] = np.nan
    with torch.no_grad():
        in_stretch = net(torch.from_numpy(x)).numpy()
    net.use_input_stretch(stretch.forward, stretch.inverse)
    with torch.no_grad():
        stretched = net(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(stretched[0, 0][~missing], x[0, 0][~missing])  # kept as is
    out = stretch.inverse(stretched.astype(np.float64))[0, 0]
    expected = biharmonic_fill(image, missing)
    np.testing.assert_allclose(out[missing], expected[missing], rtol=0, atol=1e-6 * 1000)
    # without the stretch the fill is made in the stretched units: another answer
    other = stretch.inverse(in_stretch.astype(np.float64))[0, 0]
    assert np.abs(other[missing] - expected[missing]).max() > 1.0
    # the correction is relative: even a saturated one moves the physical fill by about the
    # fill itself (P·(1 ± 1) to first order), never by the stretch's span
    with torch.no_grad():
        for layer in net.layers:
            layer.dec[-1].conv.bias.fill_(50.0)
        pushed = net(torch.from_numpy(x)).numpy().astype(np.float64)
        for layer in net.layers:
            layer.dec[-1].conv.bias.zero_()
    moved = stretch.inverse(pushed)[0, 0][missing]
    assert np.all(moved > expected[missing]) and np.all(moved < 3.5 * expected[missing])
    # every layer's last convolution is where learning starts
    valid = torch.from_numpy(~missing).float()[None, None]
    stages = net.stages(torch.nan_to_num(torch.from_numpy(x)), valid)
    sum(p[(c - m).bool().expand_as(p)].sum() for p, m, c in stages).backward()
    assert all(layer.dec[-1].conv.weight.grad.abs().sum() > 0 for layer in net.layers)
    with pytest.raises(ValueError, match="prior"):
        MultiLayerPConvUNet(1, 1, prior="bicubic")


def test_biharmonic_residual_unet_starts_at_biharmonic_and_learns_inside_holes_only():
    from skimage.restoration import inpaint_biharmonic

    from astroi2i.archs import BiharmonicResidualUNet

    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(37.0), torch.arange(45.0), indexing="ij")
    x = (200 + 50 * torch.sin(xx / 6) * torch.cos(yy / 9) + 3 * yy)[None, None].repeat(2, 2, 1, 1)
    x[1] *= 4  # any H, W; every band and image is filled on its own
    valid = torch.ones(2, 1, 37, 45)
    valid[0, :, 5:21, 9:25] = 0
    valid[1, :, 20:36, 2:34] = 0
    holed = torch.where(valid.bool(), x, torch.nan)
    net = BiharmonicResidualUNet(2, 2, depth=3, base_channels=4, softening=10.0, window=9)
    out = net(holed)
    hole = ~valid.bool().expand_as(x)
    assert torch.equal(out[~hole], x[~hole])
    for n in range(2):
        gap = hole[n, 0].numpy()
        for c in range(2):
            image = x[n, c].double().numpy()
            expected = torch.from_numpy(inpaint_biharmonic(image * ~gap, gap)).float()
            torch.testing.assert_close(out[n, c][hole[n, c]], expected[hole[n, c]], rtol=1e-5,
                                       atol=1e-3)  # fmt: skip
    # gradients reach the network only through the hole pixels
    (filled,), _, _ = zip(*net.stages(torch.nan_to_num(holed), valid))
    filled[~hole].sum().backward(retain_graph=True)
    assert all(p.grad is None or not p.grad.any() for p in net.parameters())
    filled[hole].sum().backward()
    assert net.out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="in_channels"):
        BiharmonicResidualUNet(2, 1)


def test_srresnet_with_a_bicubic_prior_starts_at_the_physical_bicubic_upsampling():
    from scipy import ndimage

    torch.manual_seed(0)
    x = torch.randn(2, 2, 12, 12)
    g = SRResNetGenerator(2, 2, scale=2, n_blocks=1, base_channels=4, prior="bicubic",
                          zero_output=True)  # fmt: skip
    assert not g.onnx_exportable
    with torch.no_grad():
        plain = g(x).numpy()  # no stretches attached: in the units the network sees
    expected = ndimage.zoom(x[1, 0].double().numpy(), 2, order=3, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(plain[1, 0], expected, rtol=1e-5, atol=1e-6)
    # with stretches: inverse the input's (×3 here), ÷ f² per band, then the target's (−1)
    g.use_stretches(lambda a: 3 * a, lambda a: a - 1.0, [0.25, 1.0])
    with torch.no_grad():
        physical = g(x).numpy()
    np.testing.assert_allclose(physical[1, 0], 3 * expected * 0.25 - 1.0, rtol=1e-5, atol=1e-5)
    zoomed = ndimage.zoom(x[0, 1].double().numpy(), 2, order=3, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(physical[0, 1], 3 * zoomed - 1.0, rtol=1e-5, atol=1e-5)
    # the correction learns: the head is the only thing at zero
    g.train()
    loss = (g(x) - 1.0).square().mean()
    loss.backward()
    assert g.head.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="as many output as input channels"):
        SRResNetGenerator(2, 1, prior="bicubic")
