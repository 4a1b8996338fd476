"""σ of a model on held-out pairs, pooled over every scored pixel, with the stored calibration
and without it: the numbers of docs/uncertainty.md.

    python examples/sigma_coverage.py MODEL PAIRS.json OUT_DIR

PAIRS.json is a list of ``{"inputs": [FITS, …], "target": FITS, "mask": FITS (optional)}``
(``mask``: inpainting, ≠0 = hole to fill and score). Each pair is translated twice (with the
calibration, and ``--uncalibrated``) into OUT_DIR; the target is cut onto the prediction's grid
by CRPIX when it is larger (STIX's 257² CLEAN maps). Printed as JSON and written to
OUT_DIR/sigma_scores.json: the coverage of the 68.3/90/95 % intervals (the UNCERT header's
multipliers), Spearman(|residual|, σ), the mean and median 95 % width, the 95 % coverage on
the tenth of pixels with the largest σ, the same for the calibrated constant σ, the pixel
count and the RMSE — all in physical units.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import stats

from astroi2i.io import read_image
from astroi2i.metrics.uncertainty import read_constant_width, read_multipliers
from astroi2i.sky.geometry import crop_to_grid
from astroi2i.sky.masks import read_mask
from astroi2i.workflows.model import describe
from astroi2i.workflows.translate import translate


def _pixels(model, pairs, out: Path, calibrated: bool):
    r_all, s_all, head = [], [], None
    for i, pair in enumerate(pairs):
        path = translate(model, pair["inputs"], out / f"{i}.fits", overwrite=True,
                         calibrated=calibrated, mask=pair.get("mask"))  # fmt: skip
        pred = fits.getdata(path).astype(float)
        sigma = fits.getdata(path, "UNCERT").astype(float)
        head = fits.getheader(path, "UNCERT")
        target = read_image(pair["target"])
        if target.shape != pred.shape[-2:]:
            target = crop_to_grid(target, read_image(path).wcs, pred.shape[-2:], mode="crpix")
        t = target.data.astype(float).reshape(pred.shape)
        ok = np.isfinite(pred) & np.isfinite(t) & np.isfinite(sigma) & (sigma > 0)
        if pair.get("mask"):
            ok &= read_mask(pair["mask"], t.shape[-2:]).reshape(ok.shape[-2:])
        r_all.append(np.abs(t - pred)[ok])
        s_all.append(sigma[ok])
    return np.concatenate(r_all), np.concatenate(s_all), head


def scores(model, pairs, out: Path, calibrated: bool) -> dict:
    r, s, head = _pixels(model, pairs, out, calibrated)
    mult = read_multipliers(head, 1)[0]
    const = read_constant_width(head, 1)[0]
    top = s >= np.quantile(s, 0.9)
    step = max(1, r.size // 200_000)
    d = {f"cover_{k}": float(np.mean(r <= m * s)) for k, m in zip((68, 90, 95), mult)}
    d["spearman"] = float(stats.spearmanr(r[::step], s[::step]).statistic)
    d["width95_mean"] = float(np.mean(2 * mult[2] * s))
    d["width95_median"] = float(np.median(2 * mult[2] * s))
    d["cover95_top10"] = float(np.mean(r[top] <= mult[2] * s[top]))
    if np.isfinite(const):
        d["const_width95"] = 2 * float(const)
        d["const_cover95"] = float(np.mean(r <= const))
        d["const_cover95_top10"] = float(np.mean(r[top] <= const))
    d["n_pixels"], d["n_images"] = int(r.size), len(pairs)
    d["rmse"] = float(np.sqrt(np.mean(r**2)))
    return d


def main() -> None:
    model, pairs_file, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    pairs = json.loads(Path(pairs_file).read_text())
    result = {mode: scores(model, pairs, out / mode, mode == "calibrated")
              for mode in ("calibrated", "uncalibrated")}  # fmt: skip
    result["calibration"] = describe(model).calibration
    text = json.dumps(result, indent=1)
    (out / "sigma_scores.json").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
