"""Synthetic white-light coronagraph scenes (LASCO C3-like), so inpainting trains end to end
without a network: occulter and pylon, a radial F-corona falloff, streamers, CME-like blobs,
background stars and photon noise.

Brightness is in DN/s on an arbitrary but fixed scale: the F + K corona falls as r^-2.5 from
``peak`` at the occulter edge; streamers add r^-3 rays with Gaussian position-angle profiles;
CMEs are bright curved fronts (Gaussian shells over an angular sector) with a fainter core.
"""

from __future__ import annotations

import numpy as np

from astroi2i.sky.masks import coronagraph_geometry

__all__ = ["coronagraph_scene", "CORONAGRAPH_GEOMETRY"]

#: geometry as fractions of the image size (LASCO C3: occulter 3.7 R☉, field 30 R☉ of 1024 px)
CORONAGRAPH_GEOMETRY = {"occulter": 0.06, "field_stop": 0.47, "pylon_width": 0.03}


def coronagraph_scene(
    rng: np.random.Generator,
    size: int = 256,
    *,
    peak: float = 2000.0,
    exposure: float = 20.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A (size, size) float32 scene in DN/s and its geometry mask (True = occulter, pylon or
    outside the field stop: not sky). The scene is NaN under the geometry mask. Photon noise
    is drawn for ``exposure`` seconds."""
    c = (size - 1) / 2 + rng.uniform(-2, 2, size=2)
    y, x = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = x - c[0], y - c[1]
    r0 = CORONAGRAPH_GEOMETRY["occulter"] * size
    r = np.maximum(np.hypot(dx, dy), r0) / r0  # in occulter radii
    pa = np.arctan2(dy, dx)

    image = peak * r**-2.5 * (1 + 0.15 * np.cos(2 * (pa - rng.uniform(0, np.pi))))  # F + K
    for _ in range(int(rng.integers(2, 7))):  # streamers
        centre, width = rng.uniform(-np.pi, np.pi), rng.uniform(0.05, 0.25)
        d = np.angle(np.exp(1j * (pa - centre)))
        image += rng.uniform(0.2, 1.0) * peak * r**-3.0 * np.exp(-0.5 * (d / width) ** 2)
    for _ in range(int(rng.integers(0, 3))):  # CME fronts
        centre, span = rng.uniform(-np.pi, np.pi), rng.uniform(0.3, 1.2)
        front, thick = rng.uniform(2.0, 7.0), rng.uniform(0.2, 0.6)
        d = np.angle(np.exp(1j * (pa - centre)))
        sector = np.clip(1 - (np.abs(d) / (span / 2)) ** 2, 0, None)
        shell = np.exp(-0.5 * ((r - front) / thick) ** 2) + 0.3 * (r < front) * np.exp(
            -0.5 * ((r - 0.6 * front) / (0.4 * front)) ** 2
        )
        image += rng.uniform(0.5, 3.0) * peak * front**-2.5 * sector * shell
    for _ in range(int(rng.integers(20, 60))):  # stars (PSF σ ≈ 1 px)
        sx, sy = rng.uniform(0, size, size=2)
        flux = float(np.exp(rng.uniform(np.log(20.0), np.log(2000.0))))
        image += flux / (2 * np.pi) * np.exp(-0.5 * ((x - sx) ** 2 + (y - sy) ** 2))
    counts = rng.poisson(np.clip(image, 0, None) * exposure)
    image = (counts / exposure).astype(np.float32)

    geometry = coronagraph_geometry(
        (size, size),
        (float(c[0]), float(c[1])),
        occulter=r0,
        field_stop=CORONAGRAPH_GEOMETRY["field_stop"] * size,
        pylon_angle=rng.uniform(200.0, 250.0),
        pylon_width=CORONAGRAPH_GEOMETRY["pylon_width"] * size,
    )
    image[geometry] = np.nan
    return image, geometry
