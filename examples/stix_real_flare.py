"""The real STIX flare shipped with xrayvision (2020-06-07, 6–10 keV, 229 s, 24 visibilities):
back projection and CLEAN with the same settings as the simulated training data, the model's
prediction from that BP, their metrics against CLEAN, and a figure.

    python examples/stix_real_flare.py --out stix-real [--model stix-bp2clean] [--overwrite]

``--model`` is a checkpoint, an export or a packaged model name (default: the packaged
``stix-bp2clean``). Writes OUT/bp.fits, OUT/clean.fits (257², as the published data),
OUT/eval/predictions/flare.fits (the model, on the BP grid), OUT/eval/summary.ecsv and
OUT/stix_real_flare.png. The metrics are computed by ``evaluate-split`` on a one-row
manifest, in physical units (CLEAN's ct / (arcsec² cm² keV)) and in the model's normalised
space; "input" is the BP carried through the model's normalisation.

Note: the pickle labels the visibilities "ct / (cm keV s)"; they are STIX count rates per cm²
and are treated as ct / (cm² keV s), the unit of the simulated data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="stix-real")
    parser.add_argument("--model", default="stix-bp2clean")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from astroi2i.io import read_image, write_image
    from astroi2i.io.folders import require_empty_folder
    from astroi2i.io.manifest import write_manifest
    from astroi2i.sources.stix import StixImaging, real_stix_visibilities
    from astroi2i.workflows.evaluate import format_table
    from astroi2i.workflows.simulate_stix import stix_header, stix_maps
    from astroi2i.workflows.split_eval import evaluate_split

    out = Path(args.out)
    require_empty_folder(out, overwrite=args.overwrite)
    vis = real_stix_visibilities()
    imaging = StixImaging()  # the simulator's defaults: 256² BP, 257² CLEAN, 1″/px, 20″ beam
    exposure = vis.exposure
    header = stix_header(vis, exposure, vis.time_range[0])
    maps = stix_maps(vis, imaging, exposure=exposure, header=header)
    provenance = {
        "task": "examples/stix_real_flare.py",
        "visibilities": "xrayvision/data/stix_vis.pkl (.obsvis, .uv)",
        "imaging": imaging.describe(),
    }
    rows = {"split": "test", "id": "flare"}
    for name in ("bp", "clean"):
        write_image(maps[name], out / f"{name}.fits", provenance=provenance, overwrite=True)
        rows[name] = f"{name}.fits"
    manifest = write_manifest([rows], out / "manifest.csv", overwrite=True)
    _, summary = evaluate_split(args.model, manifest, out / "eval", overwrite=args.overwrite)
    print(f"real flare {vis.time_range[0]} – {vis.time_range[1]}, {vis.energy_range} keV")
    print(format_table(summary))

    bp = read_image(out / "bp.fits").data[0]
    cln = read_image(out / "clean.fits").data[0][:256, :256]
    pred = read_image(out / "eval" / "predictions" / "flare.fits").data[0]
    half = imaging.map_size * imaging.pixel_size / 2
    x0, y0 = vis.center
    extent = [x0 - half, x0 + half, y0 - half, y0 + half]
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.4), constrained_layout=True)
    vmax = np.nanmax(cln)
    panels = [
        ("back projection", bp, None),
        ("CLEAN (converged to 2σ)", cln, vmax),
        ("model (from the BP)", pred, vmax),
        ("model − CLEAN", pred - cln, None),
    ]
    for ax, (title, img, top) in zip(axes, panels):
        if title.startswith("model −"):
            lim = np.nanmax(np.abs(img))
            im = ax.imshow(img, origin="lower", extent=extent, cmap="RdBu_r", vmin=-lim, vmax=lim)
        else:
            im = ax.imshow(img, origin="lower", extent=extent, cmap="inferno", vmax=top)
        ax.set_title(title)
        ax.set_xlabel("helioprojective x (arcsec)")
        fig.colorbar(im, ax=ax, shrink=0.8)
    axes[0].set_ylabel("helioprojective y (arcsec)")
    figure = out / "stix_real_flare.png"
    fig.savefig(figure, dpi=110)
    print(f"figure: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
