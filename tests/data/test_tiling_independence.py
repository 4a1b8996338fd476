"""Predictions that do not depend on how the image is cut: with the model's receptive radius
kept out of every blend, three tile sizes and the whole image agree."""

import numpy as np
import pytest
import torch
from astropy.io import fits

from astroi2i.archs.unet import UNetGenerator
from astroi2i.data.tiling import predict_streaming, receptive_radius


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_unet_receptive_radius_matches_the_gradient(depth):
    net = UNetGenerator(2, 1, depth=depth, base_channels=4, dropout=0.0)
    stated = net.receptive_radius
    measured = receptive_radius(torch.nn.Sequential(net), 2, net.stride)  # no attribute: measure
    assert measured == stated == 2 ** (depth + 1) - 1


def test_an_untrained_zero_output_generator_shows_its_whole_reach():
    """A generator whose output layer starts at zero (``zero_output``, as every anchored one
    does) has no gradient to its input before training; the reach measured at training start
    must still be the architecture's, as the super-resolution generator's was not (0 px)."""
    from astroi2i.archs.srresnet import SRResNetGenerator

    torch.manual_seed(0)
    net = SRResNetGenerator(1, 1, scale=2, n_blocks=2, base_channels=8, zero_output=True)
    assert not net.head.weight.any()  # as built: the output layer is zero
    fresh = receptive_radius(torch.nn.Sequential(net), 1, 2)  # no attribute: measured
    torch.nn.init.normal_(net.head.weight, std=0.1)  # as after training
    assert fresh == receptive_radius(torch.nn.Sequential(net), 1, 2) > 4  # the stem alone: 4
    assert not torch.equal(net.head.weight, torch.zeros_like(net.head.weight))


@pytest.mark.parametrize("upsample", ["bilinear", "pixelshuffle"])
@pytest.mark.parametrize("scale", [2, 4])
def test_super_resolution_radius_bounds_the_gradient_by_one_pixel(scale, upsample):
    from astroi2i.archs.srresnet import SRResNetGenerator

    for n_blocks in (1, 3):
        net = SRResNetGenerator(1, 1, scale=scale, n_blocks=n_blocks, base_channels=4,
                                upsample=upsample).eval()  # fmt: skip
        measured = receptive_radius(torch.nn.Sequential(net), 1, 1)
        assert measured <= net.receptive_radius <= measured + 1


@pytest.mark.slow
@pytest.mark.parametrize("shape", [(200, 176), (203, 181)])
def test_three_tile_sizes_give_one_image(tiny_checkpoint, tmp_path, shape):
    """Tolerance: 1e-4 of the output's range (float32 blending of identical predictions).
    (203, 181) is not a multiple of the stride (8) on either axis: the far edges are padded
    to it, so the last tiles start on the stride's grid too; shifted by a fraction of the
    stride, as they were before 2026-12-07, the σ network pooled on another grid there and σ
    changed with the tiling."""
    from astroi2i.io import read_image
    from astroi2i.workflows.model import describe
    from astroi2i.workflows.translate import translate
    from tests.conftest import gaussian_sources, make_wcs, write_fits

    desc = describe(tiny_checkpoint.checkpoint)
    assert desc.receptive_radius == 15 + 48  # depth-3 U-Net, then the σ network on its output
    rng = np.random.default_rng(4)
    wcs = make_wcs("tan", shape)
    paths = []
    for band in ("g", "r"):
        path = tmp_path / f"{band}.fits"
        write_fits(path, gaussian_sources(shape, rng, n=12), wcs)
        paths.append(path)
    outs, sigmas = {}, {}
    for tile in (64, 96, 256):  # 256: one tile, the whole image
        out = translate(tiny_checkpoint.checkpoint, paths, tmp_path / f"t{tile}.fits", tile=tile)
        outs[tile] = read_image(out).data
        sigmas[tile] = fits.getdata(out, "UNCERT")
    span = np.nanmax(outs[256]) - np.nanmin(outs[256])
    sigma_span = np.nanmax(sigmas[256]) - np.nanmin(sigmas[256])
    assert sigma_span > 0
    for tile in (64, 96):
        np.testing.assert_allclose(outs[tile], outs[256], rtol=0, atol=1e-4 * span)
        # σ is blended like the prediction: the same agreement
        np.testing.assert_allclose(sigmas[tile], sigmas[256], rtol=0, atol=1e-4 * sigma_span)


def test_margin_makes_blending_exact_for_a_local_model():
    """A model with a small receptive field, tiled with margin = its radius, equals the
    whole-image result to float precision, whatever the tile."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 5, padding=2), torch.nn.ReLU(),
                              torch.nn.Conv2d(4, 1, 5, padding=2)).eval()  # fmt: skip
    radius = receptive_radius(net, 1)
    assert radius == 4
    image = np.random.default_rng(1).normal(size=(1, 90, 70)).astype(np.float32)
    with torch.no_grad():
        whole = net(torch.from_numpy(image)[None])[0].numpy()
    for tile in (24, 40):
        out = np.zeros_like(whole)

        def write(y0, block, out=out):
            out[:, y0 : y0 + block.shape[1]] = block

        predict_streaming(net, lambda a, b: image[:, a:b], write, (90, 70), tile=tile,
                          overlap=2 * radius + 4, margin=radius)  # fmt: skip
        np.testing.assert_allclose(out, whole, atol=1e-5)


def test_default_tiles_are_cheap_and_bounded_in_memory(caplog):
    """Tiles of four times the overlap (256–1024 px); a radius that would need larger ones
    (a deep U-Net: 3840-px tiles) falls back to the recipe's tiling, with a warning for an
    image that is then cut into tiles, unless a tile is asked for."""
    from astroi2i.description import ModelDescription
    from astroi2i.workflows.translate_checks import tiling_for, warn_if_tiling_matters

    def desc(radius, stride):
        recipe = {"model": {}, "data": {"crop_size": 64}, "inference": {"tile": 128, "overlap": 32}}
        return ModelDescription(recipe=recipe, input_bands=("g",), target_bands=("r",),
                                stretches={}, stride=stride, receptive_radius=radius)  # fmt: skip

    assert tiling_for(desc(31, 16), None, None) == (384, 96, 31)  # overlap 2R + 32, tile 4×
    assert tiling_for(desc(7, 4), None, None) == (256, 32, 7)  # at least 256
    assert tiling_for(desc(100, 8), None, None) == (864, 216, 100)
    assert tiling_for(desc(150, 8), None, None) == (1024, 320, 150)  # at most 1024
    assert not caplog.records
    deep = desc(559, 256)
    assert tiling_for(deep, None, None) == (128, 32, None)
    warn_if_tiling_matters(deep, (128, 120), 128, None, "small.fits")  # one tile: exact
    assert not caplog.records
    warn_if_tiling_matters(deep, (300, 120), 128, None, "big.fits")
    assert "big.fits" in caplog.text and "needs tiles of 3840 px" in caplog.text
    assert "--tile 3840" in caplog.text
    assert tiling_for(deep, 3840, None) == (3840, 1792, 559)  # asked for: exact
