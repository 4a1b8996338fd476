"""Loss terms (pure torch). Each has an explicit ``weight`` and averages over valid pixels."""

from astroi2i.losses.gan import GANLoss
from astroi2i.losses.inpainting import CorKitLoss, HoleLogMSELoss
from astroi2i.losses.pixel import MaskedL1Loss, MaskedMSELoss
from astroi2i.losses.registry import LOSSES

__all__ = ["LOSSES", "GANLoss", "MaskedL1Loss", "MaskedMSELoss", "CorKitLoss", "HoleLogMSELoss"]
