"""The one place where recipe components become objects: systems, networks and losses."""

from __future__ import annotations

import math
from typing import Any

from astroi2i.errors import InputError

__all__ = ["validate_model", "build_system", "build_generator", "has_uncertainty"]


def _registries():
    from astroi2i.archs import ARCHS
    from astroi2i.losses import LOSSES
    from astroi2i.systems import SYSTEMS

    return SYSTEMS, {"arch": ARCHS, "loss": LOSSES}


def validate_model(model: Any) -> dict:
    """Check the ``model`` section: a ``system`` spec plus one spec per component the system
    declares (``System.components``). Channel counts are not recipe keys: they come from the
    data's bands."""
    systems, kinds = _registries()
    if not isinstance(model, dict) or "system" not in model:
        raise InputError("model: expected a mapping with a 'system' entry, e.g. {type: Pix2Pix}")
    system_spec = model["system"]
    if not isinstance(system_spec, dict) or "type" not in system_spec:
        raise InputError("model.system: expected {type: SystemName, ...}")
    cls = systems.get(system_spec["type"])
    optional = {k: v for k, v in _optional(cls).items() if k in model}
    components = {**cls.components, **optional}
    unknown = set(model) - set(components) - {"system"}
    if unknown:
        allowed = [*cls.components, *_optional(cls)]
        raise InputError(
            f"model.{sorted(unknown)[0]}: unknown key for {system_spec['type']}; "
            f"allowed: system, {', '.join(allowed)}"
        )
    channel_keys = {k: tuple(v) for k, v in cls.network_channels(1, 1).items()}
    resolved = {"system": systems.validate(system_spec, "model.system", provided=tuple(components))}
    _check_optimizer(resolved["system"])
    for name, kind in components.items():
        if name not in model:
            raise InputError(f"model.{name}: {system_spec['type']} needs this component")
        resolved[name] = kinds[kind].validate(
            model[name], f"model.{name}", provided=channel_keys.get(name, ())
        )
    return resolved


def _check_optimizer(system: dict) -> None:
    """Learning rates ≥ 0 and Adam's β in [0, 1): torch refuses others only when the optimiser
    is built, with a traceback at the start of training."""
    for key in ("lr", "gan_lr"):
        value = system.get(key)
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise InputError(f"model.system.{key}: a learning rate is ≥ 0, got {value}")
    for key in ("beta1", "beta2"):
        value = system.get(key)
        if value is not None and not 0 <= value < 1:
            raise InputError(f"model.system.{key}: Adam's β is in [0, 1), got {value}")


def _optional(cls) -> dict[str, str]:
    """Components a system may have but need not (``uncertainty``: its σ network)."""
    return getattr(cls, "optional_components", {})


def has_uncertainty(model: dict) -> bool:
    """Whether a resolved ``model`` section gives its generator a σ network."""
    return isinstance(model.get("uncertainty"), dict)


def build_system(model: dict, in_channels: int, out_channels: int):
    """Build the system of a resolved ``model`` section for the given band counts."""
    systems, kinds = _registries()
    cls = systems.get(model["system"]["type"])
    channels = cls.network_channels(in_channels, out_channels)
    names = {**cls.components, **{k: v for k, v in _optional(cls).items() if k in model}}
    parts = {
        name: kinds[kind].build(model[name], f"model.{name}", **channels.get(name, {}))
        for name, kind in names.items()
    }
    return systems.build(model["system"], "model.system", **parts)


def build_generator(model: dict, in_channels: int, out_channels: int):
    """What inference needs: the generator, wrapped with its σ network when the model has
    one (:func:`astroi2i.archs.build.build_generator`, told whether this system fills)."""
    from astroi2i.archs.build import build_generator as build

    systems, _ = _registries()
    fills = bool(getattr(systems.get(model["system"]["type"]), "fills", False))
    return build(model, in_channels, out_channels, fills=fills)
