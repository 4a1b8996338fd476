"""Noise fidelity and galaxy properties of a prediction against its target."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from astroi2i.metrics.galaxy import background_mask, galaxy_properties, noise_fidelity


@pytest.fixture
def galaxy(rng):
    y, x = np.mgrid[0:80, 0:80].astype(float)
    r2 = ((x - 40) / 6.0) ** 2 + ((y - 40) / 3.0) ** 2  # elongated: axis ratio 0.5
    clean = 50.0 * np.exp(-0.5 * r2)
    return clean, clean + rng.normal(0, 0.5, clean.shape)


def test_identical_images_have_perfect_scores(galaxy):
    _, target = galaxy
    background = background_mask(target)
    assert 0.5 < background.mean() < 0.99 and not background[40, 40]
    assert noise_fidelity(target, target, background) == {
        "bg_sigma_ratio": 1.0, "bg_w1": 0.0, "psd_dex": 0.0}  # fmt: skip
    props = galaxy_properties(target, target)
    assert props["flux_err"] == 0 and props["r50_err"] == 0 and props["ell_err"] == 0
    assert props["ellipticity"] == pytest.approx(0.5, abs=0.08)


def test_noise_level_and_spectrum_are_measured(galaxy, rng):
    clean, target = galaxy
    background = background_mask(target)
    smooth = noise_fidelity(clean, target, background)
    assert smooth["bg_sigma_ratio"] < 0.01 and smooth["psd_dex"] > 2.5  # orders of magnitude
    louder = noise_fidelity(clean + rng.normal(0, 1.0, clean.shape), target, background)
    assert louder["bg_sigma_ratio"] == pytest.approx(2.0, rel=0.1)
    assert louder["psd_dex"] == pytest.approx(np.log10(4.0), abs=0.15)  # power ∝ σ²
    assert louder["bg_w1"] > 0.3
    # correlated noise of the same variance: the histogram matches, the spectrum does not
    white = rng.normal(0, 1.0, (80, 80))
    red = gaussian_filter(white, 1.5)
    red *= white.std() / red.std()
    correlated = noise_fidelity(clean + 0.5 * red, target, background)
    assert correlated["bg_sigma_ratio"] == pytest.approx(1.0, rel=0.15)
    assert correlated["psd_dex"] > 0.5


def test_galaxy_errors_follow_flux_and_size_changes(galaxy):
    clean, target = galaxy
    brighter = galaxy_properties(target * 1.2, target)
    assert brighter["flux_err"] == pytest.approx(0.2, abs=0.01)
    assert brighter["r50_err"] < 0.02
    blurred = galaxy_properties(gaussian_filter(target, 3.0), target)
    assert blurred["r50_err"] > 0.1 and blurred["ell_err"] > 0.05


def test_no_source_gives_nan(rng):
    noise = rng.normal(0, 1, (40, 40))
    assert np.isnan(galaxy_properties(noise, noise)["flux_err"])
