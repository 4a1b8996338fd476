"""Report figures: input / prediction / target / residual panels with an astronomical stretch.

Display only: images are rendered through matplotlib for people to look at; no science data
passes through here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["panel_figure"]


def panel_figure(rows: list[dict], path, *, title: str = "") -> Path:
    """Write a PNG with one row per stamp: input, prediction, target and residual.

    Each dict in ``rows`` has 2-D arrays ``input``, ``prediction``, ``target`` and a ``label``.
    Input, prediction and target share an asinh display stretch set by the target's 0.5–99.8
    percentiles; the residual (prediction − target) uses a symmetric linear scale.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    fig, axes = plt.subplots(len(rows), 4, figsize=(12, 3.1 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        target = row["target"]
        norm = ImageNormalize(target, interval=PercentileInterval(99.3), stretch=AsinhStretch(0.05))
        residual = row["prediction"] - target
        lim = float(np.nanpercentile(np.abs(residual), 99.5)) or 1.0
        panels = [
            ("input", row["input"], dict(norm=norm, cmap="gray")),
            ("prediction", row["prediction"], dict(norm=norm, cmap="gray")),
            ("target", target, dict(norm=norm, cmap="gray")),
            ("residual (pred − target)", residual, dict(vmin=-lim, vmax=lim, cmap="RdBu_r")),
        ]
        for c, (name, img, kw) in enumerate(panels):
            ax = axes[r, c]
            im = ax.imshow(img, origin="lower", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{row['label']}: {name}" if c == 0 else name, fontsize=9)
            if c == 3:
                fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
