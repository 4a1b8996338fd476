"""``astroi2i inspect MODEL``: what a trained model takes and gives, read from its description
(a checkpoint, a safetensors or ONNX export with its sidecar, or a packaged name): the bands in
order with their units and header labels, the kind of coordinates and pixel scale it was
trained on, its stretches, fitted baseline and correction weight, and how its σ was
calibrated — what ``translate`` checks an input against, before one is given."""

from __future__ import annotations

from pathlib import Path

from astroi2i.description import ModelDescription
from astroi2i.sky.geometry import FRAME_NAMES

__all__ = ["inspect_model", "names_a_model"]

#: file suffixes of the model forms ``describe`` reads
MODEL_SUFFIXES = (".ckpt", ".safetensors", ".onnx")

#: the kind of coordinates a model was trained on, as ``inspect`` says it
_FRAMES = {**FRAME_NAMES, "": "not recorded (no celestial WCS, or a model older than the record)"}


def names_a_model(name_or_path) -> bool:
    """Whether ``inspect`` should read its argument as a model: a model file's suffix, or the
    name of a packaged model that is not also a file here."""
    from astroi2i.workflows.model import packaged_models

    path = Path(str(name_or_path))
    if path.suffix in MODEL_SUFFIXES:
        return True
    return not path.exists() and str(name_or_path) in packaged_models()


def inspect_model(model) -> str:
    """A text report of a model's description."""
    from astroi2i.workflows.model import describe

    desc = describe(model)
    lines = [f"{model}: a {desc.form} model ({desc.path}), SHA-256 {desc.sha256[:16]}…",
             f"  task: {_task(desc)}"]  # fmt: skip
    if desc.is_two_way:
        for side in ("a", "b"):
            domain = desc.two_way[side]
            scale = domain.get("pixel_scale_arcsec")
            lines.append(f"  domain {side}: {domain['name']}, {_FRAMES[domain.get('frame', '')]}"
                         + (f", {scale:.4g}″/px" if scale else ""))  # fmt: skip
    sides = ("bands of a", "bands of b") if desc.is_two_way else ("inputs, in this order",
                                                                   "output")  # fmt: skip
    lines.append(f"  {sides[0]}: " + _bands(desc.input_bands, desc.input_units,
                                             desc.input_filters))  # fmt: skip
    lines.append(f"  {sides[1]}: " + _bands(desc.target_bands, desc.target_units,
                                             desc.target_filters))  # fmt: skip
    if desc.target_instrument:
        keys = ", ".join(f"{k}={v!r}" for k, v in desc.target_instrument.items())
        lines.append(f"  output instrument keys: {keys}")
    if not desc.is_two_way:
        scale = desc.pixel_scale_arcsec
        lines.append(f"  coordinates: {_FRAMES[desc.input_frame]}"
                     + (f"; trained at {scale:.4g}″/px" if scale else ""))  # fmt: skip
    lines += [f"  stretch of the {side}: {_stretch(desc.stretches[side])}"
              for side in ("inputs", "targets")]  # fmt: skip
    lines += _science_lines(desc)
    versions = ", ".join(f"{k} {v}" for k, v in desc.versions.items())
    lines.append(f"  trained with: {versions or 'not recorded'}")
    card = Path(desc.path).with_suffix(".md")
    if card.is_file():
        lines.append(f"  model card: {card}")
    return "\n".join(lines)


def _task(desc: ModelDescription) -> str:
    kind = ("two-way translation" if desc.is_two_way else
            "filling invalid pixels (inpainting)" if desc.fills_invalid else
            f"super-resolution ×{desc.scale}" if desc.scale > 1 else "translation")  # fmt: skip
    parts = [f"{kind} ({desc.system_type}" + (f", {desc.generator_type})" if desc.generator_type
                                              else ")")]  # fmt: skip
    if desc.stride > 1:
        parts.append(f"input sizes padded to multiples of {desc.stride} px")
    if desc.receptive_radius is not None:
        parts.append(f"receptive radius {desc.receptive_radius} px")
    return "; ".join(parts)


def _bands(names, units, labels) -> str:
    out = []
    for i, name in enumerate(names):
        unit = units[i] if i < len(units) and units[i] else "no BUNIT recorded"
        label = labels[i] if i < len(labels) and labels[i] else ""
        out.append(f"{name} [{unit}]" + (f" (header label {label!r})" if label else ""))
    return ", ".join(out)


def _stretch(spec: dict) -> str:
    steps = spec.get("steps", [spec]) if spec.get("type") == "ChainStretch" else [spec]
    return " → ".join(step.get("type", "?") for step in steps)


def _science_lines(desc: ModelDescription) -> list[str]:
    """The fitted baseline, the correction weight and the σ calibration."""
    from astroi2i.baselines import baseline_from_dict

    lines = []
    baseline = baseline_from_dict(desc.baseline)
    if baseline is None and (desc.scale > 1 or desc.fills_invalid):
        what = "bicubic upsampling" if desc.scale > 1 else "the biharmonic fill of the holes"
        lines.append(f"  classical baseline: {what} (what evaluate scores it against)")
    if baseline is not None:
        lines.append(
            f"  fitted classical baseline: {baseline.describe()}"
            + (" (the network learns a correction to it)" if desc.anchored else "")
        )
    if desc.correction:
        weights = " / ".join(f"{w:.2f}" for w in desc.correction["weights"])
        lines.append(f"  correction weight: {weights} (chosen on "
                     f"{desc.correction.get('n_images', '?')} "
                     f"{desc.correction.get('split', '?')!r} pairs)")  # fmt: skip
    if not desc.has_uncertainty:
        lines.append("  σ: none (translate writes no UNCERT extension)")
    elif not desc.calibration:
        lines.append("  σ: predicted, not calibrated (run astroi2i calibrate)")
    else:
        cal = desc.calibration
        mult = "; ".join(" / ".join(f"{k:.3f}" for k in band) for band in cal["multipliers"])
        if desc.fills_invalid:
            lines.append("  σ in the holes: measured on each image's own copies of its holes "
                         "(images over 4096² px: the calibration below)")  # fmt: skip
        lines.append(f"  σ: {desc.recipe['model']['uncertainty']['type']}, "
                     f"{cal.get('method', '?')} calibration on {cal.get('n_images', '?')} "
                     f"{cal.get('split', '?')!r} images of {cal.get('source', '?')}; half-widths "
                     f"at 68.3 / 90 / 95 % in σ: {mult}")  # fmt: skip
    return lines
