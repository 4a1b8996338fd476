"""The conformal calibration and the σ scores, on numbers checked by hand."""

import math

import numpy as np
import pytest
from scipy import stats

from astroi2i.data.stretches import build_stretch
from astroi2i.metrics.uncertainty import (
    GAUSSIAN_MULTIPLIERS,
    OFFSET_GRID,
    POWER_GRID,
    calibrate,
    choose_shape,
    conformal_quantile,
    coverage_metrics,
    interval_score,
    read_multipliers,
    reliability_curve,
    uncert_cards,
)


def test_conformal_quantile_is_the_finite_sample_order_statistic():
    scores = np.array([0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.8, 0.4, 0.6])  # n = 9, shuffled
    # ⌈(n + 1)·p⌉-th smallest: p = 0.683 → ⌈6.83⌉ = 7th → 0.7; p = 0.5 → 5th → 0.5
    assert conformal_quantile(scores, 0.683) == 0.7
    assert conformal_quantile(scores, 0.5) == 0.5
    # p = 0.9 → ⌈9.0⌉ = 9th (the largest); p = 0.95 → ⌈9.5⌉ = 10 > n: no finite quantile
    assert conformal_quantile(scores, 0.9) == 0.9
    assert math.isinf(conformal_quantile(scores, 0.95))
    # without the +1 correction the 0.683 quantile would be the ⌈6.147⌉ = 7th as well, but at
    # 0.75 the two differ: ⌈7.5⌉ = 8th (0.8) against ⌈6.75⌉ = 7th (0.7)
    assert conformal_quantile(scores, 0.75) == 0.8
    with pytest.raises(ValueError, match="no calibration scores"):
        conformal_quantile(np.array([]), 0.5)


def test_calibration_of_gaussian_scores_recovers_the_gaussian_multipliers():
    rng = np.random.default_rng(0)
    # residuals ~ N(0, (2σ_raw)²): the calibrated scale is 2, the multipliers Gaussian
    # (σ_raw = 1 everywhere: no offset changes the shape, so none is chosen)
    r = np.abs(rng.normal(0, 2.0, 400_000))
    cal = calibrate([r], [np.ones_like(r)], n_images=4, split="val", source="m.csv")
    assert cal["offset"] == [0.0]
    assert cal["scale"][0] == pytest.approx(2.0, rel=0.01)
    np.testing.assert_allclose(cal["multipliers"][0], GAUSSIAN_MULTIPLIERS, rtol=0.01)
    assert cal["n_pixels"] == [400_000] and cal["levels"] == [0.683, 0.9, 0.95]
    assert cal["constant"][0][0] == conformal_quantile(r, 0.683)
    with pytest.raises(ValueError, match="too few"):
        calibrate([r[:10]], [np.ones(10)], n_images=1, split="val", source="m.csv")


