"""σ end to end: translate writes it as CCDData reads it, calibrate stores a split-conformal
calibration in a new model file, bad input is refused, and a model trained on a problem with
known heteroscedastic noise covers what it promises on held-out images."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty

from astroi2i.cli.main import main
from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
from astroi2i.io import read_manifest
from astroi2i.systems.build import build_generator
from astroi2i.workflows.checkpoint import package_versions
from astroi2i.workflows.model import describe
from tests.conftest import make_wcs, write_fits

pytestmark = pytest.mark.filterwarnings("ignore:.*FITSFixedWarning.*")

INIT_LOG_SIGMA = -2.0


def _sigma_checkpoint(path, *, uncertainty=True):
    """An untrained quickstart-like model with identity stretches: σ is exp(−2) everywhere
    (the σ network's head is zero-initialised), so every value below is known by hand."""
    sets = [
        "model.generator.depth=2",
        "model.generator.base_channels=4",
        "data.anchor=none",
        f"model.uncertainty.init_log_sigma={INIT_LOG_SIGMA}",
        "model.uncertainty.width=4",
    ]
    recipe = resolve_recipe(apply_overrides(load_recipe("pix2pix_quickstart"), sets))
    if not uncertainty:
        del recipe["model"]["uncertainty"]
    torch.manual_seed(0)
    module = build_generator(recipe["model"], 2, 1)
    identity = {"type": "IdentityStretch"}
    meta = {"format": 1, "recipe": recipe, "input_bands": ["shallow_g", "shallow_r"],
            "target_bands": ["deep_r"], "input_units": ["nanomaggy"] * 2,
            "target_units": ["nanomaggy"], "stretches": {"inputs": identity, "targets": identity},
            "scale": 1, "stride": 4, "receptive_radius": 7 + 22, "fill_value": 0.0,
            "versions": package_versions()}  # fmt: skip
    state = module.state_dict()
    if not uncertainty:
        state = {f"generator.{k}": v for k, v in state.items()}
    torch.save({"state_dict": state, "hyper_parameters": {"astroi2i": meta}}, path)
    return module.eval()


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _inputs(manifest_path, split="test"):
    manifest = read_manifest(manifest_path)
    row = list(manifest.rows(split))[0]
    return [manifest.cell(row, c)[0] for c in ("shallow_g", "shallow_r")], manifest.cell(
        row, "deep_r"
    )[0]


def test_translate_writes_sigma_as_ccddata_reads_it(tmp_path, survey_pair):
    module = _sigma_checkpoint(tmp_path / "m.ckpt")
    inputs, _ = _inputs(survey_pair)
    out = tmp_path / "out.fits"
    code = main(["translate", str(tmp_path / "m.ckpt"), *map(str, inputs), "-o", str(out)])
    assert code == 0
    with fits.open(out) as hdul:
        hdul.verify("exception")
        assert [h.name for h in hdul] == ["PRIMARY", "UNCERT"]
        assert hdul["UNCERT"].header["UTYPE"] == "StdDevUncertainty"
        assert hdul["UNCERT"].header["BUNIT"] == hdul[0].header["BUNIT"]
        assert hdul["UNCERT"].header["UNCCAL"] is False  # not calibrated: said so
    ccd = CCDData.read(out)
    assert isinstance(ccd.uncertainty, StdDevUncertainty)
    valid = np.isfinite(ccd.data)
    np.testing.assert_allclose(ccd.uncertainty.array[valid], np.exp(INIT_LOG_SIGMA), rtol=1e-6)
    assert np.isnan(ccd.uncertainty.array[~valid]).all()  # no σ where there is no prediction
    # the prediction is the generator's, channel for channel
    x = np.stack([fits.getdata(p) for p in inputs]).astype(np.float32)
    with torch.no_grad():
        both = module(torch.from_numpy(np.nan_to_num(x))[None])[0].numpy()
    np.testing.assert_allclose(ccd.data[valid], both[0][valid], rtol=1e-5, atol=1e-6)


def test_calibrate_writes_a_new_model_whose_sigma_covers_the_calibration_split(
    tmp_path, survey_pair, capsys
):
    _sigma_checkpoint(tmp_path / "m.ckpt")
    before = (tmp_path / "m.ckpt").read_bytes()
    code, out, err = _run(capsys, "calibrate", tmp_path / "m.ckpt", "--manifest", survey_pair)
    assert code == 0, err
    calibrated = tmp_path / "m.calibrated.ckpt"
    assert "wrote" in out and calibrated.is_file()
    assert (tmp_path / "m.ckpt").read_bytes() == before  # the source is never touched
    cal = describe(calibrated).calibration
    assert cal["method"] == "split-conformal" and cal["split"] == "val" and cal["n_images"] == 1
    # by hand: the 68.3 % conformal quantile of |target − prediction| / exp(−2) on val
    inputs, target = _inputs(survey_pair, "val")
    raw = tmp_path / "raw.fits"
    main(["translate", str(tmp_path / "m.ckpt"), *map(str, inputs), "-o", str(raw)])
    pred, t = fits.getdata(raw), fits.getdata(target)
    scores = np.abs(t - pred)[np.isfinite(t - pred)] / np.exp(INIT_LOG_SIGMA)
    k = int(np.ceil((scores.size + 1) * 0.683))
    assert cal["scale"][0] == pytest.approx(np.sort(scores)[k - 1], rel=1e-5)
    # the constant-σ baseline: the 95 % conformal quantile of |residual| itself
    absolute = np.sort(np.abs(t - pred)[np.isfinite(t - pred)])
    k95 = int(np.ceil((absolute.size + 1) * 0.95))
    assert cal["constant"][0][2] == pytest.approx(absolute[k95 - 1], rel=1e-5)
    # the calibrated model's σ covers 68.3 % of the calibration pixels (at least, and by
    # less than one pixel's worth above)
    out_cal = tmp_path / "cal.fits"
    main(["translate", str(calibrated), *map(str, inputs), "-o", str(out_cal)])
    sigma = fits.getdata(out_cal, "UNCERT")
    ok = np.isfinite(t - pred)
    covered = np.mean(np.abs(t - pred)[ok] <= sigma[ok] * (1 + 1e-6))
    assert 0.683 <= covered <= 0.683 + 2.0 / ok.sum()
    head = fits.getheader(out_cal, "UNCERT")
    assert head["UNCCAL"] is True
    assert head["CQ95_1"] == pytest.approx(cal["constant"][0][2], rel=1e-5)
    # --uncalibrated writes the raw σ again
    main(["translate", str(calibrated), *map(str, inputs), "-o", str(tmp_path / "u.fits"),
          "--uncalibrated"])  # fmt: skip
    np.testing.assert_allclose(fits.getdata(tmp_path / "u.fits", "UNCERT")[ok],
                               np.exp(INIT_LOG_SIGMA), rtol=1e-6)  # fmt: skip
    # a second calibration refuses to overwrite, then does with --overwrite
    code, _, err = _run(capsys, "calibrate", tmp_path / "m.ckpt", "--manifest", survey_pair)
    assert code == 2 and "exists; pass --overwrite" in err
    code, _, err = _run(capsys, "calibrate", tmp_path / "m.ckpt", "--manifest", survey_pair,
                        "--overwrite")  # fmt: skip
    assert code == 0, err


@pytest.mark.parametrize("power", [None, 0.75])  # None: a model calibrated before powers
def test_a_stored_offset_and_power_reshape_the_raw_sigma_before_the_scale(
    tmp_path, survey_pair, power
):
    from astroi2i.workflows.calibrate import write_model

    _sigma_checkpoint(tmp_path / "m.ckpt")
    desc = describe(tmp_path / "m.ckpt")
    cal = {"method": "split-conformal", "levels": [0.683, 0.9, 0.95], "offset": [0.25],
           "scale": [3.0], "multipliers": [[1.0, 1.7, 2.2]], "n_pixels": [100], "n_images": 1,
           "split": "val", "source": "m.csv", "constant": [[0.1, 0.2, 0.3]]}  # fmt: skip
    if power is not None:
        cal["power"] = [power]
    write_model(tmp_path / "m.ckpt", desc.replace(calibration=cal), tmp_path / "o.ckpt")
    inputs, _ = _inputs(survey_pair)
    main(["translate", str(tmp_path / "o.ckpt"), *map(str, inputs), "-o", str(tmp_path / "o.fits")])
    sigma = fits.getdata(tmp_path / "o.fits", "UNCERT")
    ok = np.isfinite(sigma)
    assert ok.mean() > 0.9
    expected = (np.exp(INIT_LOG_SIGMA) + 0.25) ** (power or 1.0) * 3.0
    np.testing.assert_allclose(sigma[ok], expected, rtol=1e-6)
    head = fits.getheader(tmp_path / "o.fits", "UNCERT")
    assert head["COFF_1"] == 0.25 and head["CK95_1"] == 2.2 and head["CPOW_1"] == (power or 1.0)
    from astroi2i.workflows.inspect import inspect_file

    text = inspect_file(tmp_path / "o.fits")
    assert "offset added to the raw σ before scaling: band 1: 0.25" in text
    assert ("raised to the power band 1: 0.75" in text) == (power is not None)


def test_calibrate_an_export_writes_its_sidecar(tmp_path, survey_pair, capsys):
    from astroi2i.workflows.export import export

    _sigma_checkpoint(tmp_path / "m.ckpt")
    st, _ = export(tmp_path / "m.ckpt", "safetensors", tmp_path / "m.safetensors")
    code, _, err = _run(capsys, "calibrate", st, "--manifest", survey_pair, "-o",
                        tmp_path / "c.safetensors")  # fmt: skip
    assert code == 0, err
    sidecar = json.loads((tmp_path / "c.json").read_text())
    assert sidecar["calibration"]["method"] == "split-conformal"
    assert json.loads((tmp_path / "m.json").read_text())["calibration"] is None
    assert (tmp_path / "c.safetensors").read_bytes() == st.read_bytes()


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("case", ["empty split", "no target column", "no sigma network",
                                  "output is a folder", "targets in another unit"])  # fmt: skip
def test_calibrate_refuses_bad_input_in_one_line(tmp_path, survey_pair, capsys, case):
    model = tmp_path / "m.ckpt"
    _sigma_checkpoint(model, uncertainty=case != "no sigma network")
    manifest, extra = survey_pair, []
    if case == "empty split":
        extra = ["--split", "nothing"]
    if case == "no target column":
        with open(survey_pair) as f:
            rows = list(csv.DictReader(f))
        manifest = tmp_path / "inputs_only.csv"
        with open(manifest, "w", newline="") as f:
            fields = [k for k in rows[0] if k != "deep_r"]
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: (str(survey_pair.parent / v) if v.endswith(".fits") else v)
                                 for k, v in r.items() if k in fields})  # fmt: skip
    if case == "output is a folder":
        (tmp_path / "dir.ckpt").mkdir()
        extra = ["-o", tmp_path / "dir.ckpt"]
    if case == "targets in another unit":  # the model learnt nanomaggies
        with open(survey_pair) as f:
            rows = list(csv.DictReader(f))
        manifest = tmp_path / "adu.csv"
        (tmp_path / "adu").mkdir()
        for r in rows:
            target = tmp_path / "adu" / Path(r["deep_r"]).name
            with fits.open(survey_pair.parent / r["deep_r"]) as hdul:
                hdul[0].header["BUNIT"] = "adu"
                hdul.writeto(target)
            r.update({k: str(survey_pair.parent / v) for k, v in r.items() if v.endswith(".fits")})
            r["deep_r"] = str(target)
        with open(manifest, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    before = _listing(tmp_path)
    code, out, err = _run(capsys, "calibrate", model, "--manifest", manifest, *extra)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    expected = {"empty split": "no rows with split == 'nothing'",
                "no target column": "no column 'deep_r'",
                "no sigma network": "has no σ network",
                "output is a folder": "a folder, not a model file",
                "targets in another unit": "band 'deep_r' is in 'adu', not 'nanomaggy', the unit "
                                           "of the training split"}[case]  # fmt: skip
    assert expected in lines[0]
    assert _listing(tmp_path) == before  # nothing written


@pytest.mark.slow
def test_heteroscedastic_noise_is_covered_and_followed(tmp_path):
    """truth = input + N(0, s²) with s = 0.03 + 0.25·|input| (large where the signal is): after
    training and calibration on the validation split, the held-out coverage is within 3
    points of nominal at every level and σ follows s."""
    from astroi2i.workflows.calibrate import calibrate
    from astroi2i.workflows.train import train

    rng = np.random.default_rng(3)
    shape = (64, 64)
    wcs = make_wcs("tan", shape)
    rows, truth_s = [], {}
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(12):
        split = "train" if i < 6 else "val" if i < 9 else "test"
        signal = np.zeros(shape)
        for _ in range(6):
            cy, cx, w = rng.uniform(0, 64), rng.uniform(0, 64), rng.uniform(2, 8)
            signal += rng.uniform(0.5, 3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * w * w))
        s = 0.03 + 0.25 * np.abs(signal)
        target = signal + rng.normal(0, s)
        for name, data in (("g", 0.5 * signal), ("r", signal), ("t", target)):
            write_fits(tmp_path / f"{name}{i}.fits", data.astype("f4"), wcs)
        rows.append({"split": split, "id": f"s{i}", "shallow_g": f"g{i}.fits",
                     "shallow_r": f"r{i}.fits", "deep_r": f"t{i}.fits"})  # fmt: skip
        truth_s[f"s{i}"] = s
    with open(tmp_path / "m.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    sets = [f"data.manifest={tmp_path / 'm.csv'}", "model.generator.depth=3",
            "model.generator.base_channels=4", "model.discriminator.base_channels=4",
            "model.discriminator.n_layers=1", "model.uncertainty.width=8", "data.crop_size=32",
            "data.batch_size=8", "trainer.max_batches=150", "trainer.val_every=50",
            "trainer.checkpoint_every=50", "trainer.progress_bar=false",
            "model.system.lr=0.002", "inference.tile=64", "inference.overlap=16"]  # fmt: skip
    result = train("pix2pix_quickstart", overrides=sets, workdir=tmp_path / "run")
    cal = describe(result.checkpoint).calibration
    assert cal is not None and cal["split"] == "val" and cal["n_images"] == 3  # by train
    # held out: the test split was used neither for training nor for calibration
    path, _ = calibrate(result.checkpoint, tmp_path / "m.csv", split="test",
                        output=tmp_path / "test_only.ckpt")  # fmt: skip
    assert path.is_file()
    from astroi2i.workflows.translate import translate

    residual, sigma, s_true = [], [], []
    for i in (9, 10, 11):
        out = translate(result.checkpoint, [tmp_path / f"g{i}.fits", tmp_path / f"r{i}.fits"],
                        tmp_path / f"p{i}.fits")  # fmt: skip
        residual.append((fits.getdata(tmp_path / f"t{i}.fits") - fits.getdata(out)).ravel())
        sigma.append(fits.getdata(out, "UNCERT").ravel())
        s_true.append(truth_s[f"s{i}"].ravel())
    r, sg, st = (np.concatenate(a) for a in (residual, sigma, s_true))
    head = fits.getheader(tmp_path / "p9.fits", "UNCERT")
    for level, k in ((0.683, 1.0), (0.90, head["CK90_1"]), (0.95, head["CK95_1"])):
        assert abs(np.mean(np.abs(r) <= k * sg) - level) < 0.03, level
    from scipy import stats

    assert stats.spearmanr(sg, st).statistic > 0.5  # σ follows the true noise level


