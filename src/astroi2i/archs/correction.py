"""The weight of a learned correction to a classical prior.

Generators that start at a classical answer P (bicubic, a biharmonic fill) and learn a
correction Δ on top of it return P + w·Δ, with w = 1 while training. After training, ``train``
and ``calibrate`` choose w per band on held-out pairs (:mod:`astroi2i.workflows.correction`):
w = 0 gives the classical answer back, so a correction that does not carry to held-out data
is shrunk instead of shipped. The weight is part of the model description, not of the
weights, and :func:`set_correction_weight` gives it to a loaded network.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["CorrectionWeight", "corrects_prior", "set_correction_weight"]


class CorrectionWeight:
    """Mixin for an ``nn.Module`` whose output is a prior plus a correction: ``weighted(Δ)`` is
    w·Δ with w per band (broadcast over (N, C, H, W)); no weight set is w = 1."""

    _correction_weight: torch.Tensor | None = None

    def set_correction_weight(self, weight: Sequence[float] | None) -> None:
        self._correction_weight = (
            None if weight is None else torch.as_tensor([float(w) for w in weight])
        )

    def weighted(self, delta: torch.Tensor) -> torch.Tensor:
        w = self._correction_weight
        if w is None:
            return delta
        if w.numel() not in (1, delta.shape[1]):
            raise ValueError(f"correction weight: {w.numel()} values for {delta.shape[1]} bands")
        return delta * w.to(delta.device, delta.dtype).view(1, -1, 1, 1)


def _generator(network):
    return getattr(network, "generator", network)  # inside WithUncertainty


def corrects_prior(network) -> bool:
    """Whether ``network`` (a generator, or one wrapped with its σ network) adds a correction
    to a classical prior that it makes itself."""
    generator = _generator(network)
    return isinstance(generator, CorrectionWeight) and getattr(generator, "prior", "none") != "none"


def set_correction_weight(network, weight: Sequence[float] | None) -> None:
    """Give a prior-correcting ``network`` its correction weight per band (None: 1)."""
    if corrects_prior(network):
        _generator(network).set_correction_weight(weight)
