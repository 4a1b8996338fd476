"""Small building blocks shared by generators and discriminators."""

from __future__ import annotations

from torch import nn

__all__ = ["norm_layer", "NORMS"]

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """``batch`` (BatchNorm2d), ``instance`` (InstanceNorm2d with affine parameters, as
    CycleGAN uses) or ``none`` (Identity)."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; known: {', '.join(NORMS)}")
