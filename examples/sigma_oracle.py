"""How well could any σ rank a model's errors within an image? The oracles of
docs/uncertainty.md ("What an oracle reaches").

    python examples/sigma_oracle.py MODEL MANIFEST [--split test] [--n 150]

Translates the first N rows of the split (the manifest's columns named as the model's input
and target bands; paths relative to the manifest) and prints, as means over the images, the
Spearman correlation between |residual| and: the model's σ; its "ideal" (|σ·z|, z ~ N(0, 1):
what the same σ map reaches were it exactly right for independent errors); and two oracles
made from the true residuals themselves — the RMS residual of the 8 neighbours (the pixel
left out) and the residual smoothed by Gaussians of 2, 3 and 5 px. An oracle far above 0.3
says the errors are spatially predictable and a better σ could rank them; an oracle near the
model's σ says no σ from the neighbourhood can (e.g. white target noise). Physical units;
targets larger than the prediction are cut onto its grid by CRPIX (STIX's 257² CLEAN maps).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import ndimage, stats

from astroi2i.io import read_image
from astroi2i.sky.geometry import crop_to_grid
from astroi2i.workflows.model import load_model
from astroi2i.workflows.translate import translate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=150)
    args = parser.parse_args()
    loaded = load_model(args.model, device="cpu")
    desc = loaded[1]
    with args.manifest.open() as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == args.split][: args.n]
    root, rng, ring = args.manifest.parent, np.random.default_rng(0), np.ones((3, 3)) / 8
    ring[1, 1] = 0
    names = ["sigma", "ideal", "neighbours", "smoothed 2 px", "smoothed 3 px", "smoothed 5 px"]
    rho = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        for row in rows:
            inputs = [str(root / row[band]) for band in desc.input_bands]
            out = translate(args.model, inputs, Path(tmp) / "p.fits", loaded=loaded,
                            overwrite=True, device="cpu")  # fmt: skip
            pred = fits.getdata(out).astype(float)
            sigma = fits.getdata(out, "UNCERT").astype(float)
            target = read_image(root / row[desc.target_bands[0]])
            if target.shape != pred.shape[-2:]:
                target = crop_to_grid(target, read_image(out).wcs, pred.shape[-2:], mode="crpix")
            pred, sigma = pred.reshape(pred.shape[-2:]), sigma.reshape(pred.shape[-2:])
            r = np.abs(target.data[0].astype(float) - pred)
            ok = np.isfinite(r) & np.isfinite(sigma)
            r0 = np.where(ok, r, 0.0)
            maps = [sigma, np.abs(sigma * rng.standard_normal(sigma.shape)),
                    np.sqrt(ndimage.convolve(r0**2, ring)),
                    *(np.sqrt(ndimage.gaussian_filter(r0**2, w)) for w in (2, 3, 5))]  # fmt: skip
            for name, m in zip(names, maps):
                x = sigma if name == "ideal" else r  # the ideal ranks |σ·z| against σ itself
                rho[name].append(stats.spearmanr(x[ok], m[ok]).statistic)
    print(f"{args.model}, {len(rows)} {args.split} images: mean Spearman(|residual|, ·) per image")
    for name in names:
        print(f"  {name:14s} {np.nanmean(rho[name]):.3f}")


if __name__ == "__main__":
    main()
