"""``astroi2i export``: a trained generator as ONNX or safetensors, each with a JSON sidecar
holding its :class:`~astroi2i.description.ModelDescription`. Any one-way model form can be
exported (a checkpoint, a safetensors export, a packaged name); reading goes through
:mod:`astroi2i.workflows.model`, and none of it through pickle."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from pathlib import Path

import numpy as np
import torch

from astroi2i.errors import InputError
from astroi2i.io.folders import write_atomic
from astroi2i.workflows.model import MODEL_DIR, load_model, resolve_model, sidecar_path

__all__ = ["export", "FORMATS"]

log = logging.getLogger(__name__)

FORMATS = {"onnx": ".onnx", "safetensors": ".safetensors"}


def _export_onnx(generator, n_in: int, stride: int, path: Path) -> float:
    """Export with dynamic batch, height and width (multiples of the stride); returns the
    largest |ONNX − PyTorch| on a random input, checked with onnxruntime."""
    import onnxruntime

    x = torch.randn(1, n_in, 2 * stride, 2 * stride)
    dims = {0: torch.export.Dim("batch", max=1024),
            2: stride * torch.export.Dim("rows", max=65536 // stride),
            3: stride * torch.export.Dim("cols", max=65536 // stride)}  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):  # the exporter narrates its passes
        program = torch.onnx.export(generator, (x,), input_names=["inputs"],
                                    output_names=["prediction"], dynamic_shapes={"x": dims},
                                    dynamo=True, verbose=False)  # fmt: skip
    write_atomic(path, lambda tmp: program.save(str(tmp)))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    check = torch.randn(2, n_in, 3 * stride, 2 * stride)
    with torch.no_grad():
        expected = generator(check).numpy()
    got = session.run(None, {"inputs": check.numpy()})[0]
    return float(np.max(np.abs(got - expected)))


def export(model, fmt: str, output=None, *, overwrite: bool = False) -> tuple[Path, dict]:
    """Export a one-way model's generator. Returns (path, report) where the report holds the
    sidecar path and, for ONNX, the max deviation from PyTorch on a random input."""
    if fmt not in FORMATS:
        raise InputError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    source = resolve_model(model)
    if output is None:  # next to the source; a packaged model's export in the current folder
        output = (Path(source.name) if source.parent == MODEL_DIR else source).with_suffix(
            FORMATS[fmt]
        )
    output = Path(output)
    if output.suffix != FORMATS[fmt]:
        raise InputError(f"{output}: a {fmt} export must end in {FORMATS[fmt]}")
    if output.resolve() == source.resolve():
        raise InputError(f"{output}: is the model being exported; choose another -o")
    sidecar = sidecar_path(output)
    for path in (output, sidecar):
        if path.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists; pass --overwrite to replace it")
    if source.suffix == ".onnx":
        raise InputError(f"{source}: already ONNX; export from its checkpoint or safetensors")
    generator, desc = load_model(source)
    if fmt == "onnx" and not getattr(generator, "onnx_exportable", True):
        raise InputError(
            f"{model}: {type(generator).__name__} makes its classical prior with scipy or "
            "scikit-image inside its forward pass, which ONNX cannot hold; export --format "
            "safetensors instead"
        )
    info = desc.replace(
        exported_from=desc.exported_from or {"checkpoint": desc.name, "sha256": desc.sha256}
    ).to_dict()
    report = {"sidecar": str(sidecar)}
    if fmt == "onnx":
        n_in = len(desc.input_bands)
        report["max_abs_diff_vs_torch"] = _export_onnx(generator, n_in, desc.stride, output)
    else:
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in generator.state_dict().items()}
        write_atomic(output, lambda tmp: save_file(state, str(tmp), metadata={"astroi2i": "1"}))
    write_atomic(sidecar, lambda tmp: tmp.write_text(json.dumps(info, indent=1)))
    return output, report
