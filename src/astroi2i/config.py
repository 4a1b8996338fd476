"""Recipes: YAML files with ``{type: Name, **kwargs}`` components plus data, stretch, trainer and
inference sections. :func:`resolve_recipe` checks every key and type and fills every default, so
the resolved recipe (saved next to each run and inside each checkpoint) says everything."""

from __future__ import annotations

import copy
import dataclasses
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from astroi2i.errors import InputError
from astroi2i.registry import check_type, signature_defaults

__all__ = [
    "DataConfig",
    "TrainerConfig",
    "InferenceConfig",
    "load_recipe",
    "resolve_recipe",
    "apply_overrides",
    "recipe_path",
    "packaged_recipes",
]

RECIPE_DIR = Path(__file__).parent / "configs"


@dataclass
class DataConfig:
    """The ``data`` section. Column names refer to the manifest."""

    manifest: str = ""
    inputs: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    train_split: str = "train"
    val_split: str = "val"
    crop_size: int | None = 64
    crops_per_image: int = 1
    #: true/"dihedral": 90° turns and flips; "rot180": the half turn only (an instrument whose
    #: PSF is point-symmetric but not rotation-invariant, e.g. STIX); false: none
    augment: bool | Literal["dihedral", "rot180"] = True
    fill_value: float = 0.0
    #: inpainting: random missing blocks cut from each sample, e.g. {block: 32, max_blocks: 4,
    #: max_size: 3} (32n×32n squares on the 32-pixel grid); the sample's ``hole`` marks them
    holes: dict[str, int] | None = None
    #: mark grid-aligned blocks of this size that are exactly 0 as missing data (0: off)
    zero_blocks: int = 0
    #: two-way systems: images per batch item from each stream, e.g. {unpaired_a: 1,
    #: unpaired_b: 1, paired: 1} (the default); inputs = domain A columns, targets = domain B
    streams: dict[str, int] | None = None
    align_target: Literal["none", "wcs", "crpix"] = "none"
    #: "baseline": the network predicts a correction, in the target's stretched units, on top
    #: of the classical baseline fitted on the training split (same-grid translation); with a
    #: zero-initialised last layer the untrained model is exactly that baseline
    anchor: Literal["none", "baseline"] = "none"
    scale: int = 1
    batch_size: int = 8
    num_workers: int = 0
    #: where the stretched samples live while training: "memory", or "disk" for data larger
    #: than memory (raw shards, built once and reused; see astroi2i.data.disk_cache)
    cache: Literal["memory", "disk"] = "memory"
    #: data.cache: disk: the folder of the caches ("": .astroi2i-cache beside the manifest)
    cache_dir: str = ""
    #: data.cache: disk: the stretches and the baseline are fitted on this many training rows
    #: (the first ones), not on all (which would have to be in memory together)
    fit_samples: int = 256


@dataclass
class TrainerConfig:
    """The ``trainer`` section. Steps are counted in training batches."""

    max_batches: int = 1000
    val_every: int = 200
    checkpoint_every: int = 200
    log_every: int = 20
    accelerator: str = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    precision: str = "32-true"
    deterministic: bool = False
    progress_bar: bool = True
    loggers: list[Literal["csv", "tensorboard", "wandb", "mlflow"]] = field(
        default_factory=lambda: ["csv", "tensorboard"]
    )
    panels: bool = True
    #: models that learn a correction to a classical answer (data.anchor: baseline, a
    #: generator's prior): after training, choose the correction's weight w ∈ [0, 1] per band
    #: on the validation split (0: the classical answer; astroi2i.workflows.correction)
    fit_correction: bool = True
    #: start the generator from this model's weights (a checkpoint, an export or a packaged
    #: name with the same bands), e.g. CorKit's fine-tuning stage from its pre-training
    init_from: str = ""


@dataclass
class InferenceConfig:
    """The ``inference`` section: defaults for translate."""

    tile: int = 256
    overlap: int = 32


SECTIONS = {"data": DataConfig, "trainer": TrainerConfig, "inference": InferenceConfig}

#: the smallest value each whole-number key can take (0 where "off" is allowed); checked when
#: the recipe is read, before anything is written
MINIMUM = {
    "data.crop_size": 8, "data.crops_per_image": 1, "data.zero_blocks": 0, "data.scale": 1,
    "data.batch_size": 1, "data.num_workers": 0, "data.fit_samples": 1, "trainer.max_batches": 1,
    "trainer.val_every": 1, "trainer.checkpoint_every": 1, "trainer.log_every": 1,
    "inference.tile": 8, "inference.overlap": 0,
}  # fmt: skip
TOP_LEVEL = {"seed", "model", "stretch", *SECTIONS}


def packaged_recipes() -> dict[str, Path]:
    """Recipes shipped with the package, by name: the file stem, with its folder for recipes in
    a subfolder (``twoway/noise_gan``)."""
    return {
        p.relative_to(RECIPE_DIR).with_suffix("").as_posix(): p
        for p in sorted(RECIPE_DIR.rglob("*.yaml"))
    }


