"""Tiled translation of large FITS images: Mpix/s, peak RSS and tiling overhead.

Usage: python benchmarks/tiling.py [--sizes 1024 2048 4096 8192] [--model unet256|small]
       [--sigma off|on|both]

For each size N it writes an N×N float32 FITS image, then runs ``translate`` (FITS in → FITS
out, streamed by strips) in a fresh child process with a U-Net-256 pix2pix generator (random
weights; speed and memory do not depend on them), and prints wall time, Mpix/s, the child's
peak RSS, the number of tiles, and total time ÷ (tiles × one-tile time). Issue 3's goals: peak
RSS ≤ 1.5 GB at 8192², and that ratio ≤ 1.2.

``--sigma both`` translates each image with the generator alone and with its σ network
(``model.uncertainty``: a second output, the UNCERT extension, blended and streamed like the
prediction) and prints the time ratio; issue 19's goals: ≤ 1.3×, and the same 1.5 GB bound.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, sys, time, resource
import torch, lightning  # imports are not part of the translation time
from astroi2i.workflows.translate import translate
import astroi2i.workflows.checkpoint
t0 = time.perf_counter()
translate(sys.argv[1], [sys.argv[2]], sys.argv[3], tile=int(sys.argv[4]), overlap=int(sys.argv[5]))
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_checkpoint(path: Path, model: str, sigma: bool = False) -> dict:
    import torch

    from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
    from astroi2i.systems.build import build_generator
    from astroi2i.workflows.checkpoint import package_versions

    overrides = [] if model == "unet256" else ["model.generator.depth=5",
                                               "model.generator.base_channels=16"]  # fmt: skip
    recipe = resolve_recipe(apply_overrides(load_recipe("pix2pix_unet256"), overrides))
    if not sigma:
        del recipe["model"]["uncertainty"]
    generator = build_generator(recipe["model"], 1, 1).eval()
    linear = {"type": "LinearStretch", "vmin": [0.0], "vmax": [1.0], "percentiles": [0, 100]}
    meta = {
        "format": 1,
        "recipe": recipe,
        "input_bands": ["in"],
        "target_bands": ["out"],
        "input_units": [""],
        "target_units": [""],
        "stretches": {"inputs": linear, "targets": linear},
        "scale": 1,
        "stride": generator.stride,
        "fill_value": 0.0,
        "versions": package_versions(),
    }
    state = generator.state_dict()  # WithUncertainty's keys are generator.*, sigma_net.*
    if not sigma:
        state = {f"generator.{k}": v for k, v in state.items()}
    torch.save({"state_dict": state, "hyper_parameters": {"astroi2i": meta}}, path)
    return {"generator": generator, "stride": generator.stride}


def one_tile_seconds(generator, tile: int, repeats: int = 3) -> float:
    import torch

    x = torch.randn(1, 1, tile, tile)
    with torch.no_grad():
        generator(x)
        t0 = time.perf_counter()
        for _ in range(repeats):
            generator(x)
    return (time.perf_counter() - t0) / repeats


def write_image(path: Path, n: int) -> None:
    import numpy as np
    from astropy.io import fits

    header = fits.Header()
    header.update({"SIMPLE": True, "BITPIX": -32, "NAXIS": 2, "NAXIS1": n, "NAXIS2": n,
                   "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": 150.0, "CRVAL2": 2.0,
                   "CRPIX1": n / 2, "CRPIX2": n / 2, "CDELT1": -1e-4, "CDELT2": 1e-4})  # fmt: skip
    head = header.tostring().encode()
    with open(path, "wb") as f:  # written in strips: the benchmark itself stays small
        f.write(head)
        rng = np.random.default_rng(0)
        for y0 in range(0, n, 512):
            f.write(rng.random((min(512, n - y0), n), dtype=np.float32).astype(">f4").tobytes())
        f.write(b"\0" * ((-n * n * 4) % 2880))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096, 8192])
    parser.add_argument("--model", choices=["unet256", "small"], default="unet256")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--sigma", choices=["off", "on", "both"], default="off")
    args = parser.parse_args()
    variants = {"off": [False], "on": [True], "both": [False, True]}[args.sigma]

    from astroi2i.data.tiling import tile_starts

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        infos = {v: make_checkpoint(tmp / f"model{int(v)}.ckpt", args.model, v) for v in variants}
        per_tile = one_tile_seconds(infos[variants[0]]["generator"], args.tile)
        print(f"model {args.model}, tile {args.tile}, overlap {args.overlap}: "
              f"one tile {per_tile:.3f} s (generator alone)")  # fmt: skip
        print(f"{'size':>6} {'σ':>3} {'tiles':>6} {'seconds':>8} {'Mpix/s':>7} "
              f"{'peak RSS MB':>11} {'time/(tiles×tile)':>18} {'σ on/off':>9}")  # fmt: skip
        for n in args.sizes:
            image = tmp / f"in{n}.fits"
            write_image(image, n)
            stride = infos[variants[0]]["stride"]
            align = stride if stride * 8 <= args.tile else 1
            tiles = len(tile_starts(n, args.tile, args.overlap, align)) ** 2
            seconds = {}
            for v in variants:
                out = tmp / f"out{n}.fits"
                cmd = [sys.executable, "-c", CHILD, str(tmp / f"model{int(v)}.ckpt"), str(image),
                       str(out), str(args.tile), str(args.overlap)]  # fmt: skip
                result = subprocess.run(cmd, capture_output=True, text=True, check=True)
                stats = json.loads(result.stdout.strip().splitlines()[-1])
                seconds[v] = stats["seconds"]
                ratio = seconds[v] / (tiles * per_tile)
                vs = f"{seconds[True] / seconds[False]:>9.2f}" if len(seconds) == 2 else ""
                print(f"{n:>6} {'on' if v else 'off':>3} {tiles:>6} {seconds[v]:>8.1f} "
                      f"{n * n / 1e6 / seconds[v]:>7.2f} {stats['peak_rss_mb']:>11.0f} "
                      f"{ratio:>18.2f} {vs}")  # fmt: skip
                out.unlink()
            image.unlink()


if __name__ == "__main__":
    main()
