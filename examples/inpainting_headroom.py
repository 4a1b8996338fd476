"""How much better than biharmonic inpainting a fill could be, and where: for each hole set
(a truth image and its hole mask, as written by `astroi2i simulate holes`), biharmonic's PSNR
in the hole, the gain of oracles that know part of the truth, and the share of biharmonic's
squared error by depth into the hole.

    python examples/inpainting_headroom.py HOLES TRUTH

HOLES and TRUTH are FITS files or folders of them matched by name (holes: ≠0 = hole). The
oracles, all in physical units with evaluate's PSNR peak (the valid target range):
"edge ≤ d": the truth on every hole pixel at most d pixels from a known pixel, biharmonic
deeper in; "σ = s": the truth smoothed by a Gaussian of s pixels (the structure without the
noise, an upper bound for a fill that does not guess the noise).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def headroom(truth: np.ndarray, hole: np.ndarray) -> dict[str, float]:
    from scipy.ndimage import gaussian_filter

    from astroi2i.baselines import biharmonic_fill
    from astroi2i.metrics import inpainting as m

    invalid = ~np.isfinite(truth)  # not scored, and not known to the fill either
    hole, missing = hole & ~invalid, hole | invalid
    base = biharmonic_fill(truth, missing)
    psnr0 = m.hole_metrics(base, truth, hole)["psnr"]
    depth = m.hole_depth(missing)
    row = {"biharmonic": psnr0}
    for d in (4, 8, 12):
        oracle = np.where(hole & (depth <= d), truth, base)
        row[f"edge<={d}"] = m.hole_metrics(oracle, truth, hole)["psnr"] - psnr0
    for s in (1, 2, 4):
        oracle = gaussian_filter(truth.astype(np.float64), s)
        row[f"sigma={s}"] = m.hole_metrics(oracle, truth, hole)["psnr"] - psnr0
    err = (base.astype(np.float64) - truth) ** 2
    total = err[hole].sum()
    for lo, hi in m.DEPTH_BINS:
        row[f"share {lo}-{hi or ''}"] = err[hole & m.depth_bin(depth, lo, hi)].sum() / total
    return row


def _line(row: dict[str, float]) -> str:
    """biharmonic PSNR in dB, oracle gains in dB, error shares as fractions."""
    return "  ".join(
        f"{k} {v:.2f} dB" if k == "biharmonic" else f"{k} {v:+.2f}" if "share" not in k
        else f"{k} {v:.2f}"
        for k, v in row.items()
    )  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("holes", type=Path)
    parser.add_argument("truth", type=Path)
    args = parser.parse_args(argv)
    from astropy.io import fits

    from astroi2i.io.fits import read_image

    pairs = (
        [(h, args.truth / h.name) for h in sorted(args.holes.glob("*.fits"))]
        if args.holes.is_dir()
        else [(args.holes, args.truth)]
    )
    rows = []
    for hole_path, truth_path in pairs:
        truth = read_image(truth_path).data[0]
        hole = fits.getdata(hole_path) != 0
        rows.append(headroom(truth, hole))
        print(hole_path.name, _line(rows[-1]))
    print("mean", _line({k: float(np.mean([r[k] for r in rows])) for k in rows[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
