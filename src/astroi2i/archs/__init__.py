"""Networks (pure torch, no astropy). Each is registered by class name in :data:`ARCHS`."""

from astroi2i.archs.discriminators import PatchDiscriminator, PixelDiscriminator
from astroi2i.archs.pconv_unet import MultiLayerPConvUNet, PConvUNet
from astroi2i.archs.prior_unet import BiharmonicResidualUNet
from astroi2i.archs.registry import ARCHS
from astroi2i.archs.resnet import ResnetGenerator
from astroi2i.archs.srresnet import SRGANDiscriminator, SRResNetGenerator
from astroi2i.archs.twoway import (
    ConvAutoencoder,
    LatentEncoder,
    NoiseEmulator,
    RegridResnetGenerator,
    ScaleGenerator,
)
from astroi2i.archs.uncertainty import SigmaNet, WithUncertainty
from astroi2i.archs.unet import UNetGenerator

__all__ = [
    "ARCHS",
    "UNetGenerator",
    "ResnetGenerator",
    "PatchDiscriminator",
    "PixelDiscriminator",
    "SRResNetGenerator",
    "SRGANDiscriminator",
    "PConvUNet",
    "MultiLayerPConvUNet",
    "BiharmonicResidualUNet",
    "ScaleGenerator",
    "RegridResnetGenerator",
    "ConvAutoencoder",
    "NoiseEmulator",
    "LatentEncoder",
    "SigmaNet",
    "WithUncertainty",
]
