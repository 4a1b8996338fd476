"""Classical methods a learned model is measured against and starts from (fills, fits,
resampling). numpy, scipy and scikit-image only: no torch, no astropy, nothing of astroi2i
above ``errors``, so networks, datasets, metrics and workflows can all use the same code."""

from astroi2i.baselines.fills import biharmonic_fill, border_mean_fill

__all__ = ["biharmonic_fill", "border_mean_fill"]
