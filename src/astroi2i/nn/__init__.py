"""Layers shared by the networks (pure torch)."""

from astroi2i.nn.layers import norm_layer

__all__ = ["norm_layer"]