def test_evaluate_scores_sigma_and_draws_the_reliability_diagram(tmp_path, survey_pair, capsys):
    _sigma_checkpoint(tmp_path / "m.ckpt")
    inputs, target = _inputs(survey_pair)
    pred_dir, truth_dir = tmp_path / "pred", tmp_path / "truth"
    truth_dir.mkdir()
    (truth_dir / "a.fits").write_bytes(target.read_bytes())
    main(["translate", str(tmp_path / "m.ckpt"), *map(str, inputs), "-o", str(pred_dir / "a.fits")])
    code, out, err = _run(capsys, "evaluate", pred_dir, truth_dir, "--report", tmp_path / "rep")
    assert code == 0, err
    from astropy.table import Table

    table = Table.read(tmp_path / "rep" / "metrics.ecsv")
    row = table[(table["method"] == "prediction") & (table["space"] == "physical")][0]
    # by hand: σ = exp(−2) everywhere, Gaussian multipliers (not calibrated)
    pred, t = fits.getdata(pred_dir / "a.fits"), fits.getdata(target)
    ok = np.isfinite(pred) & np.isfinite(t)
    r, s = np.abs(t - pred)[ok], np.exp(INIT_LOG_SIGMA)
    assert row["cover_68"] == pytest.approx(np.mean(r <= s), abs=1e-6)
    assert row["cover_95"] == pytest.approx(np.mean(r <= 1.959964 * s), abs=1e-6)
    assert row["beyond_3sigma"] == pytest.approx(np.mean(r > 3 * s), abs=1e-6)
    assert np.isnan(row["spearman_sigma"])  # a constant σ cannot rank the residuals
    stretched = table[table["space"] != "physical"][0]
    assert np.isnan(stretched["cover_68"])  # σ is scored in physical units only
    assert (tmp_path / "rep" / "reliability.png").stat().st_size > 1000
    # --uncertainty demands a σ: a prediction without one is a one-line error
    (tmp_path / "bare").mkdir()
    fits.PrimaryHDU(pred).writeto(tmp_path / "bare" / "a.fits")
    code, _, err = _run(capsys, "evaluate", tmp_path / "bare", truth_dir, "--uncertainty")
    assert code == 2 and "no UNCERT extension" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_sigma_network_is_added_to_a_trained_model_without_changing_it(
    tiny_checkpoint, survey_pair, tmp_path, capsys
):
    """freeze_generator: only σ learns; the generator's weights, BatchNorm statistics,
    stretches and baseline stay those of ``trainer.init_from``."""
    from astroi2i.workflows.model import load_model
    from astroi2i.workflows.train import train
    from tests.conftest import TINY_MODEL

    source, desc = load_model(tiny_checkpoint.checkpoint)
    sets = [f"data.manifest={survey_pair}", "trainer.max_batches=6", *TINY_MODEL,
            f"trainer.init_from={tiny_checkpoint.checkpoint}",
            "model.system.freeze_generator=true"]  # fmt: skip
    result = train("pix2pix_quickstart", overrides=sets, workdir=tmp_path / "run")
    added, new = load_model(result.checkpoint)
    for key, value in source.generator.state_dict().items():  # incl. running statistics
        torch.testing.assert_close(added.generator.state_dict()[key], value, msg=key)
    changed = [k for k, v in source.sigma_net.state_dict().items()
               if not torch.equal(added.sigma_net.state_dict()[k], v)]  # fmt: skip
    assert changed
    assert new.stretches == desc.stretches and new.baseline == desc.baseline
    assert new.calibration is not None  # calibrated on the validation split when it ended
    import csv as _csv

    with open(tmp_path / "run" / "logs" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in _csv.DictReader(f) if r["step"]]
    assert max(steps) == 6 - 1  # one optimizer step a batch: 6 batches, as asked
    code, _, err = _run(capsys, "train", "pix2pix_quickstart", "--workdir", tmp_path / "bad",
                        "--set", f"data.manifest={survey_pair}",
                        "model.system.freeze_generator=true")  # fmt: skip
    assert code == 2 and "needs trainer.init_from" in err


