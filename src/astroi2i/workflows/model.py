"""The one reader of trained models, for every form a model takes and every command that takes
one (``translate``, ``evaluate --checkpoint``, ``evaluate-split``, ``export``, ``ablation``,
``compare``, fine-tuning with ``trainer.init_from``):

- a Lightning checkpoint written by ``train`` (``.ckpt``), read with ``weights_only=True``;
- a safetensors or ONNX export with its JSON sidecar (``model.safetensors`` + ``model.json``);
- the name of a model packaged with astroi2i (``stix-bp2clean``).

:func:`describe` reads only the :class:`~astroi2i.description.ModelDescription`;
:func:`load_model` also builds the network (one-way models) and :func:`load_system` every
network of a two-way model. No file is read twice: a checkpoint is memory-mapped once and its
SHA-256 is computed only when provenance asks for it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from astroi2i.description import ModelDescription
from astroi2i.errors import InputError

__all__ = [
    "attach_stretches",
    "describe",
    "load",
    "load_if_fits",
    "load_model",
    "load_system",
    "packaged_models",
    "resolve_model",
    "sidecar_path",
    "EXPORT_SUFFIXES",
]

log = logging.getLogger(__name__)
MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
EXPORT_SUFFIXES = {".onnx": "onnx", ".safetensors": "safetensors"}


def packaged_models() -> dict[str, Path]:
    """Models shipped inside the package (safetensors + JSON sidecar + model card), by name."""
    return {p.stem: p for p in sorted(MODEL_DIR.glob("*.safetensors"))}


def resolve_model(name_or_path) -> Path:
    """A checkpoint/export path, or the name of a packaged model (e.g. ``stix-bp2clean``).
    A path that exists wins over a packaged name; neither is a one-line error."""
    path = Path(str(name_or_path))
    if path.exists():
        if not path.is_file():
            raise InputError(f"{path}: a folder, not a model file")
        return path
    models = packaged_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    known = ", ".join(models) or "none"
    raise FileNotFoundError(
        f"{path}: checkpoint not found (no such file, and no packaged model of that name; "
        f"packaged: {known})"
    )


def sidecar_path(path) -> Path:
    """``model.onnx`` → ``model.json``."""
    return Path(path).with_suffix(".json")


def _read_checkpoint(path: Path) -> tuple[ModelDescription, dict]:
    """(description, state_dict) of a checkpoint; tensors stay memory-mapped until used."""
    from astroi2i.workflows.checkpoint import META_KEY, read_checkpoint

    ckpt = read_checkpoint(path, mmap=True)
    desc = ModelDescription.from_dict(
        ckpt["hyper_parameters"][META_KEY], source=str(path), path=str(path), form="checkpoint"
    )
    return desc, ckpt["state_dict"]


def _read_sidecar(path: Path) -> ModelDescription:
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise InputError(f"{path}: its metadata file {sidecar.name} is missing")
    try:
        stored = json.loads(sidecar.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{sidecar}: not valid JSON ({exc})") from None
    return ModelDescription.from_dict(
        stored, source=str(sidecar), path=str(path), form=EXPORT_SUFFIXES[path.suffix]
    )


def describe(model) -> ModelDescription:
    """The description of a model in any form (see the module docstring)."""
    path = resolve_model(model)
    if path.suffix in EXPORT_SUFFIXES:
        return _read_sidecar(path)
    return _read_checkpoint(path)[0]


class OnnxModel:
    """An onnxruntime session that takes and returns torch tensors, like the generator."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        available = onnxruntime.get_available_providers()
        try:
            self.session = onnxruntime.InferenceSession(
                str(path), providers=[p for p in providers if p in available]
            )
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise InputError(f"{path}: not a readable ONNX model ({exc})") from None

    def __call__(self, x):
        import torch

        out = self.session.run(None, {"inputs": x.detach().cpu().numpy()})[0]
        return torch.from_numpy(out)


def _one_way(desc: ModelDescription) -> None:
    if desc.is_two_way:
        raise InputError(
            f"{desc.path}: a two-way checkpoint (two generators and their helpers); use "
            "'astroi2i translate MODEL IN -o OUT --to DOMAIN' or 'astroi2i compare'"
        )


