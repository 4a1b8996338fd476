"""``astroi2i export``: a trained generator as ONNX or safetensors, each with a JSON sidecar
(recipe, stretches, bands, units), and :func:`load_model`, which gives ``translate`` the same
(model, metadata) pair from a checkpoint or from either export — none of them through pickle."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from astroi2i.errors import InputError

__all__ = ["export", "load_model", "sidecar_path", "FORMATS", "packaged_models", "resolve_model"]

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "safetensors": ".safetensors"}
SIDECAR_KEYS = (
    "format", "recipe", "input_bands", "target_bands", "input_units", "target_units",
    "stretches", "scale", "stride", "fill_value", "fills_invalid", "versions",
)  # fmt: skip


MODEL_DIR = Path(__file__).resolve().parent.parent / "models"


def packaged_models() -> dict[str, Path]:
    """Models shipped inside the package (safetensors + JSON sidecar + model card), by name."""
    return {p.stem: p for p in sorted(MODEL_DIR.glob("*.safetensors"))}


def resolve_model(name_or_path) -> Path:
    """A checkpoint/export path, or the name of a packaged model (e.g. ``stix-bp2clean``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    models = packaged_models()
    if str(name_or_path) in models:
        return models[str(name_or_path)]
    return path  # the loaders report the missing file


def sidecar_path(path) -> Path:
    """``model.onnx`` → ``model.json``."""
    return Path(path).with_suffix(".json")


def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _export_onnx(generator, meta: dict, path: Path) -> float:
    """Export with dynamic batch, height and width (multiples of the stride); returns the
    largest |ONNX − PyTorch| on a random input, checked with onnxruntime."""
    import onnxruntime

    stride = meta["stride"]
    x = torch.randn(1, len(meta["input_bands"]), 2 * stride, 2 * stride)
    dims = {0: torch.export.Dim("batch", max=1024),
            2: stride * torch.export.Dim("rows", max=65536 // stride),
            3: stride * torch.export.Dim("cols", max=65536 // stride)}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates its passes
        program = torch.onnx.export(generator, (x,), input_names=["inputs"],
                                    output_names=["prediction"], dynamic_shapes={"x": dims},
                                    dynamo=True, verbose=False)  # fmt: skip
    _write_atomic(path, lambda tmp: program.save(str(tmp)))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check = torch.randn(2, len(meta["input_bands"]), 3 * stride, 2 * stride)
    with torch.no_grad():
        expected = generator(check).numpy()
    got = session.run(None, {"inputs": check.numpy()})[0]
    return float(np.max(np.abs(got - expected)))


def export(checkpoint, fmt: str, output=None, *, overwrite: bool = False) -> tuple[Path, dict]:
    """Export a checkpoint's generator. Returns (path, report) where the report holds the
    sidecar path and, for ONNX, the max deviation from PyTorch on a random input."""
    from astroi2i.workflows.checkpoint import load_checkpoint

    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    output = Path(output) if output else Path(checkpoint).with_suffix(FORMATS[fmt])
    if output.suffix != FORMATS[fmt]:
        raise InputError(f"{output}: a {fmt} export must end in {FORMATS[fmt]}")
    sidecar = sidecar_path(output)
    for path in (output, sidecar):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    generator, meta = load_checkpoint(checkpoint)
    if fmt == "onnx" and not getattr(generator, "onnx_exportable", True):
        raise InputError(
            f"{checkpoint}: {type(generator).__name__} runs scikit-image inside its forward pass, "
            "which ONNX cannot hold; export --format safetensors instead"
        )
    info = {k: meta[k] for k in SIDECAR_KEYS if k in meta}
    info["exported_from"] = {"checkpoint": Path(checkpoint).name, "sha256": meta["sha256"]}
    report = {"sidecar": str(sidecar)}
    if fmt == "onnx":
        report["max_abs_diff_vs_torch"] = _export_onnx(generator, meta, output)
    else:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in generator.state_dict().items()}
        _write_atomic(output, lambda tmp: save_file(state, str(tmp), metadata={"astroi2i": "1"}))
    _write_atomic(sidecar, lambda tmp: tmp.write_text(json.dumps(info, indent=1)))
    return output, report


class _OnnxModel:
    """An onnxruntime session that takes and returns torch tensors, like the generator."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        available = onnxruntime.get_available_providers()
        self.session = onnxruntime.InferenceSession(
            str(path), providers=[p for p in providers if p in available]
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"inputs": x.detach().cpu().numpy()})[0]
        return torch.from_numpy(out)


def load_model(path, *, device: str | torch.device = "cpu"):
    """(model, meta) from a ``.ckpt`` checkpoint, a ``.safetensors`` or an ``.onnx`` export (the
    last two with their ``.json`` sidecar), or a packaged model's name. The model maps
    stretched inputs to stretched targets; ONNX models run on onnxruntime (CPU, or CUDA where
    its provider is present)."""
    from astroi2i.workflows.checkpoint import file_sha256, load_checkpoint

    path = resolve_model(path)
    if path.suffix not in FORMATS.values():
        return load_checkpoint(path, device=device)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: exported model not found")
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        raise InputError(f"{path}: its metadata file {sidecar.name} is missing")
    try:
        meta = json.loads(sidecar.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{sidecar}: not valid JSON ({exc})") from None
    meta.update(sha256=file_sha256(path), path=str(path))
    if path.suffix == ".onnx":
        return _OnnxModel(path), meta
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from astroi2i.workflows.build import build_generator

    generator = build_generator(meta["recipe"]["model"], len(meta["input_bands"]),
                                len(meta["target_bands"]))  # fmt: skip
    try:
        generator.load_state_dict(load_file(str(path)))
    except (SafetensorError, RuntimeError) as exc:
        raise InputError(
            f"{path}: weights do not fit the recipe in {sidecar.name} ({exc})"
        ) from None
    return generator.eval().to(device), meta