def test_a_solar_output_opens_in_sunpy_with_sigma_as_a_second_map(tmp_path, rng):
    """Each extension repeats the image's WCS and observation keys: sunpy.map.Map reads the
    prediction (``hdus=0``), or every HDU as maps of the same sky."""
    sunpy_map = pytest.importorskip("sunpy.map")
    from astropy.wcs import WCS

    _sigma_checkpoint(tmp_path / "m.ckpt")
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
    w.wcs.crpix, w.wcs.cdelt, w.wcs.crval = [16.5, 16.5], [2.0, 2.0], [100.0, -200.0]
    paths = []
    for band in ("g", "r"):
        header = w.to_header()
        header.update({"DATE-OBS": "2021-06-28T23:21:59", "HGLN_OBS": 0.0, "HGLT_OBS": 1.5,
                       "DSUN_OBS": 1.5e11, "BUNIT": "nanomaggy", "FILTER": ""})  # fmt: skip
        path = tmp_path / f"{band}.fits"
        fits.PrimaryHDU(rng.normal(size=(32, 32)).astype("f4"), header).writeto(path)
        paths.append(path)
    out = tmp_path / "out.fits"
    assert main(["translate", str(tmp_path / "m.ckpt"), *map(str, paths), "-o", str(out)]) == 0
    with fits.open(out) as hdul:
        hdul.verify("exception")
    only = sunpy_map.Map(out, hdus=0)
    np.testing.assert_array_equal(only.data, fits.getdata(out))
    assert only.coordinate_frame.name == "helioprojective"
    both = sunpy_map.Map(out)
    assert len(both) == 2 and both[1].wcs.wcs.compare(only.wcs.wcs)
    np.testing.assert_array_equal(both[1].data, fits.getdata(out, "UNCERT"))


