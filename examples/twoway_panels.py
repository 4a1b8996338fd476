"""One held-out galaxy translated by every method of an ``astroi2i compare`` run, both ways, as a
figure (r band, each row on the target survey's asinh display scale), plus the background noise
power spectra of the SDSS → CFHT translations against the real CFHT stamp.

    python examples/twoway_panels.py --workdir cmp --data pairs/manifest.csv --out panels.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy.visualization import AsinhStretch, ImageNormalize, ZScaleInterval  # noqa: E402

from astroi2i.data.twoway import load_domains  # noqa: E402
from astroi2i.io import read_manifest  # noqa: E402
from astroi2i.metrics.galaxy import background_mask, radial_power  # noqa: E402
from astroi2i.workflows.twoway import load_twoway, predict_twoway, regrid_baseline  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True, help="the compare run's folder")
    parser.add_argument("--data", required=True, help="its manifest")
    parser.add_argument("--index", type=int, default=0, help="which test pair (0)")
    parser.add_argument("--band", default="r")
    parser.add_argument("--out", default="twoway_panels.png")
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args()

    runs = sorted(p.parent.parent for p in Path(args.workdir).glob("*/checkpoints/last.ckpt"))
    models = {run.name: load_twoway(run / "checkpoints" / "last.ckpt") for run in runs}
    meta = next(iter(models.values()))[1]
    data = meta.data
    manifest = read_manifest(args.data)
    key, a, b = load_domains(manifest, "test", data["inputs"], data["targets"]).paired[args.index]
    c = list(b.bands).index(args.band)
    names = ["input", "truth", "regrid", *models]
    fig, axes = plt.subplots(3, len(names), figsize=(1.6 * len(names), 5.4), squeeze=False)
    for row, (to, source, target) in enumerate((("b", a, b), ("a", b, a))):
        norm = ImageNormalize(target.data[c], interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
        images = {"input": source.data[c], "truth": target.data[c],
                  "regrid": regrid_baseline(source.data, meta, to)[c]}  # fmt: skip
        for name, (system, m) in models.items():
            images[name] = predict_twoway(system, m, source.data, to, seed=args.index)[c]
        for col, name in enumerate(names):
            ax = axes[row, col]
            src_norm = (
                ImageNormalize(source.data[c], interval=ZScaleInterval(), stretch=AsinhStretch(0.1))
                if name == "input"
                else norm
            )
            ax.imshow(images[name], origin="lower", cmap="gray", norm=src_norm)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name.replace("_", " "), fontsize=7)
        domains = meta.two_way
        label = f"{domains['a' if to == 'b' else 'b']['name']}→{domains[to]['name']}"
        axes[row, 0].set_ylabel(label, fontsize=8)
        if to == "b":
            background = background_mask(target.data[c])
            gs = axes[2, 0].get_gridspec()
            for ax in axes[2]:
                ax.remove()
            ax = fig.add_subplot(gs[2, :])
            k, p = radial_power(target.data[c], background)
            ax.loglog(k, p, "k-", lw=2, label="CFHT truth")
            for name in ["regrid", *models]:
                k, p = radial_power(np.nan_to_num(images[name]), background)
                ax.loglog(k, p, lw=1, label=name.replace("_", " "))
            ax.set_xlabel("spatial frequency (cycles / CFHT pixel)", fontsize=8)
            ax.set_ylabel(f"background power ({args.band})", fontsize=8)
            ax.legend(fontsize=6, ncol=4)
    fig.suptitle(f"test galaxy {key}, {args.band} band", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=args.dpi)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