def load(model, *, device="cpu", sigma: bool = True):
    """(network, description) of a model in any form, the file read once: a one-way model's
    generator (see :func:`load_model`), or a two-way checkpoint's system with every network
    (see :func:`load_system`). For callers that serve both kinds (``translate``).
    ``sigma=False`` leaves a one-way model's σ network out (the generator alone, and a
    description without σ: :meth:`ModelDescription.without_uncertainty`)."""
    path = resolve_model(model)
    if path.suffix == ".onnx":
        desc = _read_sidecar(path)
        _one_way(desc)
        _check_no_sigma(desc, path, sigma)
        if not sigma:
            raise InputError(f"--no-sigma: {path} computes σ inside its ONNX graph; use "
                             "the checkpoint or the safetensors export without it")  # fmt: skip
        return OnnxModel(path), desc
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        desc = _read_sidecar(path)
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as exc:
            raise InputError(f"{path}: not a readable safetensors file ({exc})") from None
        _one_way(desc)
        _check_no_sigma(desc, path, sigma)
        if not sigma:
            desc, state = desc.without_uncertainty(), _generator_state(state)
        return _build_generator(desc, state, path, device)
    desc, state = _read_checkpoint(path)
    _check_no_sigma(desc, path, sigma)
    if desc.is_two_way:
        return _build_system(desc, state).to(device), desc
    if desc.has_uncertainty and sigma:  # WithUncertainty: generator.* and sigma_net.*
        state = {k: v for k, v in state.items() if k.startswith(("generator.", "sigma_net."))}
    else:
        desc = desc.without_uncertainty() if desc.has_uncertainty else desc
        state = _generator_state(state)
    return _build_generator(desc, state, path, device)


def _check_no_sigma(desc: ModelDescription, path: Path, sigma: bool) -> None:
    if not sigma and not desc.has_uncertainty:
        raise InputError(f"--no-sigma: {path} predicts no σ, so there is none to leave out")


def _generator_state(state: dict) -> dict:
    """The generator's own entries of a state dict that holds ``generator.*`` (and others)."""
    prefix = "generator."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _build_generator(desc: ModelDescription, state: dict, path: Path, device):
    """(network on ``device``, description with its receptive radius checked)."""
    network = _generator(desc, state, path)
    return network.to(device), _checked_radius(network, desc, path)


def _checked_radius(network, desc: ModelDescription, path: Path) -> ModelDescription:
    """The description with the receptive radius of the network as loaded: the generator's
    (stated by its architecture, or measured from its trained weights) plus the σ network's
    where it runs. That is what training records, so for most models nothing changes; it is
    smaller for the generator alone (``--no-sigma``: tiled for its own reach), and larger,
    with a warning, for a model trained before 2026-12-07 whose super-resolution generator
    stated none and was measured untrained, when its zero-initialised output layer hides its
    reach (0 px recorded for ``srgan_small``, 20 px in truth: its tiles did not overlap enough
    and its output depended on the tiling)."""
    generator = getattr(network, "generator", network)
    radius = desc.receptive_radius
    if radius is None or desc.fills_invalid:
        return desc
    from astroi2i.archs.uncertainty import input_reach
    from astroi2i.data.tiling import receptive_radius

    own = receptive_radius(generator, len(desc.input_bands), max(1, desc.stride), limit=512)
    sigma_net = getattr(network, "sigma_net", None)
    needed = None if own is None else own + (0 if sigma_net is None else
                                             input_reach(sigma_net, desc.scale))  # fmt: skip
    if needed is None or needed > radius:
        log.warning("%s: the receptive radius recorded at training (%d px) is smaller than "
                    "the network's (%s; a model trained before 2026-12-07): translating with "
                    "it, so that the output does not depend on the tiling", path, radius,
                    "beyond 512 px" if needed is None else f"{needed} px")  # fmt: skip
    return desc.replace(receptive_radius=needed)