def test_the_offset_reshapes_an_over_spread_sigma_and_keeps_coverage():
    """σ_raw spreads 30× while the true error's σ is 1 + σ_raw/10 (a floor, and a slope
    too steep by 10×): the offset chosen by the interval score is near the true one (10), its
    mean 95 % interval is narrower than σ_raw's and one constant σ's, and the calibrated
    intervals still cover fresh pixels drawn alike."""
    rng = np.random.default_rng(3)

    def draw(n):
        raw = np.exp(rng.uniform(0.0, np.log(30.0), n))
        return np.abs(rng.normal(0.0, 1.0 + raw / 10.0)), raw

    r, raw = draw(300_000)
    beta, power, rows = choose_shape(r, raw)
    assert power == 1.0  # the truth is linear in σ_raw: no power is needed
    rows = [row for row in rows if row[1] == 1.0]  # γ = 1, each offset
    median = np.median(raw)
    assert [row[0] for row in rows] == pytest.approx([t * median for t in OFFSET_GRID])
    # by hand for one candidate: the mean interval score of its conformal 95 % interval
    shaped = raw + rows[3][0]
    half = conformal_quantile(r / shaped, 0.95) * shaped
    assert rows[3][2] == pytest.approx(half.mean(), rel=1e-12)
    assert rows[3][3] == pytest.approx(np.mean(2 * half + 40 * np.maximum(r - half, 0)), rel=1e-12)
    assert 7 < beta < 15  # the candidates around the true 10 are 7.8 and 11.0
    widths = {row[0]: row[2] for row in rows}
    assert widths[beta] < 0.5 * widths[0.0]
    # the narrowest mean interval alone would flatten σ further than the truth does
    assert min(rows, key=lambda row: row[2])[0] > 1.3 * beta
    cal = calibrate([r], [raw], n_images=1, split="val", source="m.csv")
    assert cal["offset"] == [beta] and cal["power"] == [1.0]
    assert widths[beta] < 0.9 * cal["constant"][0][2]  # narrower than one constant σ's, too
    # by hand: the conformal quantiles of the offset score
    scores = np.sort(r / (raw + beta))
    k = math.ceil((r.size + 1) * 0.683)
    assert cal["scale"][0] == pytest.approx(scores[k - 1], rel=1e-12)
    r2, raw2 = draw(300_000)
    sigma = (raw2 + beta) * cal["scale"][0]
    for p, m in zip((0.683, 0.9, 0.95), cal["multipliers"][0]):
        assert np.mean(r2 <= m * sigma) == pytest.approx(p, abs=0.005)
    assert calibrate([r], [raw], n_images=1, split="val", source="m.csv",
                     offset=False)["offset"] == [0.0]  # fmt: skip


def test_coverage_metrics_on_a_constructed_case():
    rng = np.random.default_rng(1)
    s = rng.uniform(0.5, 3.0, (200, 200))  # heteroscedastic, known
    truth = rng.normal(0.0, s)
    pred = np.zeros_like(truth)
    invalid = np.zeros(truth.shape, bool)
    invalid[:10] = True
    m = coverage_metrics(pred, truth, s, invalid, GAUSSIAN_MULTIPLIERS)
    assert m["cover_68"] == pytest.approx(0.683, abs=0.01)
    assert m["cover_90"] == pytest.approx(0.90, abs=0.01)
    assert m["cover_95"] == pytest.approx(0.95, abs=0.01)
    assert m["width_95"] == pytest.approx(2 * GAUSSIAN_MULTIPLIERS[2] * s[10:].mean(), rel=1e-9)
    # the interval score by hand: width + 40 × the miss distance (α = 0.05)
    half, res = GAUSSIAN_MULTIPLIERS[2] * s[10:], np.abs(truth[10:])
    by_hand = np.mean(2 * half + 40 * np.clip(res - half, 0, None))
    assert m["interval_score_95"] == pytest.approx(by_hand, rel=1e-9)
    # for Gaussian errors the true quantiles score better than any constant interval does
    m2 = coverage_metrics(pred, truth, s, invalid, GAUSSIAN_MULTIPLIERS, constant_95=3.0)
    assert m2["interval_score_95"] < m2["interval_score_95_const"]
    assert m["beyond_3sigma"] == pytest.approx(2 * stats.norm.sf(3), abs=0.002)
    assert m["spearman_sigma"] > 0.3  # |residual| grows with s
    # σ is exactly right here, so it ranks the residuals as well as a perfect σ can
    assert m["spearman_sigma"] == pytest.approx(m["spearman_sigma_ideal"], abs=0.02)
    assert m["median_width_95"] == pytest.approx(2 * GAUSSIAN_MULTIPLIERS[2] * np.median(s[10:]))
    assert m["cover_95_top10"] == pytest.approx(0.95, abs=0.02)  # calibrated where σ is large
    # one constant σ at the pooled 95 % quantile covers 95 % overall but not where s is large
    q95 = float(np.quantile(np.abs(truth[10:]), 0.95))
    c = coverage_metrics(pred, truth, s, invalid, GAUSSIAN_MULTIPLIERS, constant_95=q95)
    assert c["cover_95_const"] == pytest.approx(0.95, abs=0.002)
    assert c["width_95_const"] == pytest.approx(2 * q95)
    assert c["cover_95_const_top10"] < 0.85
    # a σ that is too small by 2 under-covers, and a constant σ does not rank
    small = coverage_metrics(pred, truth, s / 2, invalid, GAUSSIAN_MULTIPLIERS)
    assert small["cover_68"] == pytest.approx(2 * stats.norm.cdf(0.5) - 1, abs=0.01)
    flat = coverage_metrics(pred, truth, np.ones_like(s), invalid, GAUSSIAN_MULTIPLIERS)
    assert math.isnan(flat["spearman_sigma"])
    assert math.isnan(flat["spearman_sigma_ideal"])


