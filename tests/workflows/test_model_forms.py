"""Every model form through every command that takes a model: a checkpoint, a safetensors
export, an ONNX export and a packaged name, each read by the one model reader."""

import csv
import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astroi2i.cli.main import main
from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io import read_image, read_manifest
from astroi2i.workflows.export import export
from astroi2i.workflows.model import describe, load_model

pytestmark = pytest.mark.filterwarnings("ignore:.*FITSFixedWarning.*")


@pytest.fixture(scope="module")
def forms(tiny_checkpoint, tmp_path_factory):
    """The tiny pix2pix as checkpoint, safetensors and ONNX."""
    folder = tmp_path_factory.mktemp("forms")
    ckpt = tiny_checkpoint.checkpoint
    safetensors, _ = export(ckpt, "safetensors", folder / "st.safetensors")
    onnx, _ = export(safetensors, "onnx", folder / "ox.onnx")  # an export of an export
    return {"checkpoint": ckpt, "safetensors": safetensors, "onnx": onnx}


@pytest.fixture(scope="module")
def stix_files(tmp_path_factory):
    """Two BP-like maps with CLEAN-like targets (by hand, no xrayvision) and a manifest."""
    folder = tmp_path_factory.mktemp("stix_forms")
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
    w.wcs.crpix, w.wcs.cdelt, w.wcs.crval = [32.5, 32.5], [1.0, 1.0], [-500.0, 300.0]
    y, x = np.mgrid[0:64, 0:64] - 31.5
    r = np.hypot(x, y)
    rows = []
    for i, width in enumerate((5.0, 8.0)):
        header = w.to_header()
        header["EXPTIME"] = 60.0
        bp = 600.0 * np.exp(-0.5 * (r / width) ** 2) + 60.0 * np.cos(r / 4.0) * np.exp(-r / 30)
        clean = 3.0 * np.exp(-0.5 * (r / (width / 2)) ** 2)
        fits.PrimaryHDU(bp.astype("f4"), header).writeto(folder / f"bp{i}.fits")
        fits.PrimaryHDU(clean.astype("f4"), header).writeto(folder / f"clean{i}.fits")
        rows.append(
            {"split": "test", "id": f"m{i}", "bp": f"bp{i}.fits", "clean": f"clean{i}.fits"}
        )
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _quickstart_inputs(survey_pair):
    manifest = read_manifest(survey_pair)
    row = manifest.rows("test")[0]
    return (
        [str(manifest.cell(row, c)[0]) for c in ("shallow_g", "shallow_r")],
        str(manifest.cell(row, "deep_r")[0]),
    )