def test_uncalibrated_is_refused_for_a_model_without_sigma(tmp_path, survey_pair, capsys):
    _sigma_checkpoint(tmp_path / "m.ckpt", uncertainty=False)
    inputs, _ = _inputs(survey_pair)
    code, _, err = _run(capsys, "translate", tmp_path / "m.ckpt", *inputs, "-o",
                        tmp_path / "o.fits", "--uncalibrated")  # fmt: skip
    assert code == 2 and "predicts no σ" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.fits").exists()
    # the two-way option is refused for a one-way model too, one file or many
    code, _, err = _run(capsys, "translate", tmp_path / "m.ckpt", *inputs, "-o",
                        tmp_path / "o.fits", "--no-smooth-background")  # fmt: skip
    assert code == 2 and "only for two-way models" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "translate", tmp_path / "m.ckpt", inputs[0], "--out-dir",
                        tmp_path / "many", "--no-smooth-background")  # fmt: skip
    assert code == 2 and "only for two-way models" in err
    code, _, err = _run(capsys, "translate", tmp_path / "m.ckpt", *inputs, "-o",
                        tmp_path / "o.fits", "--flux-from-regrid")  # fmt: skip
    assert code == 2 and "only for two-way models" in err
    assert not (tmp_path / "o.fits").exists() and not (tmp_path / "many").exists()


