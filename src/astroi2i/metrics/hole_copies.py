"""σ of an inpainting fill measured and calibrated on the image itself, from copies of its holes.

The error of a fill depends on the scene under the hole (a quiet-Sun hole is filled to a few
DN, one on an active region's loops is off by thousands), and that changes from image to image
by more than a calibration on other images can follow. Where the truth is known, the same
error can be measured: for each hole (a connected region of missing pixels), copies of its
shape are placed in the known pixels around it — up to eight, :data:`GAP` pixels away in the
eight directions, each with a 2-pixel margin of known pixels, none touching another copy, a
hole or the image's edge — and filled as the holes are (scikit-image's biharmonic fill; its
stencil reaches 2 pixels, so a copy's fill does not depend on the holes). Then, per band:

- **the hole's scale** c = (c_h · r · c_I)^(1/3), the geometric mean of three measures of
  how hard the scene there is to fill: c_h, the RMS over the pixels of the hole's copies of
  the fill's error divided by the depth shape (d / d_rms)^:data:`DEPTH_POWER` (d: the distance
  to the nearest pixel that is not missing; d_rms: its RMS over the copy); r, the standard
  deviation of the known pixels within :data:`RING` pixels of the hole (its own boundary,
  which the copies, :data:`GAP` pixels away, do not see); and c_I, c_h over every copy in the
  image. Each alone is a noisy scale (eight copies; a ring of a few hundred pixels); chosen
  among the variants in docs/uncertainty.md on hole sets 1–40 of four AIA images by the
  interval score and coverage, and scored on sets 101–200;
- **σ_raw** = c^p · (d / d_rms)^:data:`DEPTH_POWER` over the hole, with d and d_rms the
  hole's own: the error grows with the depth into the hole; p, the slope of the copies' log
  RMS error on the log of their scales (made without them), in [1, 2] (:func:`_power`): the
  hardest holes err by more than their scale says, as each scale is drawn towards the image's;
  a hole deeper than its copies (against the image's edge, beyond which no pixel is known)
  has σ_raw × (its RMS depth / its copies')^:data:`SIZE_POWER`;
- **the calibration, in the image** (split conformal, with the image's own copies as the
  calibration set): each copy is scored against its scale made as a hole's is, without its
  own error (leave one copy out: c_h from the other copies of its hole, r from the copy's own
  ring, c_I from the image's other copies), s = |error| / (c₋ⱼ^p · shape): how a hole stands
  against its scale.
  σ = q₆₈.₃ · σ_raw, and the 90 % / 95 % half-widths are q₉₀ / q₆₈.₃ and q₉₅ / q₆₈.₃ σ, with
  q_p the ⌈(n + 1)p⌉-th smallest of the n scores. No other image is needed, so a new image's
  scene sets its own scale.

Measured on four AIA 171 Å images, 100 fresh hole sets each (docs/uncertainty.md): coverage
67.8–70.9 / 89.8–91.7 / 94.4–96.0 % at 68.3 / 90 / 95 %, where σ calibrated on other images
missed by up to 7–10 points, and a mean 95 % interval 7–22 % narrower than one constant σ per
image (the conformal quantiles of the copies' |error|); the tenth of hole pixels with the
largest σ is covered 66–72 % at 68.3 %, the holes against the image's edge 60–74 %. What it
assumes: a hole is like the known pixels around it (a hole on the only bright loop in its
neighbourhood is under-covered), and the fill is the biharmonic one (a model that corrects it
has an error of its own that the copies do not measure; the inpainting recipes start from the
biharmonic fill and ``calibrate`` sets the correction's weight on held-out data). Holes with
no room for a copy get no σ here (NaN); ``translate`` writes the σ network's there and counts
them (``UNCNET``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from astroi2i.baselines.fills import biharmonic_fill
from astroi2i.metrics.uncertainty import LEVELS, conformal_quantile

__all__ = ["GAP", "DEPTH_POWER", "HoleCopiesSigma", "place_copies", "hole_copies_sigma"]

#: known pixels between a hole and each of its copies
GAP = 8
#: the power of the depth into the hole in σ's shape (√depth: the fill's error grows slowly)
DEPTH_POWER = 0.5
#: the known pixels within this distance (city block) of a hole or copy whose spread is a scale
RING = 4
#: known pixels a copy needs on every side
MARGIN = 2
#: σ of a hole deeper than its copies (against the image's edge) grows as the ratio of their
#: RMS depths to this power (within a hole, as the depth to :data:`DEPTH_POWER`)
SIZE_POWER = 1.0
#: the largest power of a hole's scale in σ (:func:`_power`), and the copies it needs
MAX_POWER, MIN_COPIES_FOR_POWER = 2.0, 6
#: where the copies of a hole go, in units of the hole's extent plus GAP
SLOTS = ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


@dataclass(frozen=True)
class HoleCopiesSigma:
    """``sigma``: (C, H, W), the calibrated σ (±σ is the 68.3 % interval) in the holes, NaN in
    holes without a copy, 0 elsewhere; ``multipliers``: per band, the half-widths at
    :data:`~astroi2i.metrics.uncertainty.LEVELS` in σ; ``constant``: per band, the same
    levels' half-widths of one σ for every pixel (conformal quantiles of the copies' |error|),
    the classical comparison made from the same pixels; ``n_scores``: calibration pixels per
    band; ``uncovered``: hole pixels without a copy; ``powers``: per band, the power of the
    holes' scale in σ (:func:`_power`)."""

    sigma: np.ndarray
    multipliers: list
    constant: list
    n_scores: list
    uncovered: int
    powers: list

    def calibration(self) -> dict:
        """As :func:`~astroi2i.metrics.uncertainty.calibrate` returns it, for the header."""
        return {"method": "hole-copies", "levels": list(LEVELS),
                "multipliers": self.multipliers, "n_pixels": self.n_scores, "n_images": 1,
                "constant": self.constant, "uncovered": self.uncovered,
                "power": self.powers}  # fmt: skip