def recipe_path(name_or_path: str) -> Path:
    """A recipe file path, or the name of a packaged recipe."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    recipes = packaged_recipes()
    if name_or_path in recipes:
        return recipes[name_or_path]
    raise InputError(
        f"{name_or_path}: no such recipe file or packaged recipe; packaged: {', '.join(recipes)}"
    )


class _RecipeLoader(yaml.SafeLoader):
    """YAML's safe loader, plus floats written without a decimal point (``3e-5``, ``1E6``),
    which YAML 1.1 would read as strings: learning rates are written that way."""


_RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _yaml(text: str):
    return yaml.load(text, Loader=_RecipeLoader)  # noqa: S506 (a SafeLoader subclass)


def load_recipe(name_or_path: str) -> dict:
    """Read a recipe YAML (a path or a packaged recipe name) into a plain dict."""
    path = recipe_path(name_or_path)
    try:
        recipe = _yaml(path.read_text())
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(recipe, dict):
        raise InputError(f"{path}: a recipe must be a mapping of sections")
    return recipe


def apply_overrides(recipe: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` overrides (value parsed as YAML). Keys are checked later by
    :func:`resolve_recipe`, so a typo is reported with its full dotted name."""
    recipe = copy.deepcopy(recipe)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set {item!r}: expected key=value, e.g. trainer.max_batches=100")
        try:
            value = _yaml(text) if text else ""
        except yaml.YAMLError:
            raise InputError(f"--set {item!r}: value is not valid YAML") from None
        parts = key.split(".")
        node = recipe
        for i, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                if i == 0 and part not in TOP_LEVEL:
                    raise InputError(
                        f"--set {key}: unknown section {part!r}; known: {sorted(TOP_LEVEL)}"
                    )
                child = node[part] = {}
            if not isinstance(child, dict):
                raise InputError(f"--set {key}: {'.'.join(parts[: i + 1])} is not a section")
            node = child
        node[parts[-1]] = value
    return recipe


def _resolve_section(name: str, values: Any, schema: type) -> dict:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InputError(f"{name}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(schema)
    known = [f.name for f in dataclasses.fields(schema)]
    for key, value in values.items():
        if key not in known:
            raise InputError(f"{name}.{key}: unknown key; allowed: {', '.join(known)}")
        check_type(value, hints[key], f"{name}.{key}")
    return dataclasses.asdict(schema(**values))


def _validate_stretch(registry, spec, side: str) -> dict:
    resolved = registry.validate(spec, f"stretch.{side}")
    if resolved["type"] == "ChainStretch":
        resolved["steps"] = [
            registry.validate(step, f"stretch.{side}.steps[{i}]")
            for i, step in enumerate(resolved["steps"])
        ]
    return resolved


def _check_holes(holes: dict) -> None:
    """``data.holes``: the keyword arguments of :func:`~astroi2i.sky.masks.random_blocks`."""
    from astroi2i.sky.masks import random_blocks

    allowed = [k for k in signature_defaults(random_blocks) if k not in ("shape", "rng")]
    for key, value in holes.items():
        if key not in allowed:
            raise InputError(f"data.holes.{key}: unknown key; allowed: {', '.join(allowed)}")
        if value < 1:
            raise InputError(f"data.holes.{key}: must be at least 1, got {value}")


def resolve_recipe(recipe: dict) -> dict:
    """Validate a recipe and fill in every default. Raises InputError naming the bad key."""
    from astroi2i.data.stretches import STRETCHES
    from astroi2i.systems.build import validate_model

    unknown = set(recipe) - TOP_LEVEL
    if unknown:
        raise InputError(
            f"{sorted(unknown)[0]}: unknown section; known: {', '.join(sorted(TOP_LEVEL))}"
        )
    resolved: dict[str, Any] = {}
    seed = recipe.get("seed", 0)
    check_type(seed, int, "seed")
    resolved["seed"] = seed
    for name, schema in SECTIONS.items():
        resolved[name] = _resolve_section(name, recipe.get(name), schema)
    for key, low in MINIMUM.items():
        section, name = key.split(".")
        value = resolved[section][name]
        if value is not None and value < low:
            raise InputError(f"{key}: must be at least {low}, got {value}")
    if resolved["inference"]["overlap"] >= resolved["inference"]["tile"]:
        raise InputError(
            f"inference.overlap: must be smaller than inference.tile "
            f"({resolved['inference']['tile']}), got {resolved['inference']['overlap']}"
        )
    data = resolved["data"]
    if data["holes"] is not None:
        _check_holes(data["holes"])
    if data["anchor"] == "baseline" and (
        data["scale"] != 1 or data["holes"] or data["zero_blocks"]
    ):
        raise InputError(
            "data.anchor: baseline is the fitted linear baseline of same-grid translation; "
            "it does not apply with data.scale > 1, data.holes or data.zero_blocks"
        )
    model = recipe.get("model") or {}
    system = (model.get("system") or {}).get("type")
    for key, systems in (
        ("pixel_loss", ("Pix2Pix", "SRGAN")),
        ("inpaint_loss", ("PConvInpainting",)),
    ):
        space = (model.get(key) or {}).get("space", "stretched")
        if space != "stretched" and system not in systems:
            raise InputError(
                f"model.{key}.space: {space!r} is for the {key} of {', '.join(systems)}; "
                f"model.system.type is {system!r}"
            )
    if not data["inputs"]:
        raise InputError("data.inputs: list at least one input band column")
    if not data["targets"]:
        raise InputError("data.targets: list at least one target band column")
    for side in ("inputs", "targets"):
        twice = sorted({c for c in data[side] if list(data[side]).count(c) > 1})
        if twice:  # a typo for another band, and a network fed one band in two channels
            raise InputError(f"data.{side}: {twice[0]!r} is named twice ({data[side]})")
    stretch = recipe.get("stretch") or {}
    if not isinstance(stretch, dict):
        raise InputError(f"stretch: expected a mapping with inputs/targets, got {stretch!r}")
    for key in stretch:
        if key not in ("inputs", "targets"):
            raise InputError(f"stretch.{key}: unknown key; allowed: inputs, targets")
    resolved["stretch"] = {
        side: _validate_stretch(STRETCHES, stretch.get(side, {"type": "IdentityStretch"}), side)
        for side in ("inputs", "targets")
    }
    resolved["model"] = validate_model(recipe.get("model"))
    return resolved


def dump_recipe(recipe: dict) -> str:
    return yaml.safe_dump(recipe, sort_keys=False)
