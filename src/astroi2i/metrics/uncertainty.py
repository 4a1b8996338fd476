"""Calibrating and scoring a per-pixel σ, in physical units.

**Calibration** (split conformal, Vovk et al. 2005; Angelopoulos & Bates 2021): on held-out
pairs the nonconformity score of a pixel is s = |truth − prediction| / σ_raw. For each
nominal level p the calibrated multiplier is the ⌈(n + 1)·p⌉-th smallest of the n scores
(:func:`conformal_quantile`); if the held-out pixels and a new pixel are exchangeable, the
interval prediction ± q_p·σ_raw then covers the truth with probability ≥ p (and < p + 1/(n+1)).
Pixels of one image are correlated, so the statement holds for the pixels of a new image drawn
like the calibration images, not pixel by pixel; ``evaluate`` measures it on held-out images.

The stored calibration scales σ so that prediction ± σ is the 68.3 % interval (σ is the
standard deviation for Gaussian errors), and keeps the multipliers k₉₀ = q₉₀ / q₆₈.₃ and
k₉₅ = q₉₅ / q₆₈.₃ of the 90 % and 95 % intervals, written into the UNCERT header (``CK90_n``,
``CK95_n`` for band n); for Gaussian errors they are 1.645 and 1.960.

**The score's offset** (the normalised nonconformity measure |r| / (σ_raw + β) of
Papadopoulos, Vovk & Gammerman 2011 and Johansson et al. 2014): a σ network trained for
likelihood can spread σ more than the errors vary (a bright source's σ far above the sky's
while its error is only a little larger). β, per band, is chosen on the calibration pixels
among β = t · median(σ_raw), t ∈ :data:`OFFSET_GRID`, by the mean interval score of the
conformal 95 % interval (Gneiting & Raftery 2007, eq. 43: width + (2/α) × the distance by
which the truth falls outside), a proper scoring rule: it is lowest for the true quantiles, so
it rewards narrow intervals without rewarding giving up the pixels with large errors (which
the mean width alone would). The smallest β within :data:`OFFSET_TOLERANCE` of the lowest
score is kept. β = 0 keeps σ_raw's shape; a large β tends to one constant σ. σ + β is an
increasing function of σ, so the ranking of the pixels (Spearman) is unchanged, and the
conformal quantiles are then taken of the chosen score, so coverage holds as before (up to the
choice among the candidate β, made on the same pixels).

**The score's power** (since 2026-12-07): the score is |r| / (σ_raw + β)^γ, with γ ∈
:data:`POWER_GRID` (at most 1) chosen with β by the same interval score. γ < 1 compresses σ's
dynamic range towards one constant σ (γ = 0) without an offset's bias towards the faint end:
on the quickstart the network's σ spans more than its errors (the 95 % interval score of the
held-out stamps: 0.43 with β alone, 0.30–0.34 with γ of 0.75–0.875). γ above 1 (σ's range
stretched beyond what the network gives) is not tried: on 7 SDSS validation stamps it scored
10 % better and made the 10 test stamps' score 12 % worse. (σ_raw + β)^γ is increasing in σ,
so the ranking of the pixels is unchanged. The stored ``scale`` then carries σ's unit to the
power 1 − γ; σ = scale · (σ_raw + β)^γ is in the image's unit.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

__all__ = [
    "LEVELS",
    "OFFSET_GRID",
    "GAUSSIAN_MULTIPLIERS",
    "conformal_quantile",
    "calibrate",
    "choose_shape",
    "shaped_sigma",
    "POWER_GRID",
    "interval_score",
    "uncert_cards",
    "read_multipliers",
    "read_constant_width",
    "coverage_metrics",
    "band_sigma_metrics",
    "reliability_curve",
    "PooledSpearman",
    "UNCERTAINTY_METRICS",
]

#: the nominal coverages that are calibrated and scored
LEVELS = (0.683, 0.90, 0.95)
#: the half-widths of the central Gaussian intervals at LEVELS, in σ (±1σ covers 68.27 %,
#: which is the 68.3 % level)
GAUSSIAN_MULTIPLIERS = (1.0, *(NormalDist().inv_cdf(0.5 + p / 2) for p in LEVELS[1:]))
#: the offsets β of the score |r| / (σ_raw + β) tried, in units of the band's median σ_raw
OFFSET_GRID = (0.0, *(2.0 ** (k / 2) for k in range(-6, 13)))
#: the powers γ of the score |r| / (σ_raw + β)^γ tried (1: σ's own contrast; 0: constant)
POWER_GRID = tuple(k / 8 for k in range(8, 0, -1))
#: a larger offset, or a smaller power, is chosen only if it lowers the mean interval score
#: by more than this
OFFSET_TOLERANCE = 0.001
#: the pixels (drawn at random, fixed seed) on which β and γ are chosen; the quantiles of the
#: chosen score are then taken over all calibration pixels
SHAPE_MAX_PIXELS = 1_000_000
#: the per-band columns :func:`coverage_metrics` gives
UNCERTAINTY_METRICS = ("cover_68", "cover_90", "cover_95", "width_95", "median_width_95",
                       "spearman_sigma", "spearman_sigma_ideal", "beyond_3sigma", "cover_95_top10",
                       "cover_95_const", "width_95_const", "cover_95_const_top10",
                       "interval_score_95", "interval_score_95_const",
                       "width_95_ratio_ideal")  # fmt: skip


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ⌈(n + 1)·level⌉-th smallest score (1-based); +inf
    when that exceeds n (too few scores for the level)."""
    scores = np.asarray(scores, np.float64).ravel()
    n = scores.size
    if n == 0:
        raise ValueError("no calibration scores")
    k = math.ceil((n + 1) * level)
    if k > n:
        return float("inf")
    return float(np.partition(scores, k - 1)[k - 1])


