"""What σ costs at inference: one forward pass of each recipe's generator alone against the
generator with its σ network (what ``translate`` runs), measured interleaved in one process.

    python benchmarks/sigma_cost.py [--size 256] [--repeats 15]

Networks are built from the packaged recipes with their default sizes and random weights (the
time does not depend on the values), in eval mode with no parameter requiring grad, as
``translate`` loads them; inputs are ``--size``² with the recipe's band counts (super-resolution:
the input grid, ``scale`` times coarser than the output). The issue's goal: σ ≤ 1.3× the time
without. Prints per recipe the medians of both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import time

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


def main() -> None:
    import numpy as np
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    args = parser.parse_args()
    load = " ".join(open("/proc/loadavg").read().split()[:3]) if os.path.exists(
        "/proc/loadavg") else "?"  # fmt: skip
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; load: {load}")
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
