"""What two-way models are anchored to, measured on their data: each survey's pixel noise (for
the noise emulators) and the radial filter that takes the regrid reference towards the other
survey (PSF matching, for ``ScaleGenerator(anchor_filter=True)`` and ``compare``'s
"regrid + fitted filter" reference), and the classical finish of a noise-free translation:
flux anchoring and a smooth background between sources (:func:`choose_finish`)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np

__all__ = [
    "measure_anchors",
    "measure_domain_noise",
    "fitted_regrid_filters",
    "fit_training_regrid_filters",
    "apply_finish",
    "choose_finish",
    "finish_entries",
    "pick",
    "score_finishes",
    "BACKGROUND_GRID",
    "FINISH_RULES",
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


#: the (nsigma, scale in output pixels) tried by :func:`choose_finish`; the background is the
#: local plane (``smooth_background(order=1)``), which keeps a galaxy's faint wings better than
#: the masked average (``order=0``, the choice stored by models fitted before the
#: photometry rule)
BACKGROUND_GRID = tuple((n, s) for n in (2.0, 3.0, 5.0) for s in (4.0, 8.0, 16.0))
BACKGROUND_ORDER = 1

#: how :func:`choose_finish` chooses: ``photometry`` keeps every band's galaxy fluxes at least
#: as good as the regrid reference's (the flux-conserving classical answer) and takes the
#: highest PSNR within that; ``psnr`` takes the highest PSNR
FINISH_RULES = ("photometry", "psnr")


def _truth_segments(truth) -> list:
    """Per band of one (C, H, W) truth, its central segment and flux (``compare``'s measure,
    :func:`astroi2i.metrics.galaxy.central_segment`); None where it has no source."""
    from astroi2i.metrics.galaxy import central_segment, segment_flux

    out = []
    for band in truth:
        segm = central_segment(band)
        flux = segment_flux(band, segm) if segm is not None else np.nan
        out.append((segm, flux) if flux > 0 else None)
    return out


def _flux_errors(image, segments) -> np.ndarray:
    """Per band, |F/F_truth − 1| of the central galaxy of one (C, H, W) image in the truth's
    segments (:func:`_truth_segments`); NaN where the truth has no source."""
    from astroi2i.metrics.galaxy import segment_flux

    return np.array([abs(segment_flux(band, seg[0]) / seg[1] - 1) if seg else np.nan
                     for band, seg in zip(image, segments)])  # fmt: skip


def apply_finish(image: np.ndarray, reference, anchor_bands, smooth: dict | None) -> np.ndarray:
    """``image`` (C, H, W, physical) finished as a translation is: its sources' flux from
    ``reference`` (the regrid reference) in ``anchor_bands``, then its background between
    sources smoothed as the stored ``smooth`` entry says (``{"on", "nsigma", "scale"[,
    "order"]}``; no ``order``: the masked average it was chosen with; None: not smoothed)."""
    from astroi2i.baselines.background import smooth_background
    from astroi2i.baselines.flux_anchor import anchor_flux

    if any(anchor_bands):
        image = anchor_flux(image, reference, bands=list(anchor_bands))[0]
    if smooth and any(smooth["on"]):
        image = smooth_background(image, nsigma=smooth["nsigma"], scale=smooth["scale"],
                                  bands=smooth["on"], order=smooth.get("order", 0))  # fmt: skip
    return image


def _finishes(image, reference, grid):
    """The candidates of :func:`choose_finish` for one image: for anchoring off, then on, the
    image unsmoothed, then smoothed with each (nsigma, scale) of ``grid``."""
    from astroi2i.baselines.background import smooth_background
    from astroi2i.baselines.flux_anchor import anchor_flux

    out = []
    for base in (image, anchor_flux(image, reference)[0]):
        out.append(base)
        out += [smooth_background(base, nsigma=n, scale=s, order=BACKGROUND_ORDER)
                for n, s in grid]  # fmt: skip
    return out


def pick(psnr: np.ndarray, flux_err: np.ndarray, limit: float, rule: str) -> int:
    """The index of the candidate :func:`choose_finish` takes for one band, from each
    candidate's mean PSNR and median flux error and the regrid reference's flux error
    ``limit`` (NaN: no galaxy to measure, and the PSNR decides); ties go to the first."""
    if rule == "psnr" or not np.isfinite(limit):
        return int(np.argmax(psnr))
    admissible = flux_err <= limit
    if admissible.any():
        return int(np.argmax(np.where(admissible, psnr, -np.inf)))
    return int(np.argmin(flux_err))


def score_finishes(images, references, truths, grid=BACKGROUND_GRID):
    """Every finish of :func:`choose_finish` scored on the pairs: (mean PSNR, median flux
    error), each (candidate, band) — candidate k < 1 + len(grid) without flux anchoring,
    k % (1 + len(grid)) == 0 unsmoothed —, and the regrid ``references``' median flux error
    per band."""
    from astroi2i.metrics.image import psnr as score

    n_bands, size = images[0].shape[0], 1 + len(grid)
    psnr = np.zeros((2 * size, n_bands, len(images)))
    flux = np.zeros_like(psnr)
    regrid = np.zeros((n_bands, len(images)))
    for j, (image, reference, truth) in enumerate(zip(images, references, truths)):
        segments = _truth_segments(truth)
        candidates = _finishes(image, reference, grid)
        psnr[:, :, j] = [[score(x[c], truth[c]) for c in range(n_bands)] for x in candidates]
        flux[:, :, j] = [_flux_errors(x, segments) for x in candidates]
        regrid[:, j] = _flux_errors(reference, segments)
    return (np.nan_to_num(np.nanmean(psnr, axis=2), nan=-np.inf),
            np.nan_to_num(np.nanmedian(flux, axis=2), nan=np.inf),
            np.nanmedian(regrid, axis=1))  # fmt: skip


def finish_entries(best, mean, median, limit, *, rule: str, n_pairs: int,
                   grid=BACKGROUND_GRID) -> tuple[dict, dict]:  # fmt: skip
    """The stored (``flux_anchor``, ``background``) entries of the candidates ``best`` (one
    index per band) of :func:`score_finishes`' arrays."""
    n_bands, size = mean.shape[1], 1 + len(grid)
    smoothing = [grid[k % size - 1] if k % size else grid[0] for k in best]
    rounded = lambda v: [round(float(x), 6) for x in v]  # noqa: E731
    common = {"rule": rule, "n_pairs": n_pairs}
    anchor = {"on": [k >= size for k in best], **common}
    background = {"on": [k % size > 0 for k in best], "nsigma": [n for n, _ in smoothing],
                  "scale": [s for _, s in smoothing], "order": [BACKGROUND_ORDER] * n_bands,
                  "psnr": rounded(mean[best, range(n_bands)]),
                  "flux_err": rounded(median[best, range(n_bands)]),
                  "psnr_as_is": rounded(mean[0]), "flux_err_as_is": rounded(median[0]),
                  "flux_err_regrid": rounded(limit), **common}  # fmt: skip
    return anchor, background


