"""The one place where recipe components become objects: systems, networks and losses."""

from __future__ import annotations

from typing import Any

from astroi2i.errors import InputError

__all__ = ["validate_model", "build_system", "build_generator"]


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
    components = cls.components
    unknown = set(model) - set(components) - {"system"}
    if unknown:
        raise InputError(
            f"model.{sorted(unknown)[0]}: unknown key for {system_spec['type']}; "
            f"allowed: system, {', '.join(components)}"
        )
    channel_keys = {k: tuple(v) for k, v in cls.network_channels(1, 1).items()}
    resolved = {"system": systems.validate(system_spec, "model.system", provided=tuple(components))}
    for name, kind in components.items():
        if name not in model:
            raise InputError(f"model.{name}: {system_spec['type']} needs this component")
        resolved[name] = kinds[kind].validate(
            model[name], f"model.{name}", provided=channel_keys.get(name, ())
        )
    return resolved


def build_system(model: dict, in_channels: int, out_channels: int):
    """Build the system of a resolved ``model`` section for the given band counts."""
    systems, kinds = _registries()
    cls = systems.get(model["system"]["type"])
    channels = cls.network_channels(in_channels, out_channels)
    parts = {
        name: kinds[kind].build(model[name], f"model.{name}", **channels.get(name, {}))
        for name, kind in cls.components.items()
    }
    return systems.build(model["system"], "model.system", **parts)


def build_generator(model: dict, in_channels: int, out_channels: int):
    """Only the generator (what inference needs)."""
    systems, kinds = _registries()
    cls = systems.get(model["system"]["type"])
    channels = cls.network_channels(in_channels, out_channels)["generator"]
    return kinds["arch"].build(model["generator"], "model.generator", **channels)