def test_the_ideal_spearman_is_low_where_sigma_hardly_varies():
    """Even an exact σ ranks |residual| poorly when σ spans a narrow range (|z| scatters the
    ranks): the ideal value says how much ranking a σ map allows at all."""
    rng = np.random.default_rng(2)
    ok = np.zeros((300, 300), bool)
    for lo, hi, expect in ((1.0, 1.05, (0.0, 0.05)), (0.1, 10.0, (0.5, 0.8))):
        s = rng.uniform(lo, hi, ok.shape)
        truth = rng.normal(0.0, s)
        m = coverage_metrics(np.zeros_like(truth), truth, s, ok, GAUSSIAN_MULTIPLIERS)
        assert expect[0] < m["spearman_sigma_ideal"] < expect[1]
        assert m["spearman_sigma"] == pytest.approx(m["spearman_sigma_ideal"], abs=0.02)


def test_the_ideal_width_ratio_says_when_a_constant_interval_must_be_narrower():
    """Were σ exact, its 95 % intervals are narrower on average than one constant interval
    covering 95 % when σ spreads moderately, equal for a constant σ, and wider when a few
    pixels carry far larger σ (the constant reaches 95 % by giving those up)."""
    rng = np.random.default_rng(3)
    ok = np.zeros(200_000, bool)
    few_large = np.where(rng.uniform(size=ok.size) < 0.01, 100.0, 1.0)
    for s, lo, hi in ((np.ones(ok.size), 0.98, 1.02), (rng.uniform(0.1, 10, ok.size), 0.6, 0.9),
                      (few_large, 1.7, 2.1)):  # fmt: skip
        truth = rng.normal(0.0, s)
        q95 = float(np.quantile(np.abs(truth), 0.95))
        m = coverage_metrics(np.zeros_like(truth), truth, s, ok, GAUSSIAN_MULTIPLIERS,
                             constant_95=q95)  # fmt: skip
        assert lo < m["width_95_ratio_ideal"] < hi
        # σ is exact here, so the ideal says what the measured widths do
        assert m["width_95"] / m["width_95_const"] == pytest.approx(
            m["width_95_ratio_ideal"], rel=0.03
        )


def test_header_cards_round_trip_the_multipliers():
    from astropy.io import fits

    cal = {"method": "split-conformal", "multipliers": [[1, 1.5, 2.5], [1, 1.7, 2.1]],
           "n_pixels": [10, 12], "n_images": 2}  # fmt: skip
    header = fits.Header()
    for key, value in uncert_cards(cal, 2).items():
        header[key] = value
    np.testing.assert_allclose(read_multipliers(header, 2), [[1.0, 1.5, 2.5], [1.0, 1.7, 2.1]])
    assert header["UNCCAL"] and header["UNCNPIX"] == 22
    bare = fits.Header()
    for key, value in uncert_cards(None, 1).items():
        bare[key] = value
    assert not bare["UNCCAL"]
    np.testing.assert_allclose(read_multipliers(bare, 1)[0], GAUSSIAN_MULTIPLIERS, rtol=1e-5)
    assert GAUSSIAN_MULTIPLIERS[1:] == pytest.approx((1.644854, 1.959964), abs=1e-6)


