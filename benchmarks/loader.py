"""Data-loader throughput: samples/s for 256² 4-band FITS stamps with stretch + augmentation.

Usage: python benchmarks/loader.py [--n-stamps 64] [--seconds 5] [--workers 1]
       python benchmarks/loader.py --disk-gb 20 [--folder DIR] [--seconds 60]

Writes 4 single-band FITS files per stamp (3 inputs + 1 target) to a temporary folder, builds the
manifest, fits an asinh stretch, and times iteration over a DataLoader with random crops (crop
= whole stamp), dihedral-8 augmentation and batch size 8. Goal (issue 2): ≥ 500 samples/s on
1 worker. Also prints the one-off cost of reading + stretching the FITS files.

``--disk-gb N`` (issue 20, ``data.cache: disk``): first the same stamps from the disk cache
against the in-memory dataset, on a subset that fits in memory (samples/s of both, their
ratio; goal ≥ 0.8); then a generated cache of N GB (5-band 128² inputs, 1-band target, 64²
random crops, dihedral-8) read through the same DataLoader for ``--seconds`` with a small
U-Net forward/backward per batch, printing samples/s and the peak RSS of the main process
and of its worker processes (goal ≤ 3 GB). The cache is written to ``--folder`` (default: a
temporary folder) and removed afterwards.
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


def _peak_rss_mb() -> tuple[float, float]:
    """(main process, largest child) peak resident set size in MB (Linux)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


def _rate(dataset, args, step=None) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                         num_workers=args.workers)  # fmt: skip
    n, start = 0, None
    for batch in loader:
        if step is not None:
            step(batch)
        if start is None:
            start = time.perf_counter()
            continue
        n += batch["inputs"].shape[0]
        if time.perf_counter() - start > args.seconds:
            break
    return n / (time.perf_counter() - start)


def disk_main(args) -> None:
    from astroi2i.archs.unet import UNetGenerator
    from astroi2i.data.datasets import PairedDataset, fit_pair_stretch, load_pairs
    from astroi2i.data.disk_cache import build_cache
    from astroi2i.data.stretches import AsinhStretch
    from astroi2i.io import read_manifest

    common = dict(crop_size=64, augment=True, crops_per_image=50)
    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        tmp = Path(tmp)
        (tmp / "stamps").mkdir()
        manifest = read_manifest(make_stamps(tmp / "stamps", args.n_stamps, size=128))
        pairs = load_pairs(manifest, "train", ["b0", "b1", "b2"], ["t"])
        s_in = fit_pair_stretch(AsinhStretch(softening="auto"), pairs, "inputs")
        s_out = fit_pair_stretch(AsinhStretch(softening="auto"), pairs, "targets")
        stretches = dict(input_stretch=s_in, target_stretch=s_out, **common)
        memory = PairedDataset(pairs, **stretches)
        disk = PairedDataset(iter(pairs), cache=(tmp / "subset", "subset"), **stretches)
        r_mem, r_disk = _rate(memory, args), _rate(disk, args)
        print(f"subset that fits ({args.n_stamps} stamps, 64² crops): in memory {r_mem:.0f}, "
              f"from the disk cache {r_disk:.0f} samples/s; ratio {r_disk / r_mem:.2f} "
              "(goal ≥ 0.8)")  # fmt: skip

        per_sample = (6 * 128 * 128 * 4) + 128 * 128
        n = int(args.disk_gb * 1e9 / per_sample) + 1
        base = np.random.default_rng(0).normal(size=(6, 128, 128)).astype("f4")

        def samples():
            for i in range(n):  # cheap distinct samples: a shifted, scaled base
                x = np.roll(base, i % 128, axis=-1) * (1 + (i % 7) / 10)
                yield f"g{i}", x[:5], x[5:], np.zeros((128, 128), bool)

        t0 = time.perf_counter()
        cache = build_cache(samples(), tmp / "big", "big")
        size = sum(f.stat().st_size for f in (tmp / "big").iterdir()) / 1e9
        print(f"generated cache: {n} samples, {size:.1f} GB on disk, "
              f"written in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        assert len(cache) == n
        big = PairedDataset(iter(()), cache=(tmp / "big", "big"), **stretches)  # opens it
        net = UNetGenerator(in_channels=5, out_channels=1, depth=4, base_channels=8)
        opt = torch.optim.Adam(net.parameters(), 1e-4)

        def step(batch):
            opt.zero_grad()
            loss = (net(batch["inputs"]) - batch["target"]).abs().mean()
            loss.backward()
            opt.step()

        rate = _rate(big, args, step)
        own, child = _peak_rss_mb()
        print(f"{size:.1f} GB cache, random 64² crops + a U-Net step per batch of "
              f"{args.batch_size}: {rate:.0f} samples/s; peak RSS main {own:.0f} MB, largest "
              f"worker {child:.0f} MB (goal ≤ 3000 MB)")  # fmt: skip


if __name__ == "__main__":
    import sys

    if "--disk-gb" in sys.argv:
        parser = argparse.ArgumentParser()
        parser.add_argument("--disk-gb", type=float, required=True)
        parser.add_argument("--folder", default=None)
        parser.add_argument("--n-stamps", type=int, default=64)
        parser.add_argument("--seconds", type=float, default=30.0)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--batch-size", type=int, default=8)
        disk_main(parser.parse_args())
    else:
        main()