def interval_score(residual: np.ndarray, half_width, level: float = LEVELS[-1]) -> float:
    """The mean interval score (Gneiting & Raftery 2007, eq. 43) of the central intervals
    prediction ± ``half_width`` at nominal ``level``, given |truth − prediction|: the width
    plus 2/(1 − level) times the distance by which the truth falls outside."""
    residual = np.asarray(residual, np.float64)
    half = np.broadcast_to(np.asarray(half_width, np.float64), residual.shape)
    miss = np.maximum(residual - half, 0.0)
    return float(np.mean(2.0 * half + 2.0 / (1.0 - level) * miss))


def shaped_sigma(sigma, beta, power):
    """(σ_raw + β)^γ: the raw σ reshaped as the calibration chose (β = 0, γ = 1: as it is)."""
    shifted = np.asarray(sigma, np.float64) + beta
    return shifted if power == 1 else np.power(shifted, power)


def choose_shape(residual: np.ndarray, sigma: np.ndarray, *,
                 seed: int = 0) -> tuple[float, float, list]:  # fmt: skip
    """(β, γ, rows): the offset and power of the score |residual| / (σ_raw + β)^γ whose
    conformal 95 % interval has the lowest mean interval score on these pixels (at most
    :data:`SHAPE_MAX_PIXELS` of them, drawn with ``seed``); among the candidates within
    :data:`OFFSET_TOLERANCE` of the lowest, the largest γ, then the smallest β: σ's own shape
    unless another scores better. ``rows``: (β, γ, mean 95 % half-width, interval score)."""
    residual, sigma = np.asarray(residual, np.float64), np.asarray(sigma, np.float64)
    if residual.size > SHAPE_MAX_PIXELS:
        pick = np.random.default_rng(seed).choice(residual.size, SHAPE_MAX_PIXELS, replace=False)
        residual, sigma = residual[pick], sigma[pick]
    median = float(np.median(sigma))
    rows = []
    for power in POWER_GRID:
        for t in OFFSET_GRID:
            shaped = shaped_sigma(sigma, t * median, power)
            half = conformal_quantile(residual / shaped, LEVELS[-1]) * shaped
            rows.append((t * median, power, float(half.mean()), interval_score(residual, half)))
    lowest = min(row[3] for row in rows)
    beta, power = next(row[:2] for row in rows if row[3] <= lowest * (1 + OFFSET_TOLERANCE))
    return beta, power, rows


