"""The fitted radial transfer function: a known Gaussian blur recovered from image pairs, with
and without independent noise on the target, and fluxes kept."""

import numpy as np
import pytest
from scipy import ndimage

from astroi2i.baselines.radial_filter import fitted_transfer, radial_filter, transfer_sums


@pytest.mark.parametrize("noise", [0.0, 0.5])
def test_the_fitted_transfer_is_the_blur_between_the_images(noise):
    """t = x blurred by a Gaussian of σ = 1.5 px (+ independent noise): the fitted H(k) is
    the Gaussian's transfer function exp(−2π²σ²k²) where it has power, and H(0) = 1."""
    rng = np.random.default_rng(0)
    sums = 0.0
    for _ in range(30):
        x = rng.normal(size=(64, 64))
        t = ndimage.gaussian_filter(x, 1.5, mode="wrap") + rng.normal(0, noise, (64, 64))
        sums = sums + np.array([transfer_sums(x, t)])
    k, gains = fitted_transfer(sums[:, 0], sums[:, 1])
    assert k[0] == 0.0 and gains[0][0] == 1.0 and len(k) == 17
    want = np.exp(-2 * np.pi**2 * 1.5**2 * np.asarray(k[1:]) ** 2)
    # bins average the Gaussian over their width: compare where it is not yet negligible
    strong = want > 0.05
    np.testing.assert_allclose(np.asarray(gains[0][1:])[strong], want[strong], atol=0.06)
    # applied to a new image it gives the blur back (up to the noise and the binning)
    x = rng.normal(size=(1, 64, 64))
    filtered = radial_filter(x, k, np.asarray(gains))
    blurred = ndimage.gaussian_filter(x[0], 1.5, mode="wrap")
    assert np.std(filtered[0] - blurred) < 0.1 * np.std(x)
    # fluxes are kept: a constant image passes unchanged
    flat = np.full((1, 32, 48), 7.0)
    np.testing.assert_allclose(radial_filter(flat, k, np.asarray(gains)), flat, rtol=1e-12)


def test_nan_in_the_target_and_empty_bins_are_handled():
    x = np.random.default_rng(1).normal(size=(16, 16))
    t = x.copy()
    t[3, 4] = np.nan
    cross, power, _ = transfer_sums(x, t)
    assert np.isfinite(cross).all() and np.isfinite(power).all()
    power[5] = 0.0  # an empty bin takes its neighbours' value
    k, gains = fitted_transfer(cross[None], power[None])
    assert np.isfinite(gains).all() and gains[0][6] == pytest.approx(
        0.5 * (gains[0][5] + gains[0][7]), abs=2e-6
    )


def test_the_fitted_filter_is_plain_python_numbers():
    """It is stored in checkpoints, which load only tensors and plain containers."""
    cross, power, moment = transfer_sums(np.eye(8), np.eye(8))
    k, gains = fitted_transfer(cross[None], power[None], moment[None])
    assert all(type(v) is float for v in k) and all(type(v) is float for v in gains[0])


def test_each_gain_sits_where_it_was_measured_and_a_galaxy_keeps_its_aperture_flux():
    """Compact sources (their power at the low end of every bin) blurred by a Gaussian: the
    gains placed at the power-weighted radius of their bin follow exp(−2π²σ²k²) there, and
    the filtered image keeps a new source's flux in a fixed aperture to 0.5 %; placed at the
    bin centres they damp the lowest frequencies too much and lose more of it."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:64, :64]

    def galaxy(x0, y0, r):
        return np.exp(-np.hypot(xx - x0, yy - y0) / r)

    sums = 0.0
    for _ in range(20):
        x = galaxy(*rng.uniform(28, 36, 2), rng.uniform(2, 4))
        sums = sums + np.array([transfer_sums(x, ndimage.gaussian_filter(x, 2.0, mode="wrap"))])
    k, gains = fitted_transfer(sums[:, 0], sums[:, 1], sums[:, 2])
    centre_k, centre_gains = fitted_transfer(sums[:, 0], sums[:, 1])
    assert k[1] != centre_k[1] and np.all(np.diff(k) > 0)
    want = np.exp(-2 * np.pi**2 * 2.0**2 * np.asarray(k[1:4]) ** 2)
    np.testing.assert_allclose(gains[0][1:4], want, atol=0.01)
    x = galaxy(32.0, 31.0, 3.0)
    truth = ndimage.gaussian_filter(x, 2.0, mode="wrap")
    aperture = np.hypot(xx - 32, yy - 31) < 12
    flux = {
        name: radial_filter(x[None], kk, np.asarray(g))[0][aperture].sum()
        for name, kk, g in (("weighted", k, gains), ("centres", centre_k, centre_gains))
    }
    assert flux["weighted"] == pytest.approx(truth[aperture].sum(), rel=0.005)
    assert abs(flux["centres"] / truth[aperture].sum() - 1) > abs(
        flux["weighted"] / truth[aperture].sum() - 1
    )


def test_a_filter_stored_before_the_k2_interpolation_is_applied_as_it_was():
    """Stored filters without an ``interpolation`` key (models trained before 2026-12-07) keep
    their gains interpolated linearly in |k|, so those models translate as they did; new fits
    say "k2"; an unknown mode is refused."""
    from astroi2i.baselines.radial_filter import _radius, stored_filter

    x = np.random.default_rng(4).normal(size=(1, 32, 40))
    old = {"k": [0.0, 0.3, 0.71], "gain": [[1.0, 0.5, 0.0]]}
    response = np.interp(_radius(32, 40), old["k"], old["gain"][0])
    by_hand = np.fft.irfft2(np.fft.rfft2(x[0]) * response, s=(32, 40))
    np.testing.assert_allclose(radial_filter(x, *stored_filter(old))[0], by_hand, atol=1e-12)
    new = radial_filter(x, *stored_filter({**old, "interpolation": "k2"}))
    assert np.abs(new[0] - by_hand).max() > 1e-3
    with pytest.raises(ValueError, match="interpolation"):
        radial_filter(x, old["k"], old["gain"], "log")
