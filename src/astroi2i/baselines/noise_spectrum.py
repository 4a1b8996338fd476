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
direction and band, and applied in physical units by :func:`shape_noise` (an FFT filter over
the whole image: the noise of a two-way translation is made for one stamp at a time).
"""

from __future__ import annotations

import numpy as np

__all__ = ["spectral_gain", "shape_noise", "GAIN_FLOOR"]

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


def shape_noise(noise: np.ndarray, k: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``noise`` (C, H, W) filtered band by band with the radial gain ``gains[c]`` given at
    radial frequencies ``k`` (cycles per pixel; linear in between, the end values beyond). NaN
    pixels are taken as 0 for the filter and stay NaN."""
    noise = np.asarray(noise)
    out = np.empty_like(noise)
    h, w = noise.shape[-2:]
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.rfftfreq(w), indexing="ij"))
    for c in range(noise.shape[0]):
        bad = ~np.isfinite(noise[c])
        spectrum = np.fft.rfft2(np.where(bad, 0.0, noise[c]).astype(np.float64))
        response = np.interp(radius, np.asarray(k, np.float64), np.asarray(gains[c], np.float64))
        shaped = np.fft.irfft2(spectrum * response, s=(h, w))
        out[c] = np.where(bad, np.nan, shaped).astype(noise.dtype)
    return out