def calibrate(residuals_by_band: list[np.ndarray], sigmas_by_band: list[np.ndarray], *,
              n_images: int, split: str, source: str, offset: bool = True) -> dict:  # fmt: skip
    """The stored calibration of one model from its held-out |residual| and σ_raw per band
    (over valid pixels with σ_raw > 0; physical units). ``offset`` and ``power`` (per band,
    β and γ of :func:`choose_shape`; 0 and 1 with ``offset=False``) reshape σ_raw into
    (σ_raw + β)^γ, then ``scale`` multiplies it so that ±σ is the 68.3 % interval;
    ``multipliers`` are the half-widths at :data:`LEVELS` in calibrated σ.

    ``constant``: the conformal half-widths at :data:`LEVELS` of one σ for every pixel, in
    physical units — the classical error bar (the global residual spread) that a per-pixel σ
    has to beat in width."""
    scale, multipliers, counts, offsets, powers = [], [], [], [], []
    for band, (r, sigma) in enumerate(zip(residuals_by_band, sigmas_by_band)):
        r, sigma = np.asarray(r, np.float64), np.asarray(sigma, np.float64)
        if r.size == 0:
            raise ValueError(f"band {band}: no held-out pixel with a finite residual and σ > 0")
        if math.ceil((r.size + 1) * LEVELS[-1]) > r.size:
            raise ValueError(f"band {band}: {r.size} pixel(s) are too few to calibrate")
        beta, power = choose_shape(r, sigma)[:2] if offset else (0.0, 1.0)
        q = [conformal_quantile(r / shaped_sigma(sigma, beta, power), p) for p in LEVELS]
        if not all(math.isfinite(v) and v > 0 for v in q):
            raise ValueError(f"band {band}: the residuals are all 0; σ cannot be calibrated")
        scale.append(q[0])
        multipliers.append([v / q[0] for v in q])
        counts.append(int(r.size))
        offsets.append(float(beta))
        powers.append(float(power))
    return {
        "method": "split-conformal",
        "levels": list(LEVELS),
        "offset": offsets,
        "power": powers,
        "scale": scale,
        "multipliers": multipliers,
        "n_pixels": counts,
        "n_images": int(n_images),
        "split": split,
        "source": source,
        "constant": [[conformal_quantile(r, p) for p in LEVELS] for r in residuals_by_band],
    }


def uncert_cards(calibration: dict | None, n_bands: int) -> dict:
    """Header cards of the UNCERT extension: how σ was calibrated and the interval
    multipliers per band (Gaussian ones, flagged, for an uncalibrated model)."""
    cards = {"UNCCAL": (calibration is not None, "sigma calibrated on held-out data")}
    if calibration is None:
        mult = [list(GAUSSIAN_MULTIPLIERS)] * n_bands
        cards["COMMENT"] = "sigma is NOT calibrated: intervals assume Gaussian errors"
    else:
        mult = calibration["multipliers"]
        cards["UNCMETH"] = (calibration["method"], "calibration of sigma")
        cards["UNCNPIX"] = (int(sum(calibration["n_pixels"])), "calibration pixels")
        cards["UNCNIMG"] = (int(calibration["n_images"]), "calibration images")
        if "uncovered" in calibration:  # hole copies: the holes with no room for copies
            n_net = int(calibration["uncovered"])
            cards["UNCNET"] = (n_net, "filled pixels with the network's sigma")
    cards["UNCLEV"] = (LEVELS[0], "prediction +- 1 sigma covers this fraction")
    constant = (calibration or {}).get("constant")
    for c in range(n_bands):
        for j, level in ((1, 90), (2, 95)):
            cards[f"CK{level}_{c + 1}"] = (round(float(mult[c][j]), 5),
                                           f"band {c + 1}: {level}% half-width/sigma")  # fmt: skip
        if calibration is not None:
            beta = float((calibration.get("offset") or [0.0] * n_bands)[c])
            cards[f"COFF_{c + 1}"] = (float(f"{beta:.6g}"),
                                      f"band {c + 1}: offset added to the raw sigma")  # fmt: skip
            power = float((calibration.get("power") or [1.0] * n_bands)[c])
            hole = calibration["method"] == "hole-copies"
            of = "the hole's scale" if hole else "(raw sigma + offset)"
            cards[f"CPOW_{c + 1}"] = (power, f"band {c + 1}: power of {of}")
        if constant is not None:
            note = f"band {c + 1}: 95% half-width of a constant sigma"
            cards[f"CQ95_{c + 1}"] = (float(f"{constant[c][2]:.6g}"), note)
    return cards


