"""Inpainting σ from copies of the image's own holes, scored on many hole sets per image: the
numbers of docs/uncertainty.md ("Inpainting σ from the image's own holes, in the product").

    python examples/inpainting_hole_sets.py FIRST LAST IMAGE.fits [IMAGE.fits …]

For each image and each seed in FIRST … LAST − 1, blocks are cut as ``astroi2i simulate holes
--seed SEED`` cuts them (``random_blocks(shape, default_rng([SEED, 0]))``), filled with
scikit-image's biharmonic fill (the prediction of an inpainting recipe at correction weight 0,
so its own classical baseline), and σ is made and calibrated on copies of those holes in the
same image (:func:`astroi2i.metrics.hole_copies.hole_copies_sigma`, what ``translate``
writes). Printed per image, hole pixels pooled over the sets (physical units): coverage of the
68.3 / 90 / 95 % intervals, mean 95 % width, the 95 % interval score and Spearman(|residual|,
σ), next to the same for one constant σ per image (the conformal quantiles of its copies'
|error|), and the coverage of the holes against the image's edge and of the inner ones apart.
Holes with no room for a copy (``translate`` gives them the σ network's) are left out and
counted.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from astroi2i.baselines.fills import biharmonic_fill
from astroi2i.io import read_image
from astroi2i.metrics.hole_copies import hole_copies_sigma
from astroi2i.metrics.uncertainty import interval_score
from astroi2i.sky.masks import random_blocks


def score(path: str, seeds: range) -> str:
    image = read_image(path)
    truth = image.data.astype(np.float64)
    r, s, k, c, e, uncovered, start = [], [], [], [], [], 0, time.perf_counter()
    for seed in seeds:
        blocks = random_blocks(truth.shape[1:], np.random.default_rng([seed, 0]))
        holes = blocks & ~image.pixel_mask
        found = hole_copies_sigma(np.where(blocks[None], np.nan, truth), blocks)
        if found is None:
            uncovered += int(holes.sum())
            continue
        fill = biharmonic_fill(np.where(blocks, 0.0, truth[0]), blocks)
        ok = holes & np.isfinite(found.sigma[0])
        uncovered += int((holes & ~ok).sum())
        labels, _ = ndimage.label(blocks)
        rim = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
        e.append(np.isin(labels, rim[rim > 0])[ok])
        r.append(np.abs(truth[0] - fill)[ok])
        s.append(found.sigma[0][ok])
        k.append(np.repeat([found.multipliers[0]], ok.sum(), axis=0))
        c.append(np.repeat([found.constant[0]], ok.sum(), axis=0))
    r, s, k, c, e = map(np.concatenate, (r, s, k, c, e))
    cover = "/".join(f"{100 * np.mean(r <= k[:, j] * s):.1f}" for j in range(3))
    apart = ", ".join(f"{name} ({100 * np.mean(m):.0f} %) " + "/".join(
        f"{100 * np.mean((r <= k[:, j] * s)[m]):.1f}" for j in range(3))
        for name, m in (("edge", e), ("inner", ~e)) if m.any())  # fmt: skip
    const = "/".join(f"{100 * np.mean(r <= c[:, j]):.1f}" for j in range(3))
    return (f"{Path(path).name}: {len(seeds)} hole sets, RMSE {np.sqrt(np.mean(r**2)):.0f}; "
            f"σ: cover {cover} %, width95 {np.mean(2 * k[:, 2] * s):.0f}, "
            f"IS95 {interval_score(r, k[:, 2] * s):.0f}, Spearman {stats.spearmanr(r, s)[0]:.2f}; "
            f"constant: cover {const} %, width95 {np.mean(2 * c[:, 2]):.0f}, "
            f"IS95 {interval_score(r, c[:, 2]):.0f}; σ's cover of holes against the edge "
            f"and inner ones (their share of the pixels): {apart} %; "
            f"{100 * uncovered / (r.size + uncovered):.1f} % of hole pixels without a copy "
            f"({time.perf_counter() - start:.0f} s)")  # fmt: skip


def main() -> None:
    if len(sys.argv) < 4:
        raise SystemExit(__doc__.split("\n\n")[1])
    seeds = range(int(sys.argv[1]), int(sys.argv[2]))
    for path in sys.argv[3:]:
        print(score(path, seeds), flush=True)


if __name__ == "__main__":
    main()