def choose_finish(images, references, truths, grid=BACKGROUND_GRID, *,
                  rule: str = "photometry") -> tuple[dict, dict]:  # fmt: skip
    """Per band, the classical finish of noise-free translations (``images``, (C, H, W)
    physical): whether each source takes the flux of the regrid reference (``references``;
    :func:`astroi2i.baselines.flux_anchor.anchor_flux`), then whether and how the background
    between sources is smoothed (:func:`astroi2i.baselines.background.smooth_background`,
    each (nsigma, scale) of ``grid``). Every combination is scored on the pairs against
    ``truths`` (the noise-free truths, or the noisy targets): the mean PSNR, and the median
    flux error of the central galaxy as ``compare`` measures it (:func:`score_finishes`).

    ``rule`` (:data:`FINISH_RULES`): ``photometry`` takes, among the combinations whose
    median flux error is at most the regrid reference's own, the highest mean PSNR, and
    where none is, the smallest flux error (a smoothing that costs a galaxy's faint wings, or
    a learned translator's flux bias, is not traded for PSNR); ``psnr`` takes the highest
    mean PSNR (:func:`pick`). Returns (``flux_anchor`` entry, ``background`` entry), the
    latter with the chosen and the as-is scores and the reference's flux error, per band."""
    if rule not in FINISH_RULES:
        raise ValueError(f"rule {rule!r}: expected one of {FINISH_RULES}")
    mean, median, limit = score_finishes(images, references, truths, grid)
    best = [pick(mean[:, c], median[:, c], limit[c], rule) for c in range(mean.shape[1])]
    return finish_entries(best, mean, median, limit, rule=rule, n_pairs=len(images), grid=grid)