def read_constant_width(header, n_bands: int) -> np.ndarray:
    """Per band, the 95 % half-width of the calibrated constant σ (``CQ95_n``; NaN where the
    header has none)."""
    return np.array([float(header.get(f"CQ95_{c + 1}", np.nan)) for c in range(n_bands)])


def read_multipliers(header, n_bands: int) -> np.ndarray:
    """(n_bands, 3) half-widths in σ at :data:`LEVELS` from an UNCERT header (Gaussian ones
    where the header has none)."""
    out = np.tile(np.asarray(GAUSSIAN_MULTIPLIERS), (n_bands, 1))
    for c in range(n_bands):
        for j, key in ((1, f"CK90_{c + 1}"), (2, f"CK95_{c + 1}")):
            if key in header:
                out[c, j] = float(header[key])
    return out


def coverage_metrics(pred: np.ndarray, truth: np.ndarray, sigma: np.ndarray,
                     invalid: np.ndarray, multipliers, *, constant_95: float = float("nan"),
                     max_pixels: int = 200_000, seed: int = 0) -> dict:  # fmt: skip
    """One band's uncertainty scores over valid pixels with σ > 0 (physical units): the
    observed coverage of the central 68.3/90/95 % intervals (prediction ± k·σ), the mean 95 %
    interval width (2·k₉₅·σ), the Spearman correlation of |residual| with σ (on at most
    ``max_pixels`` pixels drawn with ``seed``) and the fraction with |residual| > 3σ; with
    ``constant_95`` (the calibrated constant σ's 95 % half-width) the coverage and width of
    that constant interval on the same pixels.

    ``spearman_sigma_ideal`` is the Spearman correlation the same σ map would reach if it were
    exactly right: |residual| replaced by |σ·z| with z ~ N(0, 1) (drawn with ``seed``). It is
    the ceiling for this σ map: where σ hardly varies (a quiet sky, a CLEAN map's background)
    even a perfect σ ranks |residual| poorly, because |z| scatters the ranks; a
    ``spearman_sigma`` near its ideal says σ ranks the errors as well as its own spread allows.

    ``width_95_ratio_ideal`` asks the same of the width goal: were σ exactly right (the
    residuals σ·z, z Gaussian, the same draw), the mean width of its 95 % intervals (± 1.96 σ)
    over that of the constant interval covering 95 % of the same residuals. Above 1, no
    correct σ with this spread has the narrower mean interval: the constant then reaches its
    95 % by giving up the pixels with the largest σ, which per-pixel intervals must cover.

    ``median_width_95`` and the ``_top10`` coverages (on the tenth of pixels with the largest
    σ: sources, edges, deep holes) say what the mean hides: a constant interval can be
    narrower on average only by giving up the pixels where errors are large.

    ``interval_score_95`` (and ``_const``) is the mean interval score of the 95 % interval
    (Gneiting & Raftery 2007, eq. 43): its width plus 2/0.05 = 40 times the distance by which
    the truth falls outside it, in the image's unit. It is a proper scoring rule (lowest for
    the true 2.5 and 97.5 % quantiles), so unlike the mean width it cannot be won by giving up
    the pixels with large errors; lower is better."""
    ok = ~invalid & np.isfinite(pred) & np.isfinite(truth) & np.isfinite(sigma) & (sigma > 0)
    out = dict.fromkeys(UNCERTAINTY_METRICS, float("nan"))
    if not ok.any():
        return out
    r = np.abs(np.asarray(truth, np.float64)[ok] - np.asarray(pred, np.float64)[ok])
    s = np.asarray(sigma, np.float64)[ok]
    for key, k in zip(("cover_68", "cover_90", "cover_95"), multipliers):
        out[key] = float(np.mean(r <= k * s))
    out["width_95"] = float(np.mean(2 * multipliers[2] * s))
    out["median_width_95"] = float(np.median(2 * multipliers[2] * s))
    out["beyond_3sigma"] = float(np.mean(r > 3 * s))
    top = s >= np.quantile(s, 0.9)
    out["cover_95_top10"] = float(np.mean(r[top] <= multipliers[2] * s[top]))
    out["interval_score_95"] = interval_score(r, multipliers[2] * s)
    if np.isfinite(constant_95):
        out["cover_95_const"] = float(np.mean(r <= constant_95))
        out["width_95_const"] = 2.0 * float(constant_95)
        out["cover_95_const_top10"] = float(np.mean(r[top] <= constant_95))
        out["interval_score_95_const"] = interval_score(r, constant_95)
    if r.size > max_pixels:
        pick = np.random.default_rng(seed).choice(r.size, max_pixels, replace=False)
        r, s = r[pick], s[pick]
    ideal = np.abs(s * np.random.default_rng(seed + 1).standard_normal(s.size))  # σ exact
    out["width_95_ratio_ideal"] = float(
        np.mean(GAUSSIAN_MULTIPLIERS[2] * s) / np.quantile(ideal, LEVELS[2]))  # fmt: skip
    if r.size > 2 and np.ptp(s) > 0 and np.ptp(r) > 0:
        from scipy import stats  # not at import: translate imports this module

        out["spearman_sigma"] = float(stats.spearmanr(r, s).statistic)
        out["spearman_sigma_ideal"] = float(stats.spearmanr(ideal, s).statistic)
    return out


