"""What two-way models are anchored to, measured on their data: each survey's pixel noise (for
the noise emulators) and the radial filter that takes the regrid reference towards the other
survey (PSF matching, for ``ScaleGenerator(anchor_filter=True)`` and ``compare``'s
"regrid + fitted filter" reference), and the smooth background between sources chosen for a
noise-free translation (:func:`choose_background`)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np

__all__ = [
    "measure_anchors",
    "measure_domain_noise",
    "fitted_regrid_filters",
    "fit_training_regrid_filters",
    "choose_background",
    "BACKGROUND_GRID",
]

log = logging.getLogger(__name__)

#: what is measured on the training data when a run starts, and travels with a resumed run
MEASURED = ("noise_sigma", "regrid_filter")


def measure_anchors(train_set, meta: dict, stretch_a, stretch_b, resumed=None) -> None:
    """At the start of a two-way run, into ``meta["two_way"]``: each survey's pixel noise and
    the regrid filters (:func:`measure_domain_noise`, :func:`fit_training_regrid_filters`); a
    resumed run keeps those it started with (``resumed``: its description)."""
    if resumed is None:
        measure_domain_noise(train_set, meta["two_way"])
        fit_training_regrid_filters(train_set, meta, stretch_a, stretch_b)
        return
    for side, entry in meta["two_way"].items():
        kept = resumed.two_way.get(side) or {}
        entry.update({key: kept[key] for key in MEASURED if key in kept})


def measure_domain_noise(train_set, domains: dict) -> None:
    """Each domain's pixel noise per band, in its stretched units, on its training images:
    the median over images of the Immerkær σ (:func:`astroi2i.metrics.noise.pixel_noise`),
    stored as ``two_way[side]["noise_sigma"]`` for noise emulators anchored to it."""
    from astroi2i.metrics.noise import pixel_noise

    pools = train_set.pools
    for side, names in (("a", ("unpaired_a", 0)), ("b", ("unpaired_b", 1))):
        images = [item[0] for item in pools[names[0]]]
        images += [pair[names[1]] for pair in pools["paired"]]
        sigma = [
            float(np.median([pixel_noise(x[c], mask) for x, mask in images]))
            for c in range(images[0][0].shape[0])
        ]
        domains[side]["noise_sigma"] = sigma
        log.info("domain %s: pixel noise σ per band (stretched) %s", side,
                 ", ".join(f"{v:.4g}" for v in sigma))  # fmt: skip


def fitted_regrid_filters(meta, pairs) -> dict:
    """Per direction (``"b"``, ``"a"``): the radial filter ``{"k", "gain", "n_pairs"}`` that
    takes the regrid reference towards the target survey's images — its PSF and noise —
    fitted on ``pairs`` of physical arrays (A, B), NaN where invalid
    (:mod:`astroi2i.baselines.radial_filter`; fluxes kept)."""
    from astroi2i.baselines.radial_filter import fitted_transfer, transfer_sums
    from astroi2i.workflows.twoway import regrid_baseline

    out = {}
    for to in ("b", "a"):
        sums = 0.0
        for a, b in pairs:
            source, target = (a, b) if to == "b" else (b, a)
            ref = regrid_baseline(source, meta, to)
            sums = sums + np.array([transfer_sums(ref[c], target[c]) for c in range(len(ref))])
        k, gain = fitted_transfer(sums[:, 0], sums[:, 1], sums[:, 2])
        out[to] = {"k": k, "gain": gain, "n_pairs": len(pairs), "interpolation": "k2"}
    return out


def fit_training_regrid_filters(train_set, meta: dict, stretch_a, stretch_b) -> None:
    """:func:`fitted_regrid_filters` on the paired training stamps (taken back to physical
    units with the domains' fitted stretches), stored as ``two_way[side]["regrid_filter"]``."""
    pairs = []
    for (xa, ma), (xb, mb) in train_set.pools["paired"]:
        if xa.shape[0] != xb.shape[0]:  # band by band only between the same bands
            return
        a, b = stretch_a.inverse(xa), stretch_b.inverse(xb)
        pairs.append((np.where(ma, np.nan, a), np.where(mb, np.nan, b)))
    if not pairs:
        return
    stretches = {"inputs": stretch_a.to_dict(), "targets": stretch_b.to_dict()}
    view = SimpleNamespace(two_way=meta["two_way"], stretches=stretches)
    for side, entry in fitted_regrid_filters(view, pairs).items():
        meta["two_way"][side]["regrid_filter"] = entry
    log.info("regrid filters fitted on %d paired training stamps", len(pairs))


#: the (nsigma, scale in output pixels) tried by :func:`choose_background`
BACKGROUND_GRID = tuple((n, s) for n in (2.0, 3.0, 5.0) for s in (4.0, 8.0, 16.0))


def choose_background(images, truths, grid=BACKGROUND_GRID) -> dict:
    """Per band, whether and how to replace the background between sources of a noise-free
    translation by its smooth estimate (:func:`astroi2i.baselines.background.
    smooth_background`): every (nsigma, scale) of ``grid`` is scored by the mean PSNR over
    the pairs of ``images`` (noise-free translations, (C, H, W) physical) against ``truths``
    (the noise-free truths, or the noisy targets: their noise adds the same error to every
    candidate); a band is smoothed with its best candidate only where that beats leaving it
    as it is. Returns ``{"on", "nsigma", "scale", "psnr_off", "psnr_on", "n_pairs"}``, per
    band."""
    from astroi2i.baselines.background import smooth_background
    from astroi2i.metrics.image import psnr as score

    n_bands = images[0].shape[0]
    psnr = np.zeros((1 + len(grid), n_bands, len(images)))
    for j, (image, truth) in enumerate(zip(images, truths)):
        candidates = [image] + [smooth_background(image, nsigma=n, scale=s) for n, s in grid]
        for k, candidate in enumerate(candidates):
            psnr[k, :, j] = [score(candidate[c], truth[c]) for c in range(n_bands)]
    mean = np.nan_to_num(np.nanmean(psnr, axis=2), nan=-np.inf)
    best = 1 + np.argmax(mean[1:], axis=0)
    on = [bool(mean[best[c], c] > mean[0, c]) for c in range(n_bands)]
    return {"on": on,
            "nsigma": [grid[best[c] - 1][0] for c in range(n_bands)],
            "scale": [grid[best[c] - 1][1] for c in range(n_bands)],
            "psnr_off": [round(float(v), 4) for v in mean[0]],
            "psnr_on": [round(float(mean[best[c], c]), 4) for c in range(n_bands)],
            "n_pairs": len(images)}  # fmt: skip
