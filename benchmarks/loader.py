"""Data-loader throughput: samples/s for 256² 4-band FITS stamps with stretch + augmentation.

Usage: python benchmarks/loader.py [--n-stamps 64] [--seconds 5] [--workers 1]

Writes 4 single-band FITS files per stamp (3 inputs + 1 target) to a temporary folder, builds the
manifest, fits an asinh stretch, and times iteration over a DataLoader with random crops (crop
= whole stamp), dihedral-8 augmentation and batch size 8. Goal (issue 2): ≥ 500 samples/s on
1 worker. Also prints the one-off cost of reading + stretching the FITS files.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from astropy.io import fits
from astropy.wcs import WCS


def make_stamps(folder: Path, n: int, size: int = 256) -> Path:
    rng = np.random.default_rng(0)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix = [150, 2], [size / 2, size / 2]
    wcs.wcs.cdelt = [-1e-4, 1e-4]
    header = wcs.to_header()
    header["BUNIT"] = "nanomaggy"
    lines = ["split,id,b0,b1,b2,t"]
    for i in range(n):
        names = []
        for band in ("b0", "b1", "b2", "t"):
            path = folder / f"s{i:04d}_{band}.fits"
            data = rng.normal(0, 1, (size, size)).astype("f4")
            fits.PrimaryHDU(data, header=header).writeto(path)
            names.append(path.name)
        lines.append(f"train,s{i:04d}," + ",".join(names))
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-stamps", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()

    from astroi2i.data.datasets import PairedDataset, fit_pair_stretch, load_pairs
    from astroi2i.data.stretches import AsinhStretch
    from astroi2i.io import read_manifest

    with tempfile.TemporaryDirectory() as tmp:
        manifest = read_manifest(make_stamps(Path(tmp), args.n_stamps))
        t0 = time.perf_counter()
        pairs = load_pairs(manifest, "train", ["b0", "b1", "b2"], ["t"])
        s_in = fit_pair_stretch(AsinhStretch(softening="auto"), pairs, "inputs")
        s_out = fit_pair_stretch(AsinhStretch(softening="auto"), pairs, "targets")
        dataset = PairedDataset(
            pairs,
            input_stretch=s_in,
            target_stretch=s_out,
            crop_size=256,
            augment=True,
            crops_per_image=1000,
        )
        setup = time.perf_counter() - t0
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
        )
        n, start = 0, None
        for batch in loader:
            if start is None:  # skip worker start-up
                start = time.perf_counter()
                continue
            n += batch["inputs"].shape[0]
            if time.perf_counter() - start > args.seconds:
                break
        elapsed = time.perf_counter() - start
    print(
        f"stamps: {args.n_stamps} × 4 bands × 256², setup (read + fit + stretch): {setup:.2f} s "
        f"({args.n_stamps / setup:.0f} stamps/s)"
    )
    print(
        f"loader: {n / elapsed:.0f} samples/s (batch {args.batch_size}, {args.workers} worker(s), "
        f"random crop + dihedral-8, torch {torch.__version__}, {torch.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()
