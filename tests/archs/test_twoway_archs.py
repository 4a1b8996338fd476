"""Networks of the two-way translators: output grids of any size, gradient flow, latent codes."""

import numpy as np
import pytest
import torch

from astroi2i.archs.twoway import (
    ConvAutoencoder,
    LatentEncoder,
    NoiseEmulator,
    RegridResnetGenerator,
    ScaleGenerator,
    resample,
)


@pytest.mark.parametrize("upsampling", ["resize", "pixel_shuffle"])
@pytest.mark.parametrize(("size_in", "size_out"), [(16, 34), (34, 16), (64, 136), (136, 64)])
def test_scale_generator_maps_between_grid_sizes(upsampling, size_in, size_out):
    g = ScaleGenerator(3, 3, base_channels=4, n_blocks=1, upsampling=upsampling, kernel_size=3)
    x = torch.randn(2, 3, size_in, size_in, requires_grad=True)
    y = g(x, (size_out, size_out))
    assert y.shape == (2, 3, size_out, size_out)
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is not None for p in g.parameters())


def test_residual_generator_starts_near_the_resampled_input():
    g = ScaleGenerator(2, 2, base_channels=4, n_blocks=1)
    torch.nn.init.zeros_(g.head[-1].weight)
    torch.nn.init.zeros_(g.head[-1].bias)
    x = torch.randn(1, 2, 16, 16)
    torch.testing.assert_close(g(x, (34, 34)), resample(x, (34, 34)))


def test_latent_generator_needs_and_uses_its_code():
    g = ScaleGenerator(2, 2, base_channels=4, n_blocks=1, latent_dim=3)
    x = torch.randn(2, 2, 16, 16)
    with pytest.raises(ValueError, match="latent code of 3"):
        g(x, (34, 34))
    y1, y2 = g(x, (34, 34), torch.zeros(2, 3)), g(x, (34, 34), torch.ones(2, 3))
    assert y1.shape == (2, 2, 34, 34) and not torch.allclose(y1, y2)


def test_residual_needs_equal_channels():
    with pytest.raises(ValueError, match="residual needs as many"):
        ScaleGenerator(3, 5)
    assert ScaleGenerator(3, 5, residual=False)(torch.randn(1, 3, 8, 8), (17, 17)).shape[1] == 5


def test_regrid_resnet_outputs_any_size():
    g = RegridResnetGenerator(3, 2, n_blocks=2, base_channels=4)
    for size in [(34, 34), (16, 16), (17, 30)]:
        assert g(torch.randn(1, 3, 16, 16), size).shape == (1, 2, *size)


def test_autoencoder_emulator_and_latent_encoder_shapes():
    x = torch.randn(2, 3, 34, 34, requires_grad=True)
    ae = ConvAutoencoder(3, base_channels=4, depth=2, bottleneck_channels=2)
    assert ae(x).shape == x.shape
    ne = NoiseEmulator(3, seed_channels=2, base_channels=4)
    assert ne(x, torch.randn(2, 2, 34, 34)).shape == x.shape
    e = LatentEncoder(5, latent_dim=4, base_channels=4)
    z = e(torch.randn(2, 2, 16, 16), x)
    assert z.shape == (2, 4)
    z.sum().backward()
    assert x.grad is not None


def test_resample_antialiases_when_shrinking():
    checker = (torch.arange(136)[:, None] + torch.arange(136)[None]) % 2
    small = resample(checker.float()[None, None], (64, 64))
    assert float(small.std()) < 0.05  # averaged to ~0.5, not aliased into a pattern
    torch.testing.assert_close(float(small.mean()), 0.5, atol=1e-3, rtol=0)


def test_residual_filter_starts_as_the_identity_and_learns():
    g = ScaleGenerator(2, 2, base_channels=4, n_blocks=1, residual_filter=5)
    torch.nn.init.zeros_(g.head[-1].weight)
    torch.nn.init.zeros_(g.head[-1].bias)
    x = torch.randn(1, 2, 16, 16)
    torch.testing.assert_close(g(x, (34, 34)), resample(x, (34, 34)))
    # a few steps towards a smoothed, halved target move the skip filter off the identity
    opt = torch.optim.Adam(g.skip.parameters(), lr=0.05)
    target = 0.5 * torch.nn.functional.avg_pool2d(resample(x, (34, 34)), 3, 1, 1)
    first = None
    for _ in range(30):
        loss = (g(x, (34, 34)) - target).square().mean()
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * first


