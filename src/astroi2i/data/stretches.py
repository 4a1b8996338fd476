"""Invertible intensity stretches, fitted once on training data (per band) and stored in the
checkpoint, so that translate maps physical units → network space → physical units exactly.

Every stretch works on arrays whose band axis is ``-3`` (``(C, H, W)`` or ``(N, C, H, W)``);
fitted parameters are per band. NaN stays NaN. Computation is float64 inside; float32 in gives
float32 out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from astropy.stats import mad_std

from astroi2i.registry import Registry

__all__ = [
    "STRETCHES",
    "Stretch",
    "IdentityStretch",
    "LinearStretch",
    "AsinhStretch",
    "SignedSqrtStretch",
    "LogStretch",
    "HistEqStretch",
    "ExposureStretch",
    "ChainStretch",
    "build_stretch",
]

STRETCHES = Registry("stretch")

#: at most this many finite pixels per band are pooled for fitting (a uniform subsample)
MAX_FIT_SAMPLES = 2_000_000


def _per_band(values, n: int | None = None) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if n is not None and arr.size == 1 and n > 1:
        arr = np.repeat(arr, n)
    return arr


def _bcast(param: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Per-band parameter shaped to broadcast against (..., C, H, W)."""
    if param.size not in (1, x.shape[-3]):
        raise ValueError(f"stretch fitted for {param.size} bands, data has {x.shape[-3]}")
    return param.reshape(-1, 1, 1)


