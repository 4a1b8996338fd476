"""σ of a model on held-out pairs, pooled over every scored pixel, with the stored calibration
and without it: the numbers of docs/uncertainty.md.

    python examples/sigma_coverage.py MODEL PAIRS.json OUT_DIR

PAIRS.json is a list of ``{"inputs": [FITS, …], "target": FITS, "mask": FITS (optional)}``
(``mask``: inpainting, ≠0 = hole to fill and score). Each pair is translated twice (with the
calibration, and ``--uncalibrated``) into OUT_DIR; the target is cut onto the prediction's grid
by CRPIX when it is larger (STIX's 257² CLEAN maps). Printed as JSON and written to
OUT_DIR/sigma_scores.json: evaluate's σ columns over the pooled pixels (coverage of the
68.3/90/95 % intervals with the UNCERT header's multipliers, Spearman(|residual|, σ), mean and
median 95 % width, the 95 % coverage on the tenth of pixels with the largest σ, the same for
the calibrated constant σ), the pixel count and the RMSE — all in physical units.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

from astroi2i.io import read_image
from astroi2i.metrics.uncertainty import (
    coverage_metrics,
    read_constant_width,
    read_multipliers,
)
from astroi2i.sky.geometry import crop_to_grid
from astroi2i.sky.masks import read_mask
from astroi2i.workflows.model import describe
from astroi2i.workflows.translate import translate


def _pixels(model, pairs, out: Path, calibrated: bool):
    """Pooled (|residual|, σ) over every scored pixel of the pairs, and the last UNCERT
    header (the model's multipliers and constant σ)."""
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
    """evaluate's σ columns (:func:`~astroi2i.metrics.uncertainty.coverage_metrics`) over
    the pooled pixels, with their count and RMSE."""
    r, s, head = _pixels(model, pairs, out, calibrated)
    d = coverage_metrics(np.zeros_like(r), r, s, np.zeros(r.shape, bool),
                         read_multipliers(head, 1)[0],
                         constant_95=read_constant_width(head, 1)[0])  # fmt: skip
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
