import numpy as np
import pytest
import torch

from astroi2i.data.tiling import pad_to_multiple, predict_tiled, tile_starts, tile_window


def test_tile_starts_cover_and_end_at_the_edge():
    assert tile_starts(100, 128, 16) == [0]
    starts = tile_starts(300, 64, 16)
    assert starts[0] == 0 and starts[-1] == 300 - 64
    assert all(b - a <= 48 for a, b in zip(starts, starts[1:]))


def test_window_is_one_on_image_borders_and_zero_at_inner_margins():
    w = tile_window((16, 16), 8, (False, True, False, True))
    assert w[0, 0] == 1.0 and w[-1, -1] == 0.0 and w[8, 0] == 1.0


def test_pointwise_model_equals_whole_image(rng):
    x = rng.normal(size=(3, 150, 97)).astype("f4")
    model = torch.nn.Conv2d(3, 2, 1)
    whole = model(torch.from_numpy(x)[None])[0].detach().numpy()
    tiled = predict_tiled(model, x, tile=32, overlap=8, stride=8)
    assert tiled.shape == (2, 150, 97)
    np.testing.assert_allclose(tiled, whole, atol=1e-6)


def test_linear_conv_equals_whole_image_inside_the_margin(rng):
    x = rng.normal(size=(1, 130, 141)).astype("f4")
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1, 1, 5, padding=2)  # receptive radius 2 ≤ overlap // 4
    whole = model(torch.from_numpy(x)[None])[0].detach().numpy()
    tiled = predict_tiled(model, x, tile=40, overlap=12)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_upscaling_model(rng):
    x = rng.normal(size=(1, 50, 70)).astype("f4")
    model = torch.nn.Upsample(scale_factor=2, mode="nearest")
    tiled = predict_tiled(model, x, tile=16, overlap=4, scale=2)
    np.testing.assert_allclose(tiled, np.kron(x, np.ones((1, 2, 2))), atol=1e-6)


def test_pad_to_multiple():
    a = np.arange(2 * 5 * 7, dtype="f4").reshape(2, 5, 7)
    p, shape = pad_to_multiple(a, 4)
    assert p.shape == (2, 8, 8) and shape == (5, 7)
    np.testing.assert_array_equal(p[:, :5, :7], a)
    with pytest.raises(ValueError, match="expects"):
        predict_tiled(torch.nn.Identity(), a[0])
