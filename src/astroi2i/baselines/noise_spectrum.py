"""Emulated noise shaped to the survey's measured power spectrum.

A two-way translator's noise-free output is not free of noise: it keeps part of the source
survey's noise and its own small-scale errors, and these add to the emulated noise. An
emulator anchored to the target survey's measured σ (:class:`~astroi2i.archs.twoway.
NoiseEmulator` with ``anchor=True``) then gives a sum that is too noisy — measured: 1.23× the
CFHT background σ in SDSS → CFHT — and lowering its white level to compensate leaves the high
frequencies short (the left-over noise is correlated). What the emulated noise has to add is
the *difference* of the two spectra, frequency by frequency: with P_t(k) the radially averaged
background power of the survey's images, P_l(k) that of the noise-free translations of the
same stamps and P_e(k) that of the emulated noise, the emulated noise is filtered with the
radial gain

    G(k) = sqrt(max(P_t(k) − P_l(k), floor · P_t(k)) / P_e(k)),

so that, the two being independent, P_l + G² P_e = P_t wherever the translation leaves room
(elsewhere nothing can be taken away by adding noise, and G is small). The gain is fitted on
validation pairs (:func:`astroi2i.workflows.correction.fit_twoway_correction`), stored per
direction and band, and applied in physical units by
:func:`astroi2i.baselines.radial_filter.radial_filter` (an FFT filter over the whole image: the
noise of a two-way translation is made for one stamp at a time).
"""

from __future__ import annotations

import numpy as np

__all__ = ["spectral_gain", "GAIN_FLOOR"]

#: the smallest share of the survey's power the emulated noise keeps at any frequency
GAIN_FLOOR = 0.05


def spectral_gain(p_target, p_left, p_noise, floor: float = GAIN_FLOOR) -> np.ndarray:
    """G(k) (see the module text) from the three radial power spectra on the same bins;
    1 where a spectrum is not finite or the emulated noise has no power."""
    p_target, p_left, p_noise = (np.asarray(p, np.float64) for p in (p_target, p_left, p_noise))
    want = np.maximum(p_target - p_left, floor * p_target)
    ok = np.isfinite(want) & np.isfinite(p_noise) & (p_noise > 0) & (want >= 0)
    gain = np.ones_like(want)
    gain[ok] = np.sqrt(want[ok] / p_noise[ok])
    return gain