def _out(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    return y.astype(x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float32)


def pooled_samples(images: Iterable[np.ndarray], *, seed: int = 0) -> list[np.ndarray]:
    """Finite pixel values per band from (C, H, W) images, subsampled uniformly to at most
    :data:`MAX_FIT_SAMPLES` per band."""
    images = list(images)
    if not images:
        raise ValueError("cannot fit a stretch on zero images")
    n_bands = images[0].shape[-3]
    rng = np.random.default_rng(seed)
    per_image = max(1, MAX_FIT_SAMPLES // len(images))
    pooled: list[list[np.ndarray]] = [[] for _ in range(n_bands)]
    for image in images:
        if image.shape[-3] != n_bands:
            raise ValueError(f"images with {image.shape[-3]} and {n_bands} bands in one fit")
        for c in range(n_bands):
            v = np.asarray(image[..., c, :, :], np.float64).ravel()
            v = v[np.isfinite(v)]
            if v.size > per_image:
                v = rng.choice(v, per_image, replace=False)
            pooled[c].append(v)
    out = [np.concatenate(p) for p in pooled]
    for c, v in enumerate(out):
        if v.size == 0:
            raise ValueError(f"band {c} has no finite pixel to fit a stretch on")
    return out


class Stretch:
    """Base class. Subclasses define ``_forward``/``_inverse`` on float64 arrays."""

    #: header keyword whose per-image value the stretch needs (ExposureStretch), else None
    exposure_keyword: str | None = None

    def fit(self, images: Iterable[np.ndarray]) -> Stretch:
        """Fit dataset-level parameters on (C, H, W) training images; returns self."""
        return self

    @property
    def fitted(self) -> bool:
        return True

    def forward(self, x: np.ndarray, *, exposure: Sequence[float] | None = None) -> np.ndarray:
        self._check_fitted()
        return _out(self._forward(np.asarray(x, np.float64), exposure), x)

    def inverse(self, y: np.ndarray, *, exposure: Sequence[float] | None = None) -> np.ndarray:
        self._check_fitted()
        return _out(self._inverse(np.asarray(y, np.float64), exposure), y)

    def inverse_sigma(self, y: np.ndarray, s: np.ndarray, *,
                      exposure: Sequence[float] | None = None) -> np.ndarray:  # fmt: skip
        """A standard deviation ``s`` around ``y`` (both in stretched units) in physical units:
        half the width of the interval [y − s, y + s] mapped through the (monotone) inverse.
        For small ``s`` this is |d inverse / dy| · s (the delta method); for large ``s`` it
        follows the stretch's curvature, which a derivative would not."""
        slope = self.inverse_slope(np.asarray(y).shape[-3], exposure)
        if slope is not None:  # affine: exactly |slope|·s, without two inverses
            return _out(np.abs(np.asarray(s)) * np.abs(slope).reshape(-1, 1, 1), y)
        y64, s64 = np.asarray(y, np.float64), np.abs(np.asarray(s, np.float64))
        hi = self.inverse(y64 + s64, exposure=exposure)
        lo = self.inverse(y64 - s64, exposure=exposure)
        return _out(np.abs(hi - lo) / 2.0, y)

    def inverse_slope(self, n_bands: int, exposure=None) -> np.ndarray | None:
        """d inverse / dy per band when the inverse is affine (the same everywhere), else
        None."""
        return None

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(images) first")

    def _forward(self, x: np.ndarray, exposure) -> np.ndarray:
        raise NotImplementedError

    def _inverse(self, y: np.ndarray, exposure) -> np.ndarray:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-safe description: ``{type: Name, **parameters}``."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for key, value in self.params().items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params()})"


@STRETCHES.register
class IdentityStretch(Stretch):
    """No change (data already in network units)."""

    def _forward(self, x, exposure):
        return x

    def _inverse(self, y, exposure):
        return y

    def inverse_slope(self, n_bands, exposure=None):
        return np.ones(n_bands)


@STRETCHES.register
class LinearStretch(Stretch):
    """y = (x − vmin) / (vmax − vmin) with **dataset-level** limits per band.

    The limits are the given ``vmin``/``vmax`` or the ``percentiles`` of all training pixels
    (``[0, 100]`` is min/max). Never per image: the mapping must be the same at translate time.
    No clipping, so the inverse is exact everywhere.
    """

    def __init__(
        self,
        *,
        vmin: float | list[float] | None = None,
        vmax: float | list[float] | None = None,
        percentiles: list[float] = (0.0, 100.0),
    ) -> None:
        self.vmin = None if vmin is None else _per_band(vmin)
        self.vmax = None if vmax is None else _per_band(vmax)
        self.percentiles = [float(p) for p in percentiles]

    @property
    def fitted(self) -> bool:
        return self.vmin is not None and self.vmax is not None

    def fit(self, images):
        samples = pooled_samples(images)
        lo = np.array([np.percentile(v, self.percentiles[0]) for v in samples])
        hi = np.array([np.percentile(v, self.percentiles[1]) for v in samples])
        self.vmin = lo if self.vmin is None else _per_band(self.vmin, lo.size)
        self.vmax = hi if self.vmax is None else _per_band(self.vmax, hi.size)
        same = self.vmax <= self.vmin
        self.vmax = np.where(same, self.vmin + 1.0, self.vmax)  # constant band: unit scale
        return self

    def _forward(self, x, exposure):
        return (x - _bcast(self.vmin, x)) / (_bcast(self.vmax, x) - _bcast(self.vmin, x))

    def _inverse(self, y, exposure):
        return y * (_bcast(self.vmax, y) - _bcast(self.vmin, y)) + _bcast(self.vmin, y)

    def inverse_slope(self, n_bands, exposure=None):
        self._check_fitted()
        return _per_band(self.vmax - self.vmin, n_bands)

    def params(self):
        return {"vmin": self.vmin, "vmax": self.vmax, "percentiles": self.percentiles}


@STRETCHES.register
class AsinhStretch(Stretch):
    """y = asinh(x / softening), per band.

    ``softening`` sets where the stretch turns from linear to logarithmic, in data units.
    S-PLUS in the SRGAN seed is asinh(10x/3), i.e. ``softening=0.3``; Legacy Survey asinh(100x/3)
    is ``softening=0.03``. ``softening="auto"`` fits ``noise_factor`` × the background noise
    (MAD sigma) of each band on the training set. Unlike astropy's AsinhStretch (which expects
    data already normalised to [0, 1]) this acts on physical units; add a LinearStretch in a
    ChainStretch for dataset-level normalisation afterwards.
    """

    def __init__(
        self, *, softening: float | list[float] | str = "auto", noise_factor: float = 3.0
    ) -> None:
        if isinstance(softening, str) and softening != "auto":
            raise ValueError(f"softening must be a number, a list or 'auto', got {softening!r}")
        self.softening = softening if isinstance(softening, str) else _per_band(softening)
        self.noise_factor = float(noise_factor)

    @property
    def fitted(self) -> bool:
        return not isinstance(self.softening, str)

    def fit(self, images):
        if isinstance(self.softening, str):
            sig = np.array([float(mad_std(v)) for v in pooled_samples(images)])
            sig = np.where(sig > 0, sig, 1.0)
            self.softening = self.noise_factor * sig
        return self

    def _forward(self, x, exposure):
        return np.arcsinh(x / _bcast(self.softening, x))

    def _inverse(self, y, exposure):
        return np.sinh(y) * _bcast(self.softening, y)

    def params(self):
        return {"softening": self.softening, "noise_factor": self.noise_factor}


@STRETCHES.register
class SignedSqrtStretch(Stretch):
    """Lin et al.: I = sign(I0)·(√(|I0|+1) − 1) with I0 = x / ``flux_scale``.

    CFHT in Lin et al. is divided by 1000 first (``flux_scale=1000``) to match SDSS levels.
    """

    def __init__(self, *, flux_scale: float = 1.0) -> None:
        if flux_scale <= 0:
            raise ValueError(f"flux_scale must be positive, got {flux_scale}")
        self.flux_scale = float(flux_scale)

    def _forward(self, x, exposure):
        x0 = x / self.flux_scale
        return np.sign(x0) * (np.sqrt(np.abs(x0) + 1.0) - 1.0)

    def _inverse(self, y, exposure):
        return np.sign(y) * ((np.abs(y) + 1.0) ** 2 - 1.0) * self.flux_scale

    def params(self):
        return {"flux_scale": self.flux_scale}


@STRETCHES.register
class LogStretch(Stretch):
    """astropy's LogStretch, y = log(a·z + 1) / log(a + 1), on z = (x − vmin)/(vmax − vmin)
    with dataset-level limits. Invertible for z > −1/a; values below that become NaN (there is
    no real logarithm), so choose ``percentiles[0]`` low enough for your noise."""

    def __init__(
        self,
        *,
        a: float = 1000.0,
        vmin: float | list[float] | None = None,
        vmax: float | list[float] | None = None,
        percentiles: list[float] = (0.0, 100.0),
    ) -> None:
        from astropy.visualization import LogStretch as _AstropyLog

        self.a = float(a)
        self._astropy = _AstropyLog(a=self.a)
        self._linear = LinearStretch(vmin=vmin, vmax=vmax, percentiles=percentiles)

    @property
    def fitted(self) -> bool:
        return self._linear.fitted

    def fit(self, images):
        self._linear.fit(images)
        return self

    def _forward(self, x, exposure):
        z = self._linear._forward(x, exposure)
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._astropy(z, clip=False)

    def _inverse(self, y, exposure):
        return self._linear._inverse(self._astropy.inverse(y, clip=False), exposure)

    def params(self):
        return {"a": self.a, **self._linear.params()}


@STRETCHES.register
class ExposureStretch(Stretch):
    """Divide by each image's exposure (STIX; any count-rate normalisation).

    The exposure is read per image from header ``keyword`` (EXPTIME by default) by the dataset
    and by translate, and passed as ``exposure=`` (one value per band or one for all).
    """

    def __init__(self, *, keyword: str = "EXPTIME") -> None:
        self.keyword = keyword
        self.exposure_keyword = keyword

    def _exposure(self, exposure, x) -> np.ndarray:
        if exposure is None:
            raise ValueError(f"ExposureStretch needs the {self.keyword} value of each image")
        e = _per_band(exposure, x.shape[-3])
        if np.any(~np.isfinite(e)) or np.any(e <= 0):
            raise ValueError(f"{self.keyword} must be positive, got {e.tolist()}")
        return _bcast(e, x)

    def _forward(self, x, exposure):
        return x / self._exposure(exposure, x)

    def _inverse(self, y, exposure):
        return y * self._exposure(exposure, y)

    def inverse_slope(self, n_bands, exposure=None):
        return self._exposure(exposure, np.zeros((n_bands, 1, 1)))[:, 0, 0]

    def params(self):
        return {"keyword": self.keyword}


@STRETCHES.register
class ChainStretch(Stretch):
    """Several stretches one after the other, e.g. exposure → asinh → dataset min-max.
    ``fit`` fits each step on the training images as transformed by the steps before it."""

    def __init__(self, *, steps: list[dict]) -> None:
        self.stretches = [s if isinstance(s, Stretch) else build_stretch(s) for s in steps]
        keys = {s.exposure_keyword for s in self.stretches} - {None}
        self.exposure_keyword = keys.pop() if keys else None

    @property
    def fitted(self) -> bool:
        return all(s.fitted for s in self.stretches)

    def fit(self, images, *, exposures=None):
        images = [np.asarray(im, np.float64) for im in images]
        for s in self.stretches:
            s.fit(images)
            if exposures is None:
                images = [
                    s._forward(im, None) if s.exposure_keyword is None else im for im in images
                ]
            else:
                images = [s._forward(im, e) for im, e in zip(images, exposures)]
        return self

    def _forward(self, x, exposure):
        for s in self.stretches:
            x = s._forward(x, exposure)
        return x

    def _inverse(self, y, exposure):
        for s in reversed(self.stretches):
            y = s._inverse(y, exposure)
        return y

    def inverse_slope(self, n_bands, exposure=None):
        slopes = [s.inverse_slope(n_bands, exposure) for s in self.stretches]
        return None if any(v is None for v in slopes) else np.prod(slopes, axis=0)

    def to_dict(self):
        return {"type": "ChainStretch", "steps": [s.to_dict() for s in self.stretches]}


# the quantile-mapping stretch lives in its own module (it registers itself on import)
from astroi2i.data.histeq import HistEqStretch  # noqa: E402


def build_stretch(spec: dict) -> Stretch:
    """Build a stretch from ``{type: Name, **params}`` (a recipe entry or a stored dict)."""
    return STRETCHES.build(spec, "stretch")
