"""The model description: everything a trained model carries besides its weights, as one typed
object. It is written once by ``train`` (into every checkpoint) and by ``export`` (as the JSON
sidecar), and read back by :func:`astroi2i.workflows.model.describe` for every model form —
checkpoint, safetensors or ONNX with a sidecar, packaged name. Nothing else parses the stored
dict.

Pure Python: no torch, no astropy, so it can be read anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from astroi2i.errors import InputError

__all__ = ["ModelDescription", "DESCRIPTION_FORMAT"]

#: version of the stored form; a file with a newer one was written by a newer astroi2i
DESCRIPTION_FORMAT = 1

_REQUIRED = ("recipe", "input_bands", "target_bands", "stretches")


@dataclass(frozen=True)
class ModelDescription:
    """What a trained model is, besides its weights.

    Attributes
    ----------
    recipe : dict
        The resolved recipe it was trained with (model, data, stretch, trainer, inference).
    input_bands, target_bands : tuple of str
        Band names in the order the network takes and gives them.
    input_units, target_units : tuple of str
        BUNIT of each band, as the training files spelled it.
    input_filters : tuple of str
        The band label each training input file carries in its header (``BANDn``, ``FILTER``),
        used to check the band order of files given to ``translate``; empty when unknown.
    target_filters : tuple of str
        The same for the training targets: a single-band prediction carries it as FILTER, so
        ``evaluate`` can refuse a target of another filter.
    target_instrument : dict or None
        The instrument keys of the training targets (TELESCOP, INSTRUME, DETECTOR,
        WAVELNTH …): a prediction from a solar input carries them, so sunpy opens it as that
        instrument's map. None for models trained before they were recorded (the input's
        keys are carried then).
    stretches : dict
        ``{"inputs": spec, "targets": spec}``, each a fitted stretch's ``to_dict()``.
    input_frame : str
        The kind of coordinates the training inputs' WCS had: ``"sky"`` (RA/Dec, Galactic,
        ecliptic), ``"solar"`` (helioprojective, heliographic), or ``""`` (no celestial WCS, or
        a model trained before this was recorded); ``translate`` refuses an input of the
        other kind (:func:`astroi2i.sky.geometry.sky_frame`).
    pixel_scale_arcsec : float or None
        The training inputs' pixel scale (``translate`` warns when an input's differs by more
        than 25 %); None without a celestial WCS.
    scale : int
        Output pixels per input pixel along each axis (super-resolution > 1).
    stride : int
        Input sizes the network accepts are multiples of this.
    receptive_radius : int or None
        Input pixels on each side of an output pixel that can change it; ``translate`` keeps
        at least this much of every tile's inner edges out of the blend, so the output does not
        depend on the tiling. None where unknown (then the recipe's tiling is used as it is).
    fill_value : float
        What invalid input pixels become in the stretched space.
    fills_invalid : bool
        An inpainting model: it fills missing pixels and copies the rest.
    two_way : dict or None
        Two-way models: ``{"a": {"name", "size", "pixel_scale_arcsec", "frame", ...},
        "b": {...}}`` (``frame``: as ``input_frame``, per domain).
    versions : dict
        Package versions at training time.
    exported_from : dict or None
        Exports: the checkpoint's name and SHA-256.
    baseline : dict or None
        The classical baseline fitted on the training split that every evaluation shows next
        to the model (``{"type": "LinearSmoothBaseline", ...}`` for same-grid translation).
    calibration : dict or None
        Models with a σ network: the split-conformal calibration of σ in physical units
        (``{"method": "split-conformal", "levels", "scale", "multipliers", "n_pixels", …}``;
        see :mod:`astroi2i.metrics.uncertainty`). None for a model not yet calibrated.
    correction : dict or None
        Models that learn a correction to a classical answer (``data.anchor: baseline``, a
        generator's ``prior``): the weight w per band of that correction, chosen on held-out
        pairs after training (``{"weights": [...], "grid", "psnr", "split", ...}``; see
        :mod:`astroi2i.workflows.correction`). None: w = 1, the correction as trained.
    extra : dict
        Fields that later features add (fitted baselines, uncertainty calibration), kept
        through every model form.
    path, form : str
        Where this copy was read from, and as what (``checkpoint``, ``safetensors``, ``onnx``);
        not stored.
    """

    recipe: dict
    input_bands: tuple[str, ...]
    target_bands: tuple[str, ...]
    stretches: dict
    input_units: tuple[str, ...] = ()
    target_units: tuple[str, ...] = ()
    input_filters: tuple[str, ...] = ()
    target_filters: tuple[str, ...] = ()
    target_instrument: dict | None = None
    input_frame: str = ""
    pixel_scale_arcsec: float | None = None
    scale: int = 1
    stride: int = 1
    receptive_radius: int | None = None
    fill_value: float = 0.0
    fills_invalid: bool = False
    two_way: dict | None = None
    versions: dict = field(default_factory=dict)
    exported_from: dict | None = None
    baseline: dict | None = None
    calibration: dict | None = None
    correction: dict | None = None
    extra: dict = field(default_factory=dict)
    path: str = field(default="", compare=False)
    form: str = field(default="", compare=False)

    # ---- reading and writing the stored form --------------------------------------------
    @classmethod
    def from_dict(cls, stored: Any, *, source: str, path: str = "", form: str = ""):
        """Check a stored description and build it; a missing or ill-typed field is an
        InputError naming ``source`` and the field."""
        if not isinstance(stored, dict):
            raise InputError(f"{source}: the model description is not a mapping")
        version = stored.get("format", 1)
        if not isinstance(version, int) or version > DESCRIPTION_FORMAT:
            raise InputError(
                f"{source}: model description format {version!r} is newer than this astroi2i "
                f"reads ({DESCRIPTION_FORMAT}); upgrade astroi2i"
            )
        for key in _REQUIRED:
            if key not in stored:
                raise InputError(f"{source}: the model description has no {key!r}")
        known = {f.name for f in dataclasses.fields(cls)} - {"path", "form"}
        values = {k: v for k, v in stored.items() if k in known}
        extra = dict(values.pop("extra", {}) or {})
        extra.update({k: v for k, v in stored.items() if k not in known and k != "format"})
        for key in ("input_bands", "target_bands", "input_units", "target_units",
                    "input_filters", "target_filters"):  # fmt: skip
            if key in values:
                value = values[key]
                if not isinstance(value, list | tuple) or not all(
                    isinstance(v, str) for v in value
                ):
                    raise InputError(f"{source}: model description {key!r} is not a list of names")
                values[key] = tuple(value)
        if values.get("input_frame", "") not in ("", "sky", "solar"):
            raise InputError(f"{source}: model description 'input_frame' is "
                             f"{values['input_frame']!r}, not 'sky', 'solar' or ''")  # fmt: skip
        if not isinstance(values.get("target_instrument") or {}, dict):
            raise InputError(f"{source}: model description 'target_instrument' is not a mapping")
        for key, kind in (("recipe", dict), ("stretches", dict), ("scale", int), ("stride", int)):
            if key in values and not isinstance(values[key], kind):
                raise InputError(f"{source}: model description {key!r} is not a {kind.__name__}")
        if set(values["stretches"]) != {"inputs", "targets"}:
            raise InputError(f"{source}: model description 'stretches' needs inputs and targets")
        for key in ("model", "data", "inference"):
            if not isinstance(values["recipe"].get(key), dict):
                raise InputError(f"{source}: the model's recipe has no {key!r} section")
        return cls(**values, extra=extra, path=str(path), form=form)

    def to_dict(self) -> dict:
        """The stored form (JSON- and checkpoint-safe: lists, dicts, numbers, strings)."""
        out = {"format": DESCRIPTION_FORMAT}
        for f in dataclasses.fields(self):
            if f.name in ("path", "form"):
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes) -> ModelDescription:
        return dataclasses.replace(self, **changes)

    def without_uncertainty(self) -> ModelDescription:
        """The same model with its σ network left out (``translate --no-sigma``): the recipe
        without ``model.uncertainty`` and no calibration. The receptive radius is still the
        one recorded with σ; loading sets it to the generator's own."""
        model = {k: v for k, v in self.recipe["model"].items() if k != "uncertainty"}
        return self.replace(recipe={**self.recipe, "model": model}, calibration=None)

    # ---- what commands ask of it ----------------------------------------------------------
    @property
    def system_type(self) -> str:
        return self.recipe["model"]["system"]["type"]

    @property
    def generator_type(self) -> str:
        generator = self.recipe["model"].get("generator")
        return generator["type"] if isinstance(generator, dict) else ""

    @property
    def data(self) -> dict:
        """The recipe's ``data`` section (manifest columns, alignment, zero blocks …)."""
        return self.recipe["data"]

    @property
    def inference(self) -> dict:
        """The recipe's ``inference`` section (default tile and overlap)."""
        return self.recipe["inference"]

    @property
    def has_uncertainty(self) -> bool:
        """Whether the model predicts a per-pixel σ (its recipe has ``model.uncertainty``)."""
        return isinstance(self.recipe["model"].get("uncertainty"), dict)

    @property
    def units(self) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """(input units, target units) as the training files' BUNIT spelled them, that data
        for this model must be in; None where the model recorded none."""
        return (self.input_units, self.target_units) if any(
            self.input_units + self.target_units) else None  # fmt: skip

    @property
    def anchored(self) -> bool:
        """Whether the network predicts a correction to the fitted baseline
        (``data.anchor: baseline``), which ``translate`` adds."""
        return self.data.get("anchor", "none") == "baseline"

    @property
    def correction_weights(self) -> tuple[float, ...] | None:
        """w per target band of the learned correction (None: 1, as trained)."""
        if not self.correction:
            return None
        return tuple(float(w) for w in self.correction["weights"])

    @property
    def is_two_way(self) -> bool:
        return self.two_way is not None

    @property
    def name(self) -> str:
        """The file name (what provenance cards show)."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the model file (read when first asked for)."""
        import hashlib

        digest = hashlib.sha256()
        with open(self.path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()
