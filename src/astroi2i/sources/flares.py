"""Random solar-flare source models for the STIX simulator: elliptical Gaussians, loops and
footpoint pairs (positions and sizes in arcsec, fluxes in count rates), and their rendering
onto a map grid (supersampled, flux-conserving)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["FlareSource", "Flare", "random_flare", "render_sources", "STIX_SOURCE_KINDS"]

STIX_SOURCE_KINDS = ("gaussian", "loop", "footpoints")


@dataclass(frozen=True)
class FlareSource:
    """One emission component. Positions in arcsec from the map centre (x right, y up);
    sizes are FWHM in arcsec; ``flux`` is the count rate, ct/(cm² keV s).

    kind ``gaussian``: elliptical Gaussian (fwhm, ratio = minor/major, angle in degrees).
    kind ``loop``: an arc of radius ``radius`` spanning ``span`` degrees around ``angle``,
    with a Gaussian cross-section of FWHM ``fwhm``.
    """

    kind: str
    x: float
    y: float
    flux: float
    fwhm: float
    ratio: float = 1.0
    angle: float = 0.0
    radius: float = 0.0
    span: float = 0.0


@dataclass(frozen=True)
class Flare:
    sources: tuple[FlareSource, ...]
    n_sources: int  # emission peaks: a footpoint pair counts as two
    kinds: tuple[str, ...] = field(default_factory=tuple)

    @property
    def flux(self) -> float:
        return float(sum(s.flux for s in self.sources))


_FWHM = 2.0 * math.sqrt(2.0 * math.log(2.0))


def _loguniform(rng, lo, hi):
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def random_flare(
    rng: np.random.Generator,
    n_sources: int,
    *,
    flux_range: tuple[float, float] = (5.0, 300.0),
    size_range: tuple[float, float] = (5.0, 60.0),
    max_offset: float = 50.0,
) -> Flare:
    """A random flare with ``n_sources`` emission peaks (1–4): elliptical Gaussians, loops
    (arcs) and footpoint pairs (two compact sources, counting as two). The total count rate is
    log-uniform in ``flux_range``; sizes (FWHM) log-uniform in ``size_range`` arcsec; source
    centres within ``max_offset`` arcsec of the map centre."""
    if not 1 <= n_sources <= 4:
        raise ValueError(f"n_sources must be 1–4, got {n_sources}")
    total = _loguniform(rng, *flux_range)
    parts: list[FlareSource] = []
    kinds: list[str] = []
    left = n_sources
    while left > 0:
        kind = str(rng.choice(STIX_SOURCE_KINDS if left >= 2 else STIX_SOURCE_KINDS[:2]))
        x, y = rng.uniform(-max_offset, max_offset, size=2)
        if kind == "gaussian":
            parts.append(
                FlareSource(
                    "gaussian",
                    x,
                    y,
                    1.0,
                    _loguniform(rng, *size_range),
                    ratio=rng.uniform(0.4, 1.0),
                    angle=rng.uniform(0, 180),
                )
            )
            left -= 1
        elif kind == "loop":
            radius = rng.uniform(10.0, 35.0)
            parts.append(
                FlareSource(
                    "loop",
                    x,
                    y,
                    1.0,
                    rng.uniform(size_range[0], 12.0),
                    angle=rng.uniform(0, 360),
                    radius=radius,
                    span=rng.uniform(60.0, 180.0),
                )
            )
            left -= 1
        else:  # footpoints: two compact sources 15–60″ apart
            sep, theta = rng.uniform(15.0, 60.0), rng.uniform(0, 2 * np.pi)
            dx, dy = 0.5 * sep * np.cos(theta), 0.5 * sep * np.sin(theta)
            w = rng.uniform(0.3, 1.0)
            for sign, weight in ((1, 1.0), (-1, w)):
                parts.append(
                    FlareSource(
                        "gaussian",
                        x + sign * dx,
                        y + sign * dy,
                        weight,
                        rng.uniform(size_range[0], 12.0),
                        ratio=rng.uniform(0.6, 1.0),
                        angle=rng.uniform(0, 180),
                    )
                )
            left -= 2
        kinds.append(kind)
    # the relative brightness of the components, then the total
    weights = np.array([p.flux for p in parts]) * np.array(
        [_loguniform(rng, 0.3, 1.0) for _ in parts]
    )
    weights = weights / weights.sum() * total
    sources = tuple(replace(p, flux=float(f)) for p, f in zip(parts, weights))
    return Flare(sources, n_sources, tuple(kinds))


def _grid(n: int, pixel_size: float, shift: float = 0.0) -> np.ndarray:
    """Pixel-centre coordinates (arcsec) of an n-pixel axis, xrayvision's convention."""
    return (np.arange(n) - n / 2 + 0.5) * pixel_size + shift


def render_sources(flare: Flare, n: int, pixel_size: float) -> np.ndarray:
    """The true flux per pixel (ct/(cm² keV s)) on the BP grid, ``(n, n)``; each component is
    rendered at 3×3 sub-pixels and scaled so the map sums to its flux."""
    sub = 3
    fine = _grid(n * sub, pixel_size / sub)
    xx, yy = np.meshgrid(fine, fine)
    image = np.zeros((n, n))
    for s in flare.sources:
        sigma = s.fwhm / _FWHM
        if s.kind == "gaussian":
            t = np.deg2rad(s.angle)
            dx, dy = xx - s.x, yy - s.y
            a = dx * np.cos(t) + dy * np.sin(t)
            b = -dx * np.sin(t) + dy * np.cos(t)
            f = np.exp(-0.5 * ((a / sigma) ** 2 + (b / (sigma * s.ratio)) ** 2))
        elif s.kind == "loop":
            dx, dy = xx - s.x, yy - s.y
            r = np.hypot(dx, dy)
            phi = np.angle(np.exp(1j * (np.arctan2(dy, dx) - np.deg2rad(s.angle))))
            half = np.deg2rad(s.span) / 2
            window = np.clip(1.0 - (np.abs(phi) / half) ** 4, 0.0, None)
            f = np.exp(-0.5 * ((r - s.radius) / sigma) ** 2) * window
        else:
            raise ValueError(f"unknown source kind {s.kind!r}")
        f = f.reshape(n, sub, n, sub).sum(axis=(1, 3))
        total = f.sum()
        if total > 0:
            image += s.flux * f / total
    return image
