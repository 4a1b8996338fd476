"""Emulated noise shaped to a measured spectrum: the gain by hand, the filter's response
checked on white noise, and the fitted gain bringing a too-noisy sum back to the survey's σ and
power spectrum."""

import numpy as np
import pytest

from astroi2i.baselines.noise_spectrum import GAIN_FLOOR, spectral_gain
from astroi2i.baselines.radial_filter import radial_filter
from astroi2i.metrics.galaxy import noise_fidelity, radial_power


def test_the_gain_is_the_missing_power_over_the_emulated_power():
    p_t, p_l, p_e = np.array([4.0, 4.0, 4.0]), np.array([3.0, 1.0, 5.0]), np.array([1.0, 2.0, 4.0])
    gain = spectral_gain(p_t, p_l, p_e)
    # √((4 − 3)/1), √((4 − 1)/2), and where the translation already has more than the survey:
    # the floor's share of the survey's power
    np.testing.assert_allclose(gain, [1.0, np.sqrt(1.5), np.sqrt(GAIN_FLOOR * 4.0 / 4.0)])
    # no emulated power, or a NaN bin: left alone
    np.testing.assert_array_equal(spectral_gain([1.0, np.nan], [0.0, 0.0], [0.0, 1.0]), [1, 1])


def test_the_radial_filter_gives_white_noise_the_given_radial_response():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 1.0, (2, 128, 128)).astype(np.float32)
    k = np.array([0.0, 0.5 * np.sqrt(2)])
    # band 0: gain 1 everywhere (unchanged); band 1: a ramp in k² from 2 at k = 0 to 0 at the
    # corner
    out = radial_filter(noise, k, np.array([[1.0, 1.0], [2.0, 0.0]]))
    assert out.dtype == np.float32 and out.shape == noise.shape
    np.testing.assert_allclose(out[0], noise[0], atol=1e-5)
    everywhere = np.ones((128, 128), bool)
    kc, p_in = radial_power(noise[1], everywhere)
    _, p_out = radial_power(out[1], everywhere)
    want = np.interp(kc**2, k**2, [2.0, 0.0]) ** 2
    np.testing.assert_allclose(p_out / p_in, want, rtol=0.1)  # bins average a varying gain
    # a NaN pixel stays NaN and does not spread
    noise[1, 5, 5] = np.nan
    out = radial_filter(noise, k, np.array([[1.0, 1.0], [2.0, 0.0]]))
    assert np.isnan(out[1, 5, 5]) and np.isfinite(out[1]).sum() == 128 * 128 - 1


def test_the_fitted_gain_brings_an_over_noisy_sum_back_to_the_survey():
    """Survey noise: white, σ = 1. The noise-free translation keeps correlated noise of its own
    (white noise of σ 0.9 smoothed over 2 × 2 pixels: power at low k), and the emulator adds
    white noise of the survey's σ. Without shaping the sum is too noisy; with the gain fitted
    from the three spectra, its σ and spectrum match the survey's."""
    from scipy import ndimage

    rng = np.random.default_rng(1)
    shape, everywhere = (96, 96), np.ones((96, 96), bool)

    def left_over():
        return ndimage.uniform_filter(rng.normal(0.0, 0.9, shape), 2, mode="wrap")

    spectra = np.zeros((3, 11))
    for _ in range(20):  # the fit: spectra averaged over stamps, as on validation pairs
        for i, image in enumerate((rng.normal(0, 1, shape), left_over(), rng.normal(0, 1, shape))):
            spectra[i] += radial_power(image, everywhere)[1] / 20
    k = radial_power(np.zeros(shape), everywhere)[0]
    gain = spectral_gain(*spectra)
    assert gain[-1] > gain[0]  # less noise is needed where the left-over noise sits (low k)
    before, after = [], []
    for _ in range(10):  # new stamps
        survey, clean, emulated = rng.normal(0, 1, shape), left_over(), rng.normal(0, 1, shape)
        for store, noise in (
            (before, emulated),
            (after, radial_filter(emulated[None], k, gain[None])[0]),
        ):
            store.append(noise_fidelity(clean + noise, survey, everywhere))
    ratio = [np.mean([m["bg_sigma_ratio"] for m in r]) for r in (before, after)]
    psd = [np.mean([m["psd_dex"] for m in r]) for r in (before, after)]
    assert ratio[0] > 1.07 and ratio[1] == pytest.approx(1.0, abs=0.05)
    assert psd[1] < 0.05 < psd[0]