def place_copies(missing: np.ndarray, known: np.ndarray, *, gap: int = GAP):
    """(holes, copies): the holes' labels (1 … n, 0 elsewhere) and each copy's id (0 where
    there is none; hole label · 8 + slot for the copy of that hole in that slot)."""
    holes, _ = ndimage.label(missing)
    copies = np.zeros(missing.shape, np.int64)
    height, width = missing.shape
    for label, box in enumerate(ndimage.find_objects(holes), start=1):
        shape = holes[box] == label
        h, w = shape.shape
        for slot, (sy, sx) in enumerate(SLOTS):
            y0, x0 = box[0].start + sy * (h + gap), box[1].start + sx * (w + gap)
            if y0 < MARGIN or x0 < MARGIN or y0 + h + MARGIN > height or x0 + w + MARGIN > width:
                continue
            around = (slice(y0 - MARGIN, y0 + h + MARGIN), slice(x0 - MARGIN, x0 + w + MARGIN))
            if not known[around].all() or copies[around].any():
                continue
            copies[y0 : y0 + h, x0 : x0 + w][shape] = label * len(SLOTS) + slot
    return holes, copies


def _shape(depth: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(d / d_rms)^DEPTH_POWER per pixel, d_rms over the pixel's region (a hole or a copy)."""
    _, inverse = np.unique(labels, return_inverse=True)
    rms = np.sqrt(np.bincount(inverse, depth**2) / np.bincount(inverse))
    return (depth / rms[inverse]) ** DEPTH_POWER


def _rms_depth(depth: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """Indexed by hole label (0 … n − 1): the RMS of ``depth`` over the pixels it owns (NaN
    for none)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(np.bincount(owner, depth**2, n) / np.bincount(owner, minlength=n))


def _ring_spread(image: np.ndarray, known: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Indexed by label: the standard deviation of the known pixels within :data:`RING` pixels
    of each region of ``labels`` (NaN for labels not there, or with a flat or tiny ring)."""
    out = np.full(int(labels.max()) + 1, np.nan)
    for label, box in enumerate(ndimage.find_objects(labels), start=1):
        if box is None:
            continue
        y0, x0 = max(box[0].start - RING, 0), max(box[1].start - RING, 0)
        window = (slice(y0, box[0].stop + RING), slice(x0, box[1].stop + RING))
        region = labels[window] == label
        ring = ndimage.binary_dilation(region, iterations=RING) & ~region & known[window]
        spread = float(np.std(image[window][ring])) if ring.sum() > 3 else 0.0
        out[label] = spread if spread > 0 else np.nan
    return out


def _combined(copies_scale, ring_scale, image_scale):
    """A hole's (or copy's) scale: the geometric mean of its copies', its ring's and the
    image's copies' scales."""
    return np.cbrt(copies_scale * ring_scale * image_scale)


def _band(image: np.ndarray, missing: np.ndarray, known, holes, copies, depth_hole, depth_copy):
    """σ_raw over the holes (NaN without a copy) and the leave-one-copy-out scores."""
    in_copy = copies > 0
    # the copies alone: each has a 2-pixel known margin, all the biharmonic stencil reaches, so
    # its fill is the one it gets with the holes missing too (and the holes are not solved again)
    fill = biharmonic_fill(np.where(missing, 0.0, image), in_copy, split=True)
    cid = copies[in_copy]
    abs_error = np.abs(fill[in_copy] - image[in_copy]).astype(np.float64)
    error = abs_error / _shape(depth_copy[in_copy], cid)
    ids, per_copy = np.unique(cid, return_inverse=True)
    ss, nn = np.bincount(per_copy, error**2), np.bincount(per_copy).astype(np.float64)
    owners, per_hole = np.unique(ids // len(SLOTS), return_inverse=True)
    hole_ss, hole_nn = np.bincount(per_hole, ss), np.bincount(per_hole, nn)
    n_copies = np.bincount(per_hole)
    image_scale = np.sqrt(ss.sum() / nn.sum()) if nn.size else np.nan
    scale = np.full(int(holes.max()) + 1, np.nan)
    ring_hole, ring_copy = _ring_spread(image, known, holes), _ring_spread(image, known, copies)
    scale[owners] = _combined(np.sqrt(hole_ss / hole_nn), ring_hole[owners], image_scale)
    with np.errstate(invalid="ignore", divide="ignore"):  # each copy scored without itself
        others = _combined(np.sqrt((hole_ss[per_hole] - ss) / (hole_nn[per_hole] - nn)),
                           ring_copy[ids], np.sqrt((ss.sum() - ss) / (nn.sum() - nn)))  # fmt: skip
    others[n_copies[per_hole] < 2] = np.nan  # a hole's only copy has no others to be scored by
    power = _power(np.sqrt(ss / nn), others)
    scores = error / others[per_copy] ** power
    in_hole = holes > 0
    # a hole deeper than its copies (one against the image's edge: no known pixels beyond it)
    # errs more than they do, by the ratio of their RMS depths (1 for an inner hole)
    label, depth = holes[in_hole], depth_hole[in_hole]
    rms = _rms_depth(depth, label, len(scale))
    deeper = rms / _rms_depth(depth_copy[in_copy], cid // len(SLOTS), len(scale))
    shape = (depth / rms[label]) ** DEPTH_POWER  # as _shape gives it
    raw = scale[label] ** power * shape * deeper[label] ** SIZE_POWER
    return raw, scores[np.isfinite(scores)], abs_error, power


def _power(rms: np.ndarray, scale: np.ndarray) -> float:
    """How a copy's error grows with its scale (made without it): the slope of log RMS error
    on log scale over the image's copies, in [1, :data:`MAX_POWER`] (1 with fewer than
    :data:`MIN_COPIES_FOR_POWER` copies). Above 1, the hardest holes err by more than their
    scale says, and σ = q · scale^power keeps the calibration from being set by the many easy
    holes alone."""
    good = np.isfinite(scale) & (scale > 0) & (rms > 0)
    if good.sum() < MIN_COPIES_FOR_POWER or np.ptp(np.log(scale[good])) == 0:
        return 1.0
    slope = np.polyfit(np.log(scale[good]), np.log(rms[good]), 1)[0]
    return float(np.clip(slope, 1.0, MAX_POWER)) if np.isfinite(slope) else 1.0


def hole_copies_sigma(image: np.ndarray, missing: np.ndarray, *,
                      gap: int = GAP) -> HoleCopiesSigma | None:  # fmt: skip
    """σ of a fill of the ``missing`` (H, W) pixels of a (C, H, W) image (NaN or any value
    there), calibrated on copies of its holes (module docstring). None when the copies give
    a band too few scores for its 95 % quantile (e.g. no hole has room for two copies)."""
    image = np.asarray(image)
    known = ~missing & np.isfinite(image).all(axis=0)
    holes, copies = place_copies(missing, known, gap=gap)
    depth_hole = ndimage.distance_transform_edt(missing)
    depth_copy = ndimage.distance_transform_edt(copies > 0)
    sigma = np.zeros(image.shape, np.float32)  # as written; (C, H, W) of a whole image
    multipliers, constant, counts, powers = [], [], [], []
    for c, band in enumerate(image):
        raw, scores, abs_error, power = _band(band, missing, known, holes, copies,
                                              depth_hole, depth_copy)  # fmt: skip
        if _too_few(scores.size):
            return None
        q = [conformal_quantile(scores, p) for p in LEVELS]
        sigma[c][holes > 0] = q[0] * raw
        multipliers.append([v / q[0] for v in q])
        constant.append([conformal_quantile(abs_error, p) for p in LEVELS])
        counts.append(int(scores.size))
        powers.append(power)
    uncovered = int(np.isnan(sigma[0][holes > 0]).sum())
    return HoleCopiesSigma(sigma, multipliers, constant, counts, uncovered, powers)


def _too_few(n: int) -> bool:
    """Too few scores for the 95 % quantile to be finite (⌈(n + 1)·0.95⌉ > n)."""
    return n == 0 or int(np.ceil((n + 1) * LEVELS[-1])) > n
