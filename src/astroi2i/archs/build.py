"""The generator a trained one-way model runs at inference, built from its recipe's ``model``
section alone: no training system, so translating never imports Lightning."""

from __future__ import annotations

from astroi2i.archs.registry import ARCHS
from astroi2i.archs.uncertainty import WithUncertainty, sigma_channels

__all__ = ["build_generator"]


def build_generator(model: dict, in_channels: int, out_channels: int, *, fills: bool = False):
    """The generator of a resolved ``model`` section for the given band counts, wrapped with
    its σ network (:class:`~astroi2i.archs.uncertainty.WithUncertainty`) when the section has
    ``uncertainty``; ``fills``: an inpainting model (σ is 0 on known pixels)."""
    import astroi2i.archs  # noqa: F401 - registers every network in ARCHS

    generator = ARCHS.build(model["generator"], "model.generator", in_channels=in_channels,
                            out_channels=out_channels)  # fmt: skip
    if not isinstance(model.get("uncertainty"), dict):
        return generator
    sigma_net = ARCHS.build(model["uncertainty"], "model.uncertainty",
                            **sigma_channels(in_channels, out_channels, holes=fills))  # fmt: skip
    return WithUncertainty(generator, sigma_net, holes=fills)