FORMS = ["checkpoint", "safetensors", "onnx"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.slow
def test_every_form_through_every_command(form, forms, survey_pair, tmp_path, capsys):
    model = str(forms[form])
    inputs, target = _quickstart_inputs(survey_pair)
    desc = describe(model)
    assert desc.form == form and desc.input_bands == ("shallow_g", "shallow_r")
    assert desc.recipe == describe(forms["checkpoint"]).recipe  # one description in every form

    pred = tmp_path / "pred.fits"
    assert main(["translate", model, *inputs, "-o", str(pred)]) == 0
    reference = tmp_path / "ref.fits"
    assert main(["translate", str(forms["checkpoint"]), *inputs, "-o", str(reference)]) == 0
    np.testing.assert_allclose(read_image(pred).data, read_image(reference).data, atol=1e-5)

    assert main(["evaluate", str(pred), target, "--checkpoint", model]) == 0
    out = capsys.readouterr().out
    assert "stretched (AsinhStretch from" in out and forms[form].name in out

    report = tmp_path / "split"
    code = main(["evaluate-split", model, "--manifest", str(survey_pair), "--out", str(report)])
    assert code == 0
    assert json.loads((report / "summary.json").read_text())

    capsys.readouterr()
    assert main(["inspect", model]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{model}: a {form} model") and desc.sha256[:16] in lines[0]
    units = desc.input_units
    assert (f"  inputs, in this order: shallow_g [{units[0]}] (header label 'g'), "
            f"shallow_r [{units[1]}] (header label 'r')") in lines  # fmt: skip
    sky = "  coordinates: sky coordinates (RA/Dec, Galactic or ecliptic axes); trained at "
    assert any(line.startswith(sky) for line in lines)
    mult = " / ".join(f"{k:.3f}" for k in desc.calibration["multipliers"][0])
    assert any(line.startswith("  σ: SigmaNet, split-conformal") and line.endswith(mult)
               for line in lines)  # fmt: skip

    if form == "onnx":
        code = main(
            ["export", model, "--format", "safetensors", "-o", str(tmp_path / "x.safetensors")]
        )
        assert code == 2 and "already ONNX" in capsys.readouterr().err
    else:
        code = main(["export", model, "--format", "onnx", "-o", str(tmp_path / "again.onnx")])
        assert code == 0
        assert describe(tmp_path / "again.onnx").stretches == desc.stretches


def test_packaged_model_through_every_command(stix_files, tmp_path, capsys):
    model = "stix-bp2clean"
    desc = describe(model)
    assert desc.form == "safetensors" and desc.input_bands == ("bp",)
    pred = tmp_path / "pred.fits"
    assert main(["translate", model, str(stix_files / "bp0.fits"), "-o", str(pred)]) == 0
    # was refused as "not an astroi2i checkpoint" before the one reader
    code = main(["evaluate", str(pred), str(stix_files / "clean0.fits"), "--checkpoint", model])
    assert code == 0, capsys.readouterr().err
    assert "ChainStretch from stix-bp2clean.safetensors" in capsys.readouterr().out
    report = tmp_path / "split"
    code = main(["evaluate-split", model, "--manifest", str(stix_files / "manifest.csv"),
                 "--out", str(report)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (report / "summary.json").is_file()
    exported = tmp_path / "stix.onnx"
    assert main(["export", model, "--format", "onnx", "-o", str(exported)]) == 0
    again = tmp_path / "again.fits"
    assert main(["translate", str(exported), str(stix_files / "bp0.fits"), "-o", str(again)]) == 0
    np.testing.assert_allclose(read_image(again).data, read_image(pred).data, rtol=1e-4,
                               atol=1e-4 * np.abs(read_image(pred).data).max())  # fmt: skip
    assert describe(exported).exported_from["checkpoint"] == desc.exported_from["checkpoint"]
    capsys.readouterr()
    assert main(["inspect", model]) == 0
    out = capsys.readouterr().out
    assert "  inputs, in this order: bp [ct / (cm2 keV)] (header label 'bp')" in out
    solar = "solar coordinates (helioprojective or heliographic axes); trained at 1″/px"
    assert f"  coordinates: {solar}" in out
    assert "(the network learns a correction to it)" in out and "stix-bp2clean.md" in out
    assert main(["inspect", str(tmp_path / "nope.ckpt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "nope.ckpt" in err and "checkpoint not found" in err and len(err.splitlines()) == 1


@pytest.mark.slow
def test_description_round_trips_and_refuses_bad_fields(forms):
    desc = describe(forms["checkpoint"])
    again = ModelDescription.from_dict(desc.to_dict(), source="x")
    assert again == desc
    stored = desc.to_dict()
    with pytest.raises(InputError, match="x: the model description has no 'stretches'"):
        ModelDescription.from_dict({k: v for k, v in stored.items() if k != "stretches"},
                                   source="x")  # fmt: skip
    with pytest.raises(InputError, match="'input_bands' is not a list of names"):
        ModelDescription.from_dict({**stored, "input_bands": "gr"}, source="x")
    with pytest.raises(InputError, match="newer than this astroi2i reads"):
        ModelDescription.from_dict({**stored, "format": 99}, source="x")
    # fields a later version adds are kept, not dropped
    kept = ModelDescription.from_dict({**stored, "future_field": {"q": 1.5}}, source="x")
    assert kept.extra["future_field"] == {"q": 1.5}
    assert kept.to_dict()["extra"]["future_field"] == {"q": 1.5}


@pytest.mark.slow
def test_load_model_refuses_a_sidecar_that_lies(forms, tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(forms["safetensors"].read_bytes())
    stored = json.loads(forms["safetensors"].with_suffix(".json").read_text())
    stored["recipe"]["model"]["generator"]["base_channels"] = 7
    (tmp_path / "bad.json").write_text(json.dumps(stored))
    with pytest.raises(InputError, match="weights do not fit the model's recipe"):
        load_model(bad)


@pytest.mark.slow
def test_translate_reads_a_checkpoint_once(forms, survey_pair, tmp_path, monkeypatch):
    """One torch.load (memory-mapped) per translate, plus the hash for the provenance."""
    import torch

    inputs, _ = _quickstart_inputs(survey_pair)
    calls = []
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k.get("mmap")) or real(*a, **k))
    from astroi2i.workflows.translate import translate

    translate(forms["checkpoint"], inputs, tmp_path / "o.fits")
    assert calls == [True]
