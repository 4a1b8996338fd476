"""The unit-converted back projection (BP ÷ the clean-beam area, no fitting) against CLEAN on
held-out STIX maps, next to the model's rows that ``evaluate-split`` wrote for the same maps.

    astroi2i simulate stix --out S --n 1000 --seed 7 --workers 2 --split test=1.0
    astroi2i evaluate-split stix-bp2clean --manifest S/manifest.csv --split test \\
        --group-by multiplicity --out E
    python examples/stix_bp_area_baseline.py S/manifest.csv E/metrics.ecsv [--beam 20]

Physical units (CLEAN's ct/(arcsec² cm² keV)); means over maps, per multiplicity. The CLEAN
reference is the simulator's Högbom CLEAN, run until its largest residual is ≤ 2σ of the map
noise (the CLNITER/CLNCONV header cards say how far it went; see docs/stix.md).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astroi2i.metrics.image import band_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest")
    parser.add_argument("metrics", help="evaluate-split's metrics.ecsv for the same maps")
    parser.add_argument("--beam", type=float, default=20.0, help="clean beam FWHM, arcsec")
    parser.add_argument("--pixel", type=float, default=1.0, help="arcsec per pixel")
    args = parser.parse_args()
    area = 2 * np.pi * (args.beam / 2.3548200450309493 / args.pixel) ** 2  # pixels per beam
    base = Path(args.manifest).parent
    groups: dict[str, list] = {}
    for row in csv.DictReader(open(args.manifest)):
        bp = fits.getdata(base / row["bp"]).astype(np.float64)
        clean = fits.getdata(base / row["clean"]).astype(np.float64)
        clean = clean[: bp.shape[0], : bp.shape[1]]  # same CRPIX: the first pixels are the BP's
        m = band_metrics(bp / area, clean)
        groups.setdefault(row["multiplicity"], []).append((m["psnr"], m["ssim"]))
    rec = Table.read(args.metrics)
    rec = rec[rec["space"] == "physical"]
    methods = [m for m in dict.fromkeys(rec["method"]) if m in ("model", "baseline")]
    for name in sorted(groups) + ["all"]:
        values = np.array(sum(groups.values(), []) if name == "all" else groups[name])
        line = (f"{name:8s} n={len(values):4d}  BP/beam area: PSNR {values[:, 0].mean():6.2f} dB, "
                f"SSIM {values[:, 1].mean():.3f}")  # fmt: skip
        for method in methods:  # the model, and the linear baseline fitted at training
            rows = rec[rec["method"] == method]
            rows = rows if name == "all" else rows[rows["group"] == name]
            line += (f"   {method}: PSNR {np.mean(rows['psnr']):6.2f} dB, "
                     f"SSIM {np.mean(rows['ssim']):.3f}")  # fmt: skip
        print(line)


if __name__ == "__main__":
    main()
