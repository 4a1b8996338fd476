"""What σ costs at inference: one forward pass of each recipe's generator alone against the
generator with its σ network (what ``translate`` runs), measured interleaved in one process.

    python benchmarks/sigma_cost.py [--size 256] [--repeats 15]
    python benchmarks/sigma_cost.py --translate MODEL INPUT... [--repeats 5]

Networks are built from the packaged recipes with their default sizes and random weights (the
time does not depend on the values), in eval mode with no parameter requiring grad, as
``translate`` loads them; inputs are ``--size``² with the recipe's band counts (super-resolution:
the input grid, ``scale`` times coarser than the output). The issue's goal: σ ≤ 1.3× the time
without. Prints per recipe the medians of both and their ratio.

``--translate`` measures the issue's own quantity, a whole translation with σ against the same
translation without it (``translate --no-sigma``), for a trained model and real inputs: FITS
in → FITS out in this process (the model read, the inputs read and stretched, the tiles, the
inverse stretch and σ's calibration, the file written; not Python's start-up), the two
interleaved, medians of ``--repeats``. INPUT is the model's input file(s) for one translation,
or one folder: every ``*.fits`` in it through one ``translate --out-dir`` call (archive use).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

RECIPES = ("pix2pix_quickstart", "pix2pix_multiinput", "pix2pix_unet256", "stix_bp2clean",
           "srgan_small", "inpaint_small")  # fmt: skip


def _networks(name: str):
    """(generator alone, generator with σ, input channels, fills) of a packaged recipe."""
    from astroi2i.archs.build import build_generator
    from astroi2i.config import load_recipe, resolve_recipe

    recipe = resolve_recipe(load_recipe(name))
    n_in = len(recipe["data"].get("inputs") or [0])
    n_out = len(recipe["data"].get("targets") or [0])
    generator_only = {k: v for k, v in recipe["model"].items() if k != "uncertainty"}
    fills = bool(getattr(build_generator(generator_only, n_in, n_out), "fills_invalid", False))
    with_sigma = build_generator(recipe["model"], n_in, n_out, fills=fills)
    alone = with_sigma.generator
    for net in (alone, with_sigma):
        net.eval().requires_grad_(False)
    return alone, with_sigma, n_in, fills


def _median_seconds(network, x, repeats: int) -> list[float]:
    import torch

    times = []
    with torch.no_grad():
        network(x)  # warm
        for _ in range(repeats):
            t0 = time.perf_counter()
            network(x)
            times.append(time.perf_counter() - t0)
    return times


def _translation_seconds(model: str, inputs: list[str], sigma: bool, out: Path) -> float:
    """Wall seconds of one translation (one file, or a folder through one batch call)."""
    from astroi2i.workflows.batch_translate import batch_translate
    from astroi2i.workflows.translate import translate

    t0 = time.perf_counter()
    if len(inputs) == 1 and Path(inputs[0]).is_dir():
        files = sorted(str(p) for p in Path(inputs[0]).glob("*.fits"))
        result = batch_translate(model, inputs=files, out_dir=out, overwrite=True, sigma=sigma,
                                 progress=False)  # fmt: skip
        if result.failed:
            raise SystemExit(f"{len(result.failed)} file(s) failed: {result.failed}")
    else:
        translate(model, inputs, out / "out.fits", overwrite=True, sigma=sigma)
    return time.perf_counter() - t0


def translation_cost(model: str, inputs: list[str], repeats: int) -> None:
    import numpy as np

    times: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as tmp:
        for sigma in (False, True):  # warm: the model file and inputs in the page cache
            _translation_seconds(model, inputs, sigma, Path(tmp))
        for _ in range(repeats):  # interleaved: the machine's load drifts
            for sigma in (False, True):
                times[sigma].append(_translation_seconds(model, inputs, sigma, Path(tmp)))
    off, on = (float(np.median(times[k])) for k in (False, True))
    print(f"{model} on {' '.join(inputs)}: without σ {off:.2f} s, with σ {on:.2f} s, "
          f"ratio {on / off:.2f} (goal ≤ 1.3); runs {[f'{t:.2f}' for t in times[False]]} / "
          f"{[f'{t:.2f}' for t in times[True]]}")  # fmt: skip


def main() -> None:
    import numpy as np
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--translate", nargs="+", metavar=("MODEL", "INPUT"), default=None)
    args = parser.parse_args()
    load = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists(
        "/proc/loadavg") else "?"  # fmt: skip
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load: {load}")
    if args.translate:
        if len(args.translate) < 2:
            parser.error("--translate MODEL INPUT...")
        translation_cost(args.translate[0], args.translate[1:], args.repeats)
        return
    for name in args.recipes:
        alone, with_sigma, n_in, fills = _networks(name)
        size = args.size // int(getattr(alone, "scale", 1))
        x = torch.randn(1, n_in, size, size)
        if fills:  # a hole: NaN pixels the generator fills
            x[..., size // 4 : size // 2, size // 4 : size // 2] = float("nan")
        a, b = [], []
        for _ in range(3):  # interleaved: the machine's load drifts
            a += _median_seconds(alone, x, args.repeats // 3 or 1)
            b += _median_seconds(with_sigma, x, args.repeats // 3 or 1)
        ma, mb = float(np.median(a)), float(np.median(b))
        print(f"{name}: {size}² input, generator {1000 * ma:.1f} ms, with σ {1000 * mb:.1f} ms, "
              f"ratio {mb / ma:.2f} (goal ≤ 1.3)")  # fmt: skip


if __name__ == "__main__":
    main()
