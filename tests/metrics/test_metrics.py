import numpy as np
import pytest

from astroi2i.metrics import band_metrics, flux_ratio, mae, psnr, ssim


def test_psnr_analytic():
    target = np.zeros((16, 16))
    target[0, 0] = 10.0  # range 10
    pred = target + 0.1  # MSE 0.01
    assert psnr(pred, target) == pytest.approx(10 * np.log10(100 / 0.01))
    assert psnr(target, target) == np.inf


def test_masked_metrics_ignore_invalid_pixels(rng):
    target = rng.normal(size=(32, 32))
    pred = target.copy()
    pred[5, 5] = 1e6
    invalid = np.zeros_like(target, bool)
    invalid[5, 5] = True
    assert mae(pred, target, invalid) == 0
    assert flux_ratio(pred, target, invalid) == pytest.approx(1.0)
    assert ssim(pred, target, invalid) == pytest.approx(1.0)
    pred[7, 7] = np.nan  # NaN in the prediction counts as invalid too
    assert band_metrics(pred, target, invalid)["n_valid"] == 32 * 32 - 2


def test_ssim_drops_with_noise_and_flux_ratio(rng):
    target = np.outer(np.hanning(48), np.hanning(48)) * 10
    noisy = target + rng.normal(0, 1, target.shape)
    assert ssim(noisy, target) < 0.9 < ssim(target + 1e-3, target)
    assert flux_ratio(2 * target, target) == pytest.approx(2.0)


def test_source_flux_ratio_ignores_the_background():
    from astroi2i.metrics.image import source_flux_ratio

    target = np.zeros((16, 16))
    target[6:9, 6:9] = 10.0
    target[0, :] = -5.0  # a negative residual background: the total is 90 − 80 = 10
    pred = target.copy()
    pred[6:9, 6:9] = 12.0
    assert source_flux_ratio(pred, target) == pytest.approx(1.2)
    assert source_flux_ratio(pred, target, level=0.5) == pytest.approx(1.2)
    mask = np.zeros_like(target, bool)
    mask[6:9, 6:9] = True
    assert np.isnan(source_flux_ratio(pred, target, mask))  # nothing positive left


def test_hole_rmse_by_depth_hand_computed():
    """A 10×10 hole whose error equals each pixel's depth: rings 1–4 (96 pixels) in the first
    bin, the 2×2 centre (depth 5) in the second, nothing 9 or more pixels deep."""
    from astroi2i.metrics.inpainting import hole_depth, hole_metrics

    hole = np.zeros((20, 20), bool)
    hole[5:15, 5:15] = True
    depth = hole_depth(hole)
    assert depth[5, 5] == 1 and depth[9, 9] == 5 and depth[0, 0] == 0
    assert [(depth == d).sum() for d in range(1, 6)] == [36, 28, 20, 12, 4]
    target = np.linspace(0.0, 100.0, 400, dtype=np.float32).reshape(20, 20)
    pred = target + depth.astype(np.float32)
    m = hole_metrics(pred, target, hole)
    assert m["rmse_depth_1_4"] == pytest.approx(np.sqrt((36 + 28 * 4 + 20 * 9 + 12 * 16) / 96))
    assert m["rmse_depth_5_8"] == pytest.approx(5.0)
    assert np.isnan(m["rmse_depth_9_up"])
    # pixels missing around the scored hole push it deeper: a 2-pixel invalid frame makes
    # the hole's outer ring depth 3, so the centre (depth 7) is still in the second bin
    missing = np.zeros_like(hole)
    missing[3:17, 3:17] = True
    m = hole_metrics(pred, target, hole, missing)
    assert hole_depth(missing)[5, 5] == 3
    assert m["rmse_depth_5_8"] == pytest.approx(np.sqrt((20 * 9 + 12 * 16 + 4 * 25) / 36))