def test_no_sigma_writes_the_same_prediction_without_uncert(tmp_path, survey_pair, capsys):
    _sigma_checkpoint(tmp_path / "m.ckpt")
    inputs, _ = _inputs(survey_pair)
    code = _run(capsys, "translate", tmp_path / "m.ckpt", *inputs, "-o", tmp_path / "s.fits")[0]
    assert code == 0
    assert _run(capsys, "export", tmp_path / "m.ckpt", "--format", "safetensors", "-o",
                tmp_path / "m.safetensors")[0] == 0  # fmt: skip
    for model in ("m.ckpt", "m.safetensors"):  # both forms that hold the σ network apart
        out = tmp_path / f"no_{model}.fits"
        code, _, err = _run(capsys, "translate", tmp_path / model, *inputs, "-o", out,
                            "--no-sigma")  # fmt: skip
        assert code == 0, err
        with fits.open(out) as plain, fits.open(tmp_path / "s.fits") as full:
            assert [h.name for h in plain] == ["PRIMARY"]
            # the same prediction (the generator alone is tiled for its own reach)
            np.testing.assert_allclose(plain[0].data, full[0].data, rtol=1e-5, atol=1e-6)
            assert "--no-sigma" in "".join(str(c) for c in plain[0].header["HISTORY"])
    # a model without σ: nothing to leave out; one line, nothing written
    _sigma_checkpoint(tmp_path / "plain.ckpt", uncertainty=False)
    code, _, err = _run(capsys, "translate", tmp_path / "plain.ckpt", *inputs, "-o",
                        tmp_path / "o.fits", "--no-sigma")  # fmt: skip
    assert code == 2 and "predicts no σ" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.fits").exists()
