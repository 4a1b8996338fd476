"""Per-source flux anchoring: a prediction's sources take the flux the reference measures for
them; faint, noise-dominated segments and the sky are left alone."""

import numpy as np
import pytest

from astroi2i.baselines.flux_anchor import anchor_flux


def _source(shape, y, x, sigma, flux):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    g = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma**2))
    return flux * g / g.sum()


def test_each_source_takes_the_reference_flux():
    rng = np.random.default_rng(0)
    shape, noise = (96, 96), 0.01
    a, b = _source(shape, 30, 30, 2.0, 50.0), _source(shape, 65, 70, 3.0, 20.0)
    reference = (a + b + rng.normal(0, noise, shape))[None]
    # the prediction: noise-free, sharper, and each source's flux off by its own factor
    pred = (1.3 * _source(shape, 30, 30, 1.5, 50.0) + 0.8 * _source(shape, 65, 70, 2.5, 20.0)
            + 0.002)[None]  # fmt: skip
    out, factors = anchor_flux(pred, reference)
    assert len(factors[0]) == 2
    for y, x, flux in ((30, 30, 50.0), (65, 70, 20.0)):
        box = (slice(y - 12, y + 13), slice(x - 12, x + 13))
        # the flux in a box around each source, less the prediction's sky level
        assert (out[0][box] - 0.002).sum() == pytest.approx(flux, rel=0.03)
        assert (pred[0][box] - 0.002).sum() != pytest.approx(flux, rel=0.1)  # was off
    # the shapes are the prediction's: a source is scaled, not replaced
    box = (slice(18, 43), slice(18, 43))
    inside = pred[0][box] - 0.002 > 1e-3
    ratio = (out[0][box] - 0.002)[inside] / (pred[0][box] - 0.002)[inside]
    assert np.ptp(ratio) < 1e-4 and ratio[0] != pytest.approx(1.0, abs=0.05)
    # the sky far from the sources is untouched
    np.testing.assert_array_equal(out[0][:5, 90:], pred[0][:5, 90:].astype(np.float32))


def test_noise_only_and_switched_off_bands_are_unchanged():
    rng = np.random.default_rng(1)
    shape = (64, 64)
    reference = rng.normal(0, 1.0, (2, *shape))  # sky noise only: nothing well measured
    pred = np.stack([_source(shape, 32, 32, 2.0, 5.0)] * 2)
    out, factors = anchor_flux(pred, reference)
    np.testing.assert_array_equal(out, pred.astype(np.float32))
    assert factors == [[], []]
    bright = np.stack([_source(shape, 32, 32, 2.0, 500.0)] * 2) + rng.normal(0, 0.01, (2, *shape))
    out, factors = anchor_flux(pred, bright, bands=[False, True])
    np.testing.assert_array_equal(out[0], pred[0].astype(np.float32))
    assert factors[0] == [] and factors[1] == [pytest.approx(2.0)]  # 100×, clipped to 2
    with pytest.raises(ValueError, match="differ"):
        anchor_flux(pred, bright[:1])
