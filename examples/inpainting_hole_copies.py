"""An experiment: does a per-hole scale measured on the image itself make an inpainting model's
σ transfer between images? (docs/uncertainty.md, "Inpainting, each AIA image held out in
turn"). What the product now does instead — the same copies, calibrated inside the image
itself — is :mod:`astroi2i.metrics.hole_copies`, scored by examples/inpainting_hole_sets.py.

    python examples/inpainting_hole_copies.py MODEL PAIRS_A.json PAIRS_B.json …

Each PAIRS file holds the hole sets of one image, as for examples/sigma_coverage.py: a list of
``{"inputs": [damaged FITS], "target": truth FITS, "mask": hole mask FITS}``. Every image is
held out in turn: the σ variants below are scaled by conformal quantiles of |residual| / σ
pooled over the hole pixels of the *other* images, and scored on the held-out one's holes
(physical units; the prediction is the model's, translated once with ``--uncalibrated``):

- ``sigma_raw``: the model's own σ (its σ network, uncalibrated shape);
- ``copies``: for each hole, the RMS error of scikit-image's biharmonic fill of up to eight
  copies of that hole placed in the known pixels around it (the image's own scene, measured
  where the truth is known), the same for every pixel of the hole;
- ``copies x shape^g``: ``copies`` times the σ network's shape within the hole (σ_raw over
  its RMS in that hole) to the power g, which adds the growth of the error with depth;
- ``copies x depth^g``: ``copies`` times the distance to the nearest known pixel over its RMS
  in that hole, to the power g: a σ made without the network at all;
- ``constant``: one σ for every pixel.

Printed per held-out image: coverage of the 68.3 / 90 / 95 % intervals, mean 95 % width, the
95 % interval score (lower is better) and Spearman(|residual|, σ).
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import ndimage, stats

from astroi2i.baselines.fills import biharmonic_fill
from astroi2i.metrics.hole_copies import SLOTS, place_copies
from astroi2i.metrics.uncertainty import LEVELS, conformal_quantile, interval_score
from astroi2i.workflows.model import load_model
from astroi2i.workflows.translate import translate


def copies_scale(damaged: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Per hole pixel: the RMS error of biharmonic fills of copies of its hole placed in known
    pixels around it (NaN where no copy fits)."""
    labels, placed = place_copies(hole, ~hole & np.isfinite(damaged))
    n, copies, owner = labels.max(), placed > 0, placed // len(SLOTS)
    error = biharmonic_fill(np.where(hole, 0.0, damaged), hole | copies) - damaged
    scale = np.full(hole.shape, np.nan)
    for i in range(1, n + 1):
        if (owner == i).any():
            scale[labels == i] = np.sqrt(np.mean(error[owner == i].astype(np.float64) ** 2))
    return scale


def image_pixels(model, loaded, pairs, out: Path, tag: str):
    """Pooled over one image's hole sets: |residual|, σ_raw, copies scale, σ_raw's shape."""
    parts = []
    for k, pair in enumerate(pairs):
        hole = fits.getdata(pair["mask"]).astype(bool)
        truth = fits.getdata(pair["target"]).astype(np.float64).reshape(hole.shape)
        damaged = fits.getdata(pair["inputs"][0]).astype(np.float64).reshape(hole.shape)
        written = translate(model, pair["inputs"], out / f"{tag}_{k}.fits", device="cpu",
                            loaded=loaded, calibrated=False)  # fmt: skip
        with fits.open(written) as hdul:
            pred = hdul[0].data.astype(np.float64).reshape(hole.shape)
            sigma = hdul["UNCERT"].data.astype(np.float64).reshape(hole.shape)
        labels, n = ndimage.label(hole)
        rms = np.sqrt(ndimage.mean(sigma**2, labels, np.arange(1, n + 1)))
        depth = ndimage.distance_transform_edt(hole)  # to the nearest known pixel
        depth_rms = np.sqrt(ndimage.mean(depth**2, labels, np.arange(1, n + 1)))
        shapes = np.stack([sigma[hole] / rms[labels[hole] - 1],
                           depth[hole] / depth_rms[labels[hole] - 1]])  # fmt: skip
        scale = copies_scale(np.where(hole, np.nan, damaged), hole)
        parts.append((np.abs(truth - pred)[hole], sigma[hole], scale[hole], shapes))
    r, sigma, scale, shapes = zip(*parts)
    return (np.concatenate(r), np.concatenate(sigma), np.concatenate(scale),
            np.concatenate(shapes, axis=1))  # fmt: skip


VARIANTS = {
    "sigma_raw": lambda r, s, c, b: s,
    "copies": lambda r, s, c, b: c,
    "copies x shape^0.25": lambda r, s, c, b: c * b[0] ** 0.25,
    "copies x shape^0.5": lambda r, s, c, b: c * b[0] ** 0.5,
    "copies x depth^0.5": lambda r, s, c, b: c * b[1] ** 0.5,
    "copies x depth": lambda r, s, c, b: c * b[1],
    "constant": lambda r, s, c, b: np.ones_like(r),
}


def main() -> None:
    model, files = sys.argv[1], sys.argv[2:]
    if len(files) < 2:
        raise SystemExit("give a model and at least two PAIRS files (one per image)")
    loaded = load_model(model, device="cpu")
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        data = {f: image_pixels(model, loaded, json.loads(Path(f).read_text()), Path(tmp), str(i))
                for i, f in enumerate(files)}  # fmt: skip
    for name, sigma_of in VARIANTS.items():
        print(f"== {name}")
        for held in files:
            cal = np.concatenate([d[0] / sigma_of(*d) for f, d in data.items() if f != held])
            ks = [conformal_quantile(cal[np.isfinite(cal)], level) for level in LEVELS]
            r, sigma = data[held][0], sigma_of(*data[held])
            ok = np.isfinite(sigma)
            cover = [100 * np.mean(r[ok] <= k * sigma[ok]) for k in ks]
            rho = stats.spearmanr(r[ok], sigma[ok]).statistic if np.ptp(sigma[ok]) else np.nan
            print(f"  {Path(held).stem}: cover {cover[0]:.1f} / {cover[1]:.1f} / {cover[2]:.1f} %"
                  f"  width95 {np.mean(2 * ks[2] * sigma[ok]):.0f}"
                  f"  IS95 {interval_score(r[ok], ks[2] * sigma[ok]):.0f}  Spearman {rho:.2f}"
                  f"  ({100 * (1 - ok.mean()):.1f} % of hole pixels without a copy)")  # fmt: skip


if __name__ == "__main__":
    main()
