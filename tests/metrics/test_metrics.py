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