#: the nominal levels of the reliability diagram
RELIABILITY_LEVELS = tuple(np.linspace(0.05, 0.99, 20))


def band_sigma_metrics(pred: np.ndarray, truth: np.ndarray, found, invalid: np.ndarray,
                       band: int, n_bands: int) -> dict:  # fmt: skip
    """:func:`coverage_metrics` of band ``band`` with the multipliers and the constant σ of
    the prediction's UNCERT header; ``found`` is (σ (C, H, W), header) as
    :func:`astroi2i.io.uncertainty.read_uncertainty` gives it, or None (a prediction without
    σ: every column NaN)."""
    if found is None:
        return dict.fromkeys(UNCERTAINTY_METRICS, float("nan"))
    sigma, header = found
    return coverage_metrics(pred, truth, sigma[band], invalid,
                            read_multipliers(header, n_bands)[band],
                            constant_95=read_constant_width(header, n_bands)[band])  # fmt: skip


def reliability_curve(residual: np.ndarray, sigma: np.ndarray,
                      levels=RELIABILITY_LEVELS) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(nominal, observed): the coverage of the central Gaussian interval ±z(p)·σ at each
    nominal level p, over finite pixels with σ > 0 (for the reliability diagram)."""
    ok = np.isfinite(residual) & np.isfinite(sigma) & (sigma > 0)
    r, s = np.abs(residual[ok]), sigma[ok]
    levels = np.asarray(levels, float)
    observed = np.array([np.mean(r <= NormalDist().inv_cdf(0.5 + p / 2) * s) if r.size else np.nan
                         for p in levels])  # fmt: skip
    return levels, observed


class PooledSpearman:
    """Spearman(|residual|, σ) over the pixels of many images at once (a random draw of at
    most ``per_image`` valid pixels from each, with ``seed``), per key (e.g. (group, band)).

    The per-image value (``spearman_sigma``, averaged over images) asks whether σ ranks the
    pixels *within* an image; the pooled one also asks whether it ranks the images — whether
    the maps that σ says are worse are worse. An archive user needs both."""

    def __init__(self, per_image: int = 2000, seed: int = 0) -> None:
        self.per_image, self.rng = int(per_image), np.random.default_rng(seed)
        self.samples: dict = {}

    def add(self, key, pred, truth, sigma, invalid) -> None:
        ok = ~invalid & np.isfinite(pred) & np.isfinite(truth) & np.isfinite(sigma) & (sigma > 0)
        index = np.flatnonzero(ok)
        if index.size > self.per_image:
            index = self.rng.choice(index, self.per_image, replace=False)
        r = np.abs(np.asarray(truth, np.float64).ravel()[index]
                   - np.asarray(pred, np.float64).ravel()[index])  # fmt: skip
        s = np.asarray(sigma, np.float64).ravel()[index]
        self.samples.setdefault(key, []).append((r, s))

    def value(self, keys) -> float:
        """The pooled Spearman over every image added under any of ``keys``; NaN without
        spread."""
        parts = [p for k in keys for p in self.samples.get(k, [])]
        if not parts:
            return float("nan")
        r = np.concatenate([p[0] for p in parts])
        s = np.concatenate([p[1] for p in parts])
        if r.size < 3 or np.ptp(r) == 0 or np.ptp(s) == 0:
            return float("nan")
        from scipy import stats

        return float(stats.spearmanr(r, s).statistic)
