"""Training recipes as LightningModules: each owns its optimizers and writes its steps out."""

from astroi2i.systems.cyclegan import AugmentedCycleGAN, CycleGAN
from astroi2i.systems.inpainting import PConvInpainting
from astroi2i.systems.noise_gan import OneStepNoiseGAN, TwoWayNoiseGAN
from astroi2i.systems.pix2pix import Pix2Pix
from astroi2i.systems.registry import SYSTEMS
from astroi2i.systems.srgan import SRGAN

__all__ = [
    "SYSTEMS",
    "Pix2Pix",
    "SRGAN",
    "PConvInpainting",
    "CycleGAN",
    "AugmentedCycleGAN",
    "TwoWayNoiseGAN",
    "OneStepNoiseGAN",
]
