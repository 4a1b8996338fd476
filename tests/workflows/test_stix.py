"""STIX end to end: simulate stix → train stix_bp2clean → translate → evaluate-split."""

import numpy as np
import pytest
from astropy.io import fits

pytest.importorskip("xrayvision")

from astroi2i.cli.main import main  # noqa: E402
from astroi2i.io import read_image, read_manifest  # noqa: E402
from tests.cli.test_cli import assert_one_line_error, run  # noqa: E402
from tests.conftest import TINY_MODEL  # noqa: E402

SIM = ["--map-size", "32", "--pixel-size", "4", "--exposure", "30"]


@pytest.fixture(scope="module")
def stix_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("stix") / "sim"
    split = "train=0.5,val=0.25,test=0.25"
    assert main(["simulate", "stix", "--out", str(out), "--n", "8", *SIM, "--split", split]) == 0
    return out


def test_simulate_stix_files_grids_and_manifest(stix_data, tmp_path):
    manifest = read_manifest(stix_data / "manifest.csv")
    rows = manifest.table
    counts = sorted(int(n) for n in rows["n_sources"])
    assert counts == [1, 1, 2, 2, 3, 3, 4, 4]  # balanced by count
    assert set(rows["multiplicity"]) == {"single", "multiple"}
    row = rows[0]
    bp = fits.getheader(stix_data / row["bp"])
    cln = fits.getheader(stix_data / row["clean"])
    assert (bp["NAXIS1"], cln["NAXIS1"]) == (32, 33)
    assert bp["CTYPE1"] == "HPLN-TAN" and bp["CTYPE2"] == "HPLT-TAN"
    for key in ("CRPIX1", "CRPIX2", "CRVAL1", "CRVAL2", "CDELT1", "EXPTIME", "DATE-OBS"):
        assert bp[key] == cln[key], key
    assert bp["EXPTIME"] == 30.0 and bp["BUNIT"] == "ct / (cm2 keV)"
    assert cln["BUNIT"] == "ct / (arcsec2 cm2 keV)"
    # how far CLEAN went, in the CLEAN file only
    assert cln["CLNCONV"] is True and cln["CLNITER"] >= 1 and cln["CLNTHRSH"] == 2.0
    assert cln["CLNNOISE"] > 0 and "CLNITER" not in bp
    truth = read_image(stix_data / row["truth"])
    assert truth.data.dtype == np.float32
    # the truth fluence: Σ(surface brightness) × pixel area = flux × exposure
    assert truth.data.sum() * 16.0 == pytest.approx(float(row["flux"]) * 30.0, rel=0.05)
    # the same seed gives the same data with more worker processes
    again = tmp_path / "again"
    argv = ["simulate", "stix", "--out", str(again), "--n", "8", *SIM, "--workers", "2"]
    argv += ["--split", "train=0.5,val=0.25,test=0.25"]
    assert main(argv) == 0
    np.testing.assert_array_equal(
        read_image(again / row["clean"]).data, read_image(stix_data / row["clean"]).data
    )


