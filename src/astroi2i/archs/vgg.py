"""VGG19 convolutional features in plain torch (torchvision cannot be used here), loadable from
a user-given weights file with torchvision's key names, for perceptual and style losses.

Layer indices follow ``torchvision.models.vgg19().features`` (0 = first conv, 4/9/18/27/36 =
the max-pools), so CorKit's layers 4, 9 and 18 mean the same thing here. No weights ship with
astroi2i and none are downloaded: without a file, callers fall back to features that need no
ImageNet training (see :mod:`astroi2i.losses.perceptual`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

__all__ = ["VGG19Features", "VGG19_CONFIG"]

#: channels per conv, "M" = 2×2 max-pool (VGG configuration "E")
VGG19_CONFIG = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    512,
    "M",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _load_state(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)  # never runs code
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    out = {}
    for key, value in state.items():
        if key.startswith("features."):
            out[key[len("features.") :]] = value
        elif key.split(".")[0].isdigit():
            out[key] = value
    return out


class VGG19Features(nn.Module):
    """Frozen VGG19 feature maps at ``layers`` (outputs of those ``features`` indices).

    Inputs (N, C, H, W) in a [0, 1]-like stretched range; C ≠ 3 is reduced to its channel mean
    and repeated to three channels, then normalised with the ImageNet statistics the weights
    were trained with.
    """

    def __init__(self, layers: list[int] = (4, 9, 18), *, weights: str | None = None) -> None:
        super().__init__()
        self.layers = sorted(int(i) for i in layers)
        modules: list[nn.Module] = []
        channels = 3
        for item in VGG19_CONFIG:
            if item == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=False)]
                channels = item
        if self.layers[-1] >= len(modules):
            raise ValueError(f"VGG19 has feature indices 0–{len(modules) - 1}, got {self.layers}")
        self.features = nn.Sequential(*modules[: self.layers[-1] + 1])
        self.pretrained = weights is not None
        if weights is not None:
            state = _load_state(Path(weights))
            own = self.features.state_dict()
            missing = [k for k in own if k not in state]
            if missing:
                raise ValueError(f"{weights}: no VGG19 weights for {missing[:3]}…")
            self.features.load_state_dict({k: state[k] for k in own})
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        # frozen; train/eval mode makes no difference (no BatchNorm or dropout in VGG19)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] != 3:
            x = x.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        x = (x - self.mean) / self.std
        out = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in self.layers:
                out.append(x)
        return out
