"""Layers shared by the networks (pure torch)."""

from astroi2i.nn.layers import norm_layer
from astroi2i.nn.partial_conv import PartialConv2d

__all__ = ["norm_layer", "PartialConv2d"]
