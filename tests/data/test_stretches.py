import numpy as np
import pytest

from astroi2i.data.stretches import (
    AsinhStretch,
    ChainStretch,
    ExposureStretch,
    HistEqStretch,
    IdentityStretch,
    LinearStretch,
    LogStretch,
    SignedSqrtStretch,
    build_stretch,
)
from astroi2i.errors import InputError


def _round_trip(stretch, x, **kw):
    y = stretch.forward(x, **kw)
    assert y.dtype == np.float32 and y.shape == x.shape
    return stretch.inverse(y, **kw)


def test_asinh_stretch_round_trip(rng):
    x = rng.normal(0, 50, (3, 32, 32)).astype("float32")
    s = AsinhStretch(softening=3.0).fit(x[None])
    np.testing.assert_allclose(s.inverse(s.forward(x)), x, rtol=1e-6, atol=1e-6 * 50)
    np.testing.assert_allclose(s.forward(x), np.arcsinh(x / 3.0), rtol=1e-6)


@pytest.mark.parametrize(
    "stretch",
    [
        IdentityStretch(),
        LinearStretch(percentiles=[1.0, 99.0]),
        AsinhStretch(softening="auto"),
        SignedSqrtStretch(flux_scale=1000.0),
        LogStretch(a=100.0, percentiles=[0.0, 100.0]),
        ChainStretch(steps=[{"type": "AsinhStretch", "softening": 0.3}, {"type": "LinearStretch"}]),
    ],
)
def test_round_trip_within_1e6_relative(stretch, rng):
    x = rng.normal(5, 20, (2, 24, 24)).astype("float32") + 40
    x[0, 0, 0] = np.nan
    stretch.fit([x, x * 1.5])
    back = _round_trip(stretch, x)
    assert np.isnan(back[0, 0, 0])
    np.testing.assert_allclose(back, x, rtol=1e-6, atol=1e-6 * np.nanmax(np.abs(x)))
    # stored and rebuilt: the same mapping
    again = build_stretch(stretch.to_dict())
    np.testing.assert_array_equal(again.forward(x), stretch.forward(x))


def test_linear_limits_are_dataset_level_not_per_image():
    a = np.full((1, 4, 4), 1.0, np.float32)
    b = np.full((1, 4, 4), 3.0, np.float32)
    s = LinearStretch().fit([a, b])
    assert s.vmin.tolist() == [1.0] and s.vmax.tolist() == [3.0]
    np.testing.assert_allclose(s.forward(a), 0.0)
    np.testing.assert_allclose(s.forward(b), 1.0)


def test_per_band_parameters(rng):
    x = np.stack([rng.normal(0, 1, (16, 16)), rng.normal(0, 100, (16, 16))]).astype("f4")
    s = AsinhStretch(softening="auto", noise_factor=1.0).fit([x])
    assert s.softening.shape == (2,)
    assert 50 < s.softening[1] / s.softening[0] < 200
    with pytest.raises(ValueError, match="fitted for 2 bands, data has 3"):
        s.forward(np.zeros((3, 4, 4), "f4"))


def test_signed_sqrt_matches_lin_et_al():
    x = np.array([-8.0, 0.0, 3.0, 1000.0], np.float32).reshape(1, 1, 4)
    y = SignedSqrtStretch(flux_scale=1.0).forward(x)
    np.testing.assert_allclose(y[0, 0], [-2.0, 0.0, 1.0, np.sqrt(1001) - 1], rtol=1e-6)


def test_histeq_is_uniform_and_within_its_bound(rng):
    x = rng.lognormal(0, 1.5, (1, 64, 64)).astype("f4")
    s = HistEqStretch(n_levels=1024).fit([x])
    y = s.forward(x)
    assert 0 <= y.min() and y.max() <= 1
    counts, _ = np.histogram(y, bins=10, range=(0, 1))
    assert counts.min() > 0.8 * counts.mean()  # equalised
    err = np.abs(s.inverse(y) - x).max()
    bound = s.roundtrip_bound(x)[0]
    assert err <= bound
    outside = np.array([[[x.max() * 2, x.min() - 1]]], np.float32)
    np.testing.assert_allclose(s.inverse(s.forward(outside)), outside, rtol=1e-5)


def test_exposure_normalisation():
    x = np.full((2, 3, 3), 60.0, np.float32)
    s = ExposureStretch(keyword="EXPTIME")
    assert s.exposure_keyword == "EXPTIME"
    np.testing.assert_allclose(s.forward(x, exposure=[60.0, 30.0])[:, 0, 0], [1.0, 2.0])
    np.testing.assert_allclose(_round_trip(s, x, exposure=[60.0, 30.0]), x)
    with pytest.raises(ValueError, match="needs the EXPTIME"):
        s.forward(x)
    chain = ChainStretch(steps=[{"type": "ExposureStretch"}, {"type": "LinearStretch"}])
    chain.fit([x, 2 * x], exposures=[[60.0, 60.0], [120.0, 120.0]])
    assert chain.exposure_keyword == "EXPTIME"
    np.testing.assert_allclose(chain.forward(x, exposure=[60.0, 60.0]), 0.0)  # both images → 1


def test_unfitted_and_unknown():
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearStretch().forward(np.zeros((1, 2, 2), "f4"))
    with pytest.raises(InputError, match="unknown stretch 'Nope'; known: AsinhStretch"):
        build_stretch({"type": "Nope"})
    with pytest.raises(InputError, match="stretch.softenin: unknown key"):
        build_stretch({"type": "AsinhStretch", "softenin": 1.0})