@pytest.mark.slow
def test_stix_train_translate_evaluate_split(stix_data, tmp_path, capsys):
    work = tmp_path / "run"
    sets = [f"data.manifest={stix_data / 'manifest.csv'}", "trainer.max_batches=4"]
    sets += [*TINY_MODEL, "trainer.val_every=2", "trainer.checkpoint_every=2"]
    code, _, err = run(capsys, "train", "stix_bp2clean", "--workdir", work, "--set", *sets)
    assert code == 0, err
    ckpt = work / "checkpoints" / "last.ckpt"
    manifest = read_manifest(stix_data / "manifest.csv")
    row = manifest.rows("test")[0]
    bp_path = stix_data / row["bp"]
    pred = tmp_path / "pred.fits"
    assert run(capsys, "translate", ckpt, bp_path, "-o", pred)[0] == 0
    p, bp = read_image(pred), read_image(bp_path)
    assert p.shape == bp.shape and np.isfinite(p.data).all()
    assert p.header["BUNIT"] == "ct / (arcsec2 cm2 keV)"
    assert p.wcs.wcs.ctype[0] == "HPLN-TAN"
    np.testing.assert_allclose(p.wcs.wcs.crpix, bp.wcs.wcs.crpix)
    report = tmp_path / "report"
    code, out, err = run(
        capsys, "evaluate-split", ckpt, "--manifest", stix_data / "manifest.csv",
        "--group-by", "multiplicity", "--compare", "truth_beam", "--out", report, "--range-space",
    )  # fmt: skip
    assert code == 0, err
    from astropy.table import Table

    summary = Table.read(report / "summary.ecsv")
    assert {"model", "baseline", "input", "truth_beam"} <= set(summary["method"])
    assert {"physical", "stretched", "range"} == set(summary["space"])
    per_sample = Table.read(report / "metrics.ecsv")
    n_test = len(manifest.rows("test"))
    assert len(per_sample) == n_test * 4 * 3  # methods × spaces
    assert np.isfinite(per_sample["psnr"]).all()
    physical = per_sample[per_sample["space"] == "physical"]
    assert np.isfinite(physical["noise_floor_psnr"]).all()
    # the range space is affine in the physical one for each map: the same PSNR
    phys = per_sample[per_sample["space"] == "physical"]
    rng_ = per_sample[per_sample["space"] == "range"]
    np.testing.assert_allclose(rng_["psnr"], phys["psnr"], rtol=1e-5)
    # the model row of one sample equals a direct computation on the written prediction
    from astroi2i.metrics.image import psnr
    from astroi2i.sky.geometry import crop_to_grid

    first = per_sample[(per_sample["method"] == "model") & (per_sample["space"] == "physical")][0]
    sid = first["id"]
    target = read_image(
        stix_data / [r for r in manifest.rows("test") if r["id"] == sid][0]["clean"]
    )
    target = crop_to_grid(target, read_image(report / "predictions" / f"{sid}.fits").wcs, (32, 32))
    mine = read_image(report / "predictions" / f"{sid}.fits")
    assert first["psnr"] == pytest.approx(psnr(mine.data[0], target.data[0]), rel=1e-9)
    # the pooled Spearman of |residual| and σ is the one over every test map's pixels at once
    # (32² maps: fewer pixels than the per-map draw, so all of them)
    from astropy.io import fits
    from scipy import stats

    r, s = [], []
    for test_row in manifest.rows("test"):
        written = report / "predictions" / f"{test_row['id']}.fits"
        pred_i = read_image(written)
        truth = crop_to_grid(read_image(stix_data / test_row["clean"]), pred_i.wcs, (32, 32))
        r.append(np.abs(truth.data[0] - pred_i.data[0]).astype(np.float64).ravel())
        s.append(fits.getdata(written, "UNCERT").astype(np.float64).ravel())  # one band
    groups = set(summary["group"])
    whole = "all" if "all" in groups else groups.pop()  # the group of every test map
    rows = summary[(summary["method"] == "model") & (summary["space"] == "physical")
                   & (summary["group"] == whole)]  # fmt: skip
    expected = stats.spearmanr(np.concatenate(r), np.concatenate(s)).statistic
    assert rows["spearman_sigma_pooled"][0] == pytest.approx(expected, rel=1e-9)
    assert np.isnan(summary[summary["method"] == "baseline"]["spearman_sigma_pooled"]).all()
    # a second run into the same folder is refused without --overwrite
    code, _, err = run(
        capsys, "evaluate-split", ckpt, "--manifest", stix_data / "manifest.csv", "--out", report
    )
    assert_one_line_error(code, err, str(report))


def test_stix_bad_inputs(stix_data, tmp_path, capsys):
    code, _, err = run(capsys, "simulate", "stix", "--out", tmp_path / "x", "--n", "0")
    assert_one_line_error(code, err, "--n")
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())
    code, _, err = run(capsys, "simulate", "stix", "--out", stix_data, "--n", "2")
    assert_one_line_error(code, err, str(stix_data))
    for option, value in (("--clean-threshold", "-1"), ("--gain", "0"), ("--niter", "0")):
        code, _, err = run(
            capsys, "simulate", "stix", "--out", tmp_path / "y", "--n", "2", option, value
        )
        assert_one_line_error(code, err, option)
        assert not (tmp_path / "y").exists() or not any((tmp_path / "y").iterdir())


@pytest.mark.slow
def test_bp2truth_scores_clean_as_a_competitor(stix_data, tmp_path, capsys):
    """The 257² CLEAN maps are cut onto the 256² grid through the WCS to be compared."""
    from astropy.table import Table

    work = tmp_path / "truth"
    sets = [f"data.manifest={stix_data / 'manifest.csv'}", "trainer.max_batches=2", *TINY_MODEL]
    code, _, err = run(capsys, "train", "stix_bp2truth", "--workdir", work, "--set", *sets)
    assert code == 0, err
    code, _, err = run(
        capsys, "evaluate-split", work / "checkpoints" / "last.ckpt", "--manifest",
        stix_data / "manifest.csv", "--compare", "clean", "--out", tmp_path / "rep",
    )  # fmt: skip
    assert code == 0, err
    table = Table.read(tmp_path / "rep" / "metrics.ecsv")
    clean = table[(table["method"] == "clean") & (table["space"] == "physical")]
    assert len(clean) == len(read_manifest(stix_data / "manifest.csv").rows("test"))
    assert np.isfinite(clean["psnr"]).all() and (clean["band"] == "truth_beam").all()
