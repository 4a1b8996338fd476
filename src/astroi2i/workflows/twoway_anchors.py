"""What two-way models are anchored to, measured on their data: each survey's pixel noise (for
the noise emulators) and the radial filter that takes the regrid reference towards the other
survey (PSF matching, for ``ScaleGenerator(anchor_filter=True)`` and ``compare``'s
"regrid + fitted filter" reference)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np

__all__ = [
    "measure_anchors",
    "measure_domain_noise",
    "fitted_regrid_filters",
    "fit_training_regrid_filters",
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
        k, gain = fitted_transfer(sums[:, 0], sums[:, 1])
        out[to] = {"k": k, "gain": gain, "n_pairs": len(pairs)}
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