def test_reliability_curve_of_a_calibrated_sigma_is_the_diagonal():
    rng = np.random.default_rng(2)
    s = rng.uniform(1, 2, 100_000)
    nominal, observed = reliability_curve(rng.normal(0, s), s)
    np.testing.assert_allclose(observed, nominal, atol=0.01)


STRETCHES = [
    {"type": "IdentityStretch"},
    {"type": "LinearStretch", "vmin": [-1.0], "vmax": [5.0]},
    {"type": "AsinhStretch", "softening": [0.3]},
    {"type": "SignedSqrtStretch", "flux_scale": 10.0},
    {"type": "LogStretch", "a": 100.0, "vmin": [-0.5], "vmax": [20.0]},
    {"type": "HistEqStretch", "knots": [list(np.linspace(-1, 1, 11) ** 3 * 5)]},
    {"type": "ExposureStretch"},
    {"type": "ChainStretch", "steps": [{"type": "ExposureStretch"},
                                       {"type": "AsinhStretch", "softening": [0.1]}]},
]  # fmt: skip


@pytest.mark.parametrize("spec", STRETCHES, ids=lambda s: s["type"])
def test_sigma_through_the_inverse_stretch_is_the_derivative(spec):
    """A small σ in stretched units maps to |d inverse/dy|·σ in physical units (checked against
    a central difference of the inverse with a different step)."""
    stretch = build_stretch(spec)
    exposure = [4.0] if stretch.exposure_keyword else None
    y = np.linspace(0.05, 0.9, 7).reshape(1, 1, 7) + 0.013  # off the hist-eq knots
    s = np.full_like(y, 1e-4)
    got = stretch.inverse_sigma(y, s, exposure=exposure)
    h = 1e-6
    slope = stretch.inverse(y + h, exposure=exposure) - stretch.inverse(y - h, exposure=exposure)
    np.testing.assert_allclose(got, np.abs(slope) / (2 * h) * s, rtol=1e-4)


def test_large_sigma_follows_the_curvature_of_the_stretch():
    """For asinh a σ of 1 maps to half the width of [sinh(y − 1), sinh(y + 1)]·softening, not
    to the derivative, which would be too narrow."""
    stretch = build_stretch({"type": "AsinhStretch", "softening": [2.0]})
    y = np.array([[[3.0]]])
    got = float(stretch.inverse_sigma(y, np.array([[[1.0]]]))[0, 0, 0])
    assert got == pytest.approx((np.sinh(4.0) - np.sinh(2.0)) / 2 * 2.0)
    assert got > np.cosh(3.0) * 2.0


def test_the_power_compresses_a_sigma_whose_contrast_is_too_high():
    """The true error's σ is √σ_raw (the network's contrast squared): the power chosen by the
    interval score is ½ with no offset, the intervals cover fresh pixels drawn alike, and they
    score better, and are narrower on average, than σ_raw's own shape."""
    rng = np.random.default_rng(5)

    def draw(n):
        raw = np.exp(rng.uniform(0.0, np.log(400.0), n))
        return np.abs(rng.normal(0.0, np.sqrt(raw))), raw

    r, raw = draw(200_000)
    beta, power, rows = choose_shape(r, raw)
    assert (beta, power) == (0.0, 0.5) and set(POWER_GRID) == {row[1] for row in rows}
    cal = calibrate([r], [raw], n_images=1, split="val", source="m.csv")
    assert cal["offset"] == [0.0] and cal["power"] == [0.5]
    fresh, fresh_raw = draw(200_000)
    sigma = cal["scale"][0] * fresh_raw**0.5  # what translate writes
    for level, k in zip((0.683, 0.9, 0.95), cal["multipliers"][0]):
        assert abs(np.mean(fresh <= k * sigma) - level) < 0.005
    own = calibrate([r], [raw], n_images=1, split="val", source="m.csv", offset=False)
    assert own["power"] == [1.0]
    half_own = own["scale"][0] * own["multipliers"][0][2] * fresh_raw
    half = cal["multipliers"][0][2] * sigma
    assert interval_score(fresh, half) < 0.8 * interval_score(fresh, half_own)
    assert half.mean() < half_own.mean()
