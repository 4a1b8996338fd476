"""The smooth background between sources: sources kept, the sky between them smoothed, the
choice made by PSNR on held-out pairs."""

import numpy as np
import pytest
from scipy import ndimage

from astroi2i.baselines.background import smooth_background, source_mask
from astroi2i.workflows.twoway_anchors import choose_background


def _scene(seed=0, noise=0.05, shape=(96, 96)):
    """(truth, noisy): one Gaussian galaxy (peak 5) on a flat sky of 1, plus correlated noise
    (white noise smoothed by 1.5 px, rescaled to ``noise``), two bands."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[: shape[0], : shape[1]]
    galaxy = 5.0 * np.exp(-((x - 40.0) ** 2 + (y - 50.0) ** 2) / (2 * 3.0**2))
    truth = np.stack([1.0 + galaxy, 1.0 + 0.5 * galaxy])
    blobs = ndimage.gaussian_filter(rng.normal(size=(2, *shape)), (0, 1.5, 1.5))
    return truth, truth + noise * blobs / blobs.std()


def test_the_sky_between_sources_is_smoothed_and_the_source_kept():
    truth, noisy = _scene()
    out = smooth_background(noisy, nsigma=3.0, scale=8.0)
    assert out.dtype == np.float32 and out.shape == noisy.shape
    mask = source_mask(noisy[0], 3.0)
    assert mask[50, 40] and not mask[5, 5] and mask.mean() < 0.1  # the galaxy, only
    far = ~ndimage.binary_dilation(mask, iterations=6)
    # between sources: the noise is mostly gone, the sky level kept
    before, after = (np.std(img[0][far] - truth[0][far]) for img in (noisy, out))
    assert after < 0.3 * before
    assert np.mean(out[0][far]) == pytest.approx(1.0, abs=0.01)
    # on the source: the image as it was (the inner source, away from the soft edge)
    core = np.hypot(*np.mgrid[:96, :96] - np.array([50, 40])[:, None, None]) < 3
    np.testing.assert_allclose(out[0][core], noisy[0][core], rtol=1e-3)
    # the galaxy's flux (sky subtracted, within 12 px) is kept to 2 %
    aperture = np.hypot(*np.mgrid[:96, :96] - np.array([50, 40])[:, None, None]) < 12
    flux = [np.sum(img[0][aperture] - 1.0) for img in (truth, out)]
    assert flux[1] == pytest.approx(flux[0], rel=0.02)


def test_bands_nan_and_an_empty_sky():
    truth, noisy = _scene(seed=1)
    noisy[1, :4, :4] = np.nan
    out = smooth_background(noisy, nsigma=[3.0, 2.0], scale=[8.0, 4.0], bands=[False, True])
    np.testing.assert_array_equal(out[0], noisy[0].astype(np.float32))  # band 0 left alone
    assert np.isnan(out[1, :4, :4]).all() and np.isfinite(out[1, 4:, 4:]).all()
    # no source at all: the whole band is the smoothed sky
    rng = np.random.default_rng(2)
    flat = 1.0 + 0.01 * rng.normal(size=(1, 64, 64))
    smooth = smooth_background(flat, nsigma=5.0, scale=8.0)
    assert not source_mask(flat[0], 5.0).any()
    assert np.std(smooth) < 0.2 * np.std(flat)


def test_the_choice_smooths_only_where_it_scores_higher():
    """Against the noise-free truths the smoothing wins and is chosen; against the noisy
    images themselves leaving them as they are scores infinitely well and is kept."""
    scenes = [_scene(seed=s) for s in range(3)]
    images = [noisy for _, noisy in scenes]
    chosen = choose_background(images, [truth for truth, _ in scenes])
    assert chosen["on"] == [True, True] and chosen["n_pairs"] == 3
    assert all(on > off for on, off in zip(chosen["psnr_on"], chosen["psnr_off"]))
    assert all(n in (2.0, 3.0, 5.0) for n in chosen["nsigma"])
    kept = choose_background(images, images)
    assert kept["on"] == [False, False]