def _generator(desc: ModelDescription, state: dict, path: Path):
    import torch

    from astroi2i.archs.build import build_generator
    from astroi2i.archs.correction import set_correction_weight

    with torch.device("meta"):  # no random initialisation of weights about to be replaced
        generator = build_generator(desc.recipe["model"], len(desc.input_bands),
                                    len(desc.target_bands), fills=desc.fills_invalid)  # fmt: skip
    try:
        generator.load_state_dict(state, assign=True)
    except RuntimeError as exc:
        raise InputError(f"{path}: weights do not fit the model's recipe ({exc})") from None
    attach_stretches(generator, desc, path)
    set_correction_weight(generator, desc.correction_weights)
    return _inference(generator)


def _inference(network):
    """Eval mode, and no parameter requiring grad: a loaded model only predicts, and some of
    torch's kernels (a broadcast matmul) take a slower path for tensors that require grad
    even under ``no_grad``. Training from it (``trainer.init_from``) copies its state."""
    return network.eval().requires_grad_(False)


def attach_stretches(network, desc: ModelDescription, source) -> None:
    """Give a generator that makes a classical prior in physical units the maps of its fitted
    stretches; the same call at training and at inference:

    - ``use_input_stretch`` (``MultiLayerPConvUNet(prior="biharmonic")``): the input
      stretch's forward and inverse maps;
    - ``use_stretches`` (``SRResNetGenerator(prior="bicubic")``): the input stretch's inverse,
      the target stretch's forward map, and per band the flux factor of an f× finer grid
      (1/f² for per-pixel flux units, 1 for surface brightness, as ``evaluate
      --bicubic-from``)."""
    generator = getattr(network, "generator", network)  # inside WithUncertainty or a system
    wants_input = hasattr(generator, "use_input_stretch")
    prior = getattr(generator, "prior", "none")
    wants_both = hasattr(generator, "use_stretches") and prior != "none"
    if not (wants_input or wants_both):
        return
    from astroi2i.data.stretches import build_stretch

    sides = ("inputs", "targets") if wants_both else ("inputs",)
    built = {side: build_stretch(desc.stretches[side]) for side in sides}
    if any(b.exposure_keyword is not None for b in built.values()):
        raise InputError(
            f"{source}: the generator's classical prior is made in physical units, which an "
            "exposure stretch needs each image's exposure for; use a stretch without one"
        )
    if wants_input:
        generator.use_input_stretch(built["inputs"].forward, built["inputs"].inverse)
        return
    from astroi2i.sky.geometry import upsampled_flux_scale

    flux = [upsampled_flux_scale(u, generator.scale) for u in desc.input_units]
    generator.use_stretches(built["inputs"].inverse, built["targets"].forward, flux)


def _build_system(desc: ModelDescription, state: dict):
    import torch

    from astroi2i.systems.build import build_system

    with torch.device("meta"):
        system = build_system(desc.recipe["model"], len(desc.input_bands), len(desc.target_bands))
    system.load_state_dict(state, assign=True)
    if desc.is_two_way:
        from astroi2i.workflows.twoway import attach_regrid_baselines

        attach_regrid_baselines(system, desc)
    return _inference(system)


def load_model(model, *, device="cpu"):
    """(network, description) of a one-way model in any form. The network maps stretched
    inputs to stretched targets: a torch module in eval mode on ``device``, or an onnxruntime
    session (CPU, or CUDA where its provider is present) that takes and returns tensors."""
    network, desc = load(model, device=device)
    _one_way(desc)
    return network, desc


def load_system(model, *, device="cpu"):
    """(system, description) of a two-way checkpoint: every network, in eval mode."""
    path = resolve_model(model)
    if path.suffix in EXPORT_SUFFIXES:
        raise InputError(f"{path}: exports hold one generator; two-way models need the .ckpt")
    system, desc = load(path, device=device)
    if not desc.is_two_way:
        raise InputError(f"{path}: not a two-way model")
    return system, desc


def load_if_fits(module, state: dict) -> bool:
    """Load ``state`` into ``module`` only if every key and shape matches (True), else leave
    it untouched (False): ``load_state_dict`` copies the tensors that fit before it raises."""
    ours = module.state_dict()
    if state.keys() != ours.keys() or any(state[k].shape != v.shape for k, v in ours.items()):
        return False
    module.load_state_dict(state)
    return True