def test_noise_emulator_starts_silent():
    ne = NoiseEmulator(3, seed_channels=2, base_channels=4)
    clean = torch.randn(2, 3, 16, 16)
    assert torch.equal(ne(clean, torch.randn(2, 2, 16, 16)), torch.zeros_like(clean))
    assert "noise_sigma" not in ne.state_dict()  # its checkpoints hold what they always held
    ne(clean, torch.randn(2, 2, 16, 16)).sum().backward()
    assert ne.net[-1].weight.grad.abs().sum() > 0  # and can start learning at once


def test_anchored_noise_emulator_has_the_set_level_at_any_texture():
    """anchor=True: white noise of exactly the set σ per band at initialisation (the extra
    seed maps are that white noise), and still σ after the texture network has changed."""
    ne = NoiseEmulator(3, seed_channels=2, base_channels=4, anchor=True)
    assert ne.seed_channels == 5
    sigma = torch.tensor([0.01, 0.2, 3.0])
    ne.set_noise_level(sigma)
    clean = torch.randn(4, 3, 64, 64)
    seed = torch.randn(4, 5, 64, 64)
    out = ne(clean, seed)
    std = out.std(dim=(-2, -1), unbiased=False)
    torch.testing.assert_close(std, sigma.expand(4, 3), rtol=1e-5, atol=0)
    white = seed[:, :3] - seed[:, :3].mean(dim=(-2, -1), keepdim=True)
    white = white / white.std(dim=(-2, -1), unbiased=False, keepdim=True)
    torch.testing.assert_close(out / sigma.view(1, 3, 1, 1), white)
    with torch.no_grad():  # a texture learned by the adversarial game leaves the level alone
        for p in ne.net.parameters():
            p.normal_(0, 0.3)
    shaped = ne(clean, seed)
    assert not torch.allclose(shaped, out)
    torch.testing.assert_close(shaped.std(dim=(-2, -1), unbiased=False), sigma.expand(4, 3))
    assert "noise_sigma" in ne.state_dict()  # the level travels with the checkpoint
    with pytest.raises(ValueError, match="3 finite"):
        ne.set_noise_level([1.0, 2.0])


