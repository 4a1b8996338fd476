import json
import os
import stat

import numpy as np
import pytest

from astroi2i.cli.main import main
from astroi2i.errors import InputError
from astroi2i.io import read_image, read_manifest
from astroi2i.workflows.export import export
from astroi2i.workflows.model import load_model


@pytest.fixture(scope="module")
def inputs_and_reference(tiny_checkpoint, survey_pair, tmp_path_factory):
    from astroi2i.workflows.translate import translate

    manifest = read_manifest(survey_pair)
    row = manifest.rows("test")[0]
    inputs = [manifest.cell(row, c)[0] for c in ("shallow_g", "shallow_r")]
    out = tmp_path_factory.mktemp("ref") / "ref.fits"
    return inputs, read_image(translate(tiny_checkpoint.checkpoint, inputs, out))


@pytest.mark.slow
def test_safetensors_export_translates_identically(tiny_checkpoint, inputs_and_reference, tmp_path):
    inputs, reference = inputs_and_reference
    path, report = export(tiny_checkpoint.checkpoint, "safetensors", tmp_path / "m.safetensors")
    sidecar = json.loads((tmp_path / "m.json").read_text())
    assert sidecar["input_bands"] == ["shallow_g", "shallow_r"]
    assert sidecar["stretches"]["targets"]["type"] == "AsinhStretch"
    assert path.read_bytes()[:8] != b"PK\x03\x04"  # not a zip/pickle container
    mask = os.umask(0o022)
    os.umask(mask)
    for written in (path, tmp_path / "m.json"):  # readable as any file is (safetensors: 0600)
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~mask
    code = main(["translate", str(path), *map(str, inputs), "-o", str(tmp_path / "o.fits")])
    assert code == 0
    np.testing.assert_array_equal(read_image(tmp_path / "o.fits").data, reference.data)


@pytest.mark.slow
def test_onnx_export_matches_pytorch(tiny_checkpoint, inputs_and_reference, tmp_path, capsys):
    inputs, reference = inputs_and_reference
    code = main(["export", str(tiny_checkpoint.checkpoint), "--format", "onnx",
                 "-o", str(tmp_path / "m.onnx")])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    diff = float(out.split("max |diff| = ")[1].split()[0])
    assert diff <= 1e-4
    model, meta = load_model(tmp_path / "m.onnx")
    assert meta.target_bands == ("deep_r",)
    assert main(["translate", str(tmp_path / "m.onnx"), *map(str, inputs),
                 "-o", str(tmp_path / "o.fits")]) == 0  # fmt: skip
    got = read_image(tmp_path / "o.fits")
    np.testing.assert_array_equal(got.mask, reference.mask)
    np.testing.assert_allclose(got.data, reference.data, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
def test_export_refuses_overwrite_and_missing_sidecar(tiny_checkpoint, tmp_path):
    path, _ = export(tiny_checkpoint.checkpoint, "safetensors", tmp_path / "m.safetensors")
    with pytest.raises(FileExistsError):
        export(tiny_checkpoint.checkpoint, "safetensors", path)
    (tmp_path / "m.json").unlink()
    with pytest.raises(InputError, match="m.json is missing"):
        load_model(path)
    with pytest.raises(InputError, match="must end in .onnx"):
        export(tiny_checkpoint.checkpoint, "onnx", tmp_path / "x.bin")
