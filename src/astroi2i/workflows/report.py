"""Report figures: input / prediction / target / residual panels with an astronomical stretch.

Display only: images are rendered through matplotlib for people to look at; no science data
passes through here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["panel_figure", "reliability_figure"]


def panel_figure(rows: list[dict], path, *, title: str = "") -> Path:
    """Write a PNG with one row per stamp: input, prediction, target and residual.

    Each dict in ``rows`` has 2-D arrays ``input``, ``prediction``, ``target`` and a ``label``.
    Input, prediction and target share an asinh display stretch set by the target's 0.5–99.8
    percentiles; the residual (prediction − target) uses a symmetric linear scale. Rows with a
    ``sigma`` (the prediction's σ) add two panels: σ, and |residual| / σ on 0 … 3.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.visualization import AsinhStretch, ImageNormalize, PercentileInterval

    n_cols = 6 if any(row.get("sigma") is not None for row in rows) else 4
    fig, axes = plt.subplots(len(rows), n_cols, figsize=(3 * n_cols, 3.1 * len(rows)),
                             squeeze=False)  # fmt: skip
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
        sigma = row.get("sigma")
        if sigma is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                z = np.abs(residual) / sigma
            panels += [("σ", sigma, dict(vmin=0, vmax=lim, cmap="magma")),
                       ("|residual| / σ", z, dict(vmin=0, vmax=3, cmap="viridis"))]  # fmt: skip
        for c, (name, img, kw) in enumerate(panels):
            ax = axes[r, c]
            im = ax.imshow(img, origin="lower", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{row['label']}: {name}" if c == 0 else name, fontsize=9)
            if c >= 3:
                fig.colorbar(im, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def reliability_figure(curves: dict, path) -> Path:
    """A reliability diagram: for each band, the observed coverage of the central interval
    prediction ± z(p)·σ against the nominal p (a calibrated σ follows the diagonal).
    ``curves`` maps a band name to (nominal, observed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--", label="calibrated")
    for band, (nominal, observed) in curves.items():
        ax.plot(nominal, observed, marker="o", ms=3, label=str(band))
    ax.set_xlabel("nominal coverage (Gaussian interval ± z·σ)")
    ax.set_ylabel("observed coverage")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
