"""Classical methods a learned model is measured against and starts from (fills, fits,
resampling). numpy, scipy and scikit-image only: no torch, no astropy, nothing of astroi2i
above ``errors``, so networks, datasets, metrics and workflows can all use the same code."""

from astroi2i.baselines.fills import biharmonic_fill, border_mean_fill
from astroi2i.baselines.linear import LinearSmoothBaseline
from astroi2i.baselines.resample import bicubic_upsample

__all__ = [
    "biharmonic_fill",
    "border_mean_fill",
    "bicubic_upsample",
    "LinearSmoothBaseline",
    "baseline_from_dict",
]

_FITTED = {"LinearSmoothBaseline": LinearSmoothBaseline}


def baseline_from_dict(spec: dict | None):
    """The fitted baseline a model description stores (``None`` → ``None``)."""
    if spec is None:
        return None
    if spec.get("type") not in _FITTED:
        raise ValueError(f"unknown baseline {spec.get('type')!r}; known: {', '.join(_FITTED)}")
    return _FITTED[spec["type"]].from_dict(spec)