def test_anchored_scale_generator_starts_at_the_regrid_baseline():
    """anchor=True: in the target's stretched units the untrained generator is the source
    taken to physical units, resampled, scaled by the area × unit factor and stretched (Lin
    et al.'s signed square roots, CFHT in units of 1000); gradients reach the input through
    that path (cycle terms train both generators)."""
    from astroi2i.data.stretches import SignedSqrtStretch

    src, dst = SignedSqrtStretch(flux_scale=1.0), SignedSqrtStretch(flux_scale=1000.0)
    g = ScaleGenerator(2, 2, base_channels=4, n_blocks=1, kernel_size=3, residual_filter=5,
                       anchor=True)  # fmt: skip
    factor = (0.187 / 0.396) ** 2 * 1000.0
    g.use_baseline(src.to_dict(), dst.to_dict(), factor)
    phys = torch.rand(1, 2, 64, 64, dtype=torch.float64) * 5 - 0.5  # nanomaggies, some < 0
    x = torch.from_numpy(src.forward(phys.numpy())).float().requires_grad_(True)
    y = g(x, (136, 136))
    expected = resample(phys.float(), (136, 136)) * factor
    out = torch.from_numpy(dst.inverse(y.detach().double().numpy()))
    torch.testing.assert_close(out.float(), expected, rtol=1e-4, atol=1e-3)
    y.sum().backward()
    assert x.grad.abs().sum() > 0
    # trained (a non-zero head): a correction weight of 0 in band 1 gives the baseline back
    # there, 0.5 in band 2 half the correction
    torch.nn.init.normal_(g.head[-1].weight, std=0.3)
    with torch.no_grad():
        full = g(x, (136, 136))
        g.set_correction_weight([0.0, 0.5])
        weighted = g(x, (136, 136))
    assert (full - y.detach()).abs().max() > 1e-3
    torch.testing.assert_close(weighted[:, 0], y.detach()[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(weighted[:, 1], (y.detach() + 0.5 * (full - y.detach()))[:, 1],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    # a processed input (the noise GAN's autoencoder output) with the raw one beside it: in a
    # band weighed against the raw input, w = 0 is the raw input's baseline and w = 1 the
    # translator as trained; in the other band the weight weighs the correction as before
    processed = (x.detach() * 0.9).requires_grad_(False)
    with torch.no_grad():
        raw_base = g(x, (136, 136), raw=x)  # no raw_reference set: the raw input is unused
        g.set_correction_weight(None)
        trained = g(processed, (136, 136))
        g.raw_reference = [True, False]
        assert torch.equal(g(processed, (136, 136), raw=x), trained)  # w = 1 while training
        g.set_correction_weight([0.0, 0.5])
        mixed = g(processed, (136, 136), raw=x)
        g.set_correction_weight([0.3, 0.5])
        partway = g(processed, (136, 136), raw=x)
        own = g(processed, (136, 136))
    torch.testing.assert_close(raw_base, weighted)
    torch.testing.assert_close(mixed[:, 0], y.detach()[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(mixed[:, 1], own[:, 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(partway[:, 0], (y.detach() + 0.3 * (trained - y.detach()))[:, 0],
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    assert (own[:, 0] - mixed[:, 0]).abs().max() > 1e-3  # the processed input's own baseline
    with pytest.raises(RuntimeError, match="use_baseline"):
        ScaleGenerator(2, 2, base_channels=4, n_blocks=1, anchor=True)(x, (136, 136))
    with pytest.raises(ValueError, match="torch"):
        g.use_baseline({"type": "AsinhStretch"}, dst.to_dict(), 1.0)


def test_smoothing_autoencoder_starts_at_the_gaussian_smoothing():
    """smooth=σ: the untrained autoencoder is a Gaussian smoothing (scipy's, mirrored edges,
    truncated at 3σ); its bottlenecked network starts at zero and is where learning starts."""
    from scipy import ndimage

    ae = ConvAutoencoder(3, base_channels=4, depth=2, bottleneck_channels=2, smooth=1.0)
    x = torch.randn(2, 3, 20, 24, requires_grad=True)
    out = ae(x)
    expected = ndimage.gaussian_filter(x.detach().numpy(), (0, 0, 1.0, 1.0), mode="mirror",
                                       truncate=3.0)  # fmt: skip
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=0, atol=1e-5)
    out.sum().backward()
    assert ae.head.weight.grad.abs().sum() > 0
    plain = ConvAutoencoder(3, base_channels=4, depth=2, bottleneck_channels=2)
    assert not torch.allclose(plain(x), out)  # smooth=0: Lin et al.'s autoencoder as before
    with pytest.raises(ValueError, match="smooth"):
        ConvAutoencoder(3, smooth=-1.0)


def test_a_filtered_anchor_starts_at_the_radially_filtered_regrid():
    """anchor_filter: the untrained generator is the regrid reference filtered in physical
    units with the given radial gain (the torch filter equals the numpy one), and it refuses
    to run without one."""
    from astroi2i.archs.twoway import radial_filter_torch
    from astroi2i.baselines.radial_filter import radial_filter
    from astroi2i.data.stretches import SignedSqrtStretch

    src, dst = SignedSqrtStretch(flux_scale=1.0), SignedSqrtStretch(flux_scale=1000.0)
    g = ScaleGenerator(2, 2, base_channels=4, n_blocks=1, kernel_size=3, anchor=True,
                       anchor_filter=True)  # fmt: skip
    with pytest.raises(ValueError, match="no regrid filter was fitted"):
        g.use_baseline(src.to_dict(), dst.to_dict(), 1.0)
    transfer = {"k": [0.0, 0.1, 0.3, 0.71], "gain": [[1.0, 0.8, 0.2, 0.0], [1.0, 1.3, 1.0, 0.5]],
                "interpolation": "k2"}  # fmt: skip
    factor = (0.187 / 0.396) ** 2 * 1000.0
    g.use_baseline(src.to_dict(), dst.to_dict(), factor, transfer)
    phys = torch.rand(1, 2, 64, 64, dtype=torch.float64) * 5 - 0.5
    x = torch.from_numpy(src.forward(phys.numpy())).float()
    with torch.no_grad():
        y = g(x, (136, 136))
    regrid = (resample(phys.float(), (136, 136)) * factor).numpy()[0]
    expected = radial_filter(regrid, transfer["k"], np.asarray(transfer["gain"]))
    out = dst.inverse(y.double().numpy())[0]
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=2e-2)
    # the torch filter is the numpy one, bit for bit in float64, on an odd-sized grid
    z = np.random.default_rng(0).normal(size=(2, 2, 37, 50))
    torch_out = radial_filter_torch(torch.from_numpy(z), *(torch.as_tensor(v, dtype=torch.float64)
                                    for v in (transfer["k"], transfer["gain"])))  # fmt: skip
    for i in range(2):
        np.testing.assert_allclose(torch_out[i].numpy(),
                                   radial_filter(z[i], transfer["k"], np.asarray(transfer["gain"])),
                                   rtol=0, atol=1e-12)  # fmt: skip
    with pytest.raises(ValueError, match="needs anchor"):
        ScaleGenerator(2, 2, anchor_filter=True)
