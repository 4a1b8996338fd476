import numpy as np
import pytest
from astropy.io import fits

from astroi2i.cli.main import main
from astroi2i.errors import InputError
from astroi2i.io import read_image, read_manifest
from astroi2i.metrics.science import point_source_flux_error
from astroi2i.workflows.ablation import ablation
from tests.conftest import TINY_MODEL


def test_point_source_flux_error_hand_computed(rng):
    y, x = np.mgrid[0:64, 0:64]
    target = rng.normal(0, 0.05, (64, 64))
    for cx, cy in ((20, 20), (40, 45), (15, 50)):
        target += 10 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1.3**2))
    assert point_source_flux_error(target, target) == {"point_flux_err": 0.0, "n_sources": 3}
    assert point_source_flux_error(1.2 * target, target)["point_flux_err"] == pytest.approx(0.2)
    assert point_source_flux_error(target * 0, target * 0)["n_sources"] == 0


@pytest.mark.slow
def test_ablation_compares_input_sets(survey_pair, tmp_path, capsys):
    sets = [
        f"data.manifest={survey_pair}",
        *TINY_MODEL,
        "trainer.max_batches=2",
        "trainer.loggers=[csv]",
        "trainer.panels=false",
    ]
    rows, summary = ablation(
        "pix2pix_quickstart",
        [["shallow_r"], ["shallow_g", "shallow_r"]],
        overrides=sets,
        workdir=tmp_path / "abl",
    )
    assert list(summary["variant"]) == (
        ["shallow_r"] * 2 + ["shallow_r (fitted baseline)"] * 2
        + ["shallow_g+shallow_r"] * 2 + ["shallow_g+shallow_r (fitted baseline)"] * 2
    )  # fmt: skip
    assert set(summary["space"]) == {"physical", "stretched"}
    physical = summary[summary["space"] == "physical"]
    assert np.all(np.isfinite(physical["psnr"])) and np.all(np.isfinite(physical["flux_ratio"]))
    assert len(rows) == 2 * 2 * 2 * 2  # variants × (model, baseline) × test stamps × spaces
    assert np.all(np.isfinite(physical["noise_floor_psnr"]))
    assert (tmp_path / "abl" / "ablation.ecsv").is_file()
    # σ columns as evaluate gives them: the model's physical rows, by hand on one stamp
    model = rows[(rows["variant"] == "shallow_r") & (rows["space"] == "physical")][0]
    out = tmp_path / "abl" / "shallow_r" / "predictions" / f"{model['file']}.fits"
    manifest = read_manifest(survey_pair)
    target = manifest.cell(manifest.table[manifest.table["id"] == model["file"]][0], "deep_r")[0]
    with fits.open(out) as hdul:
        pred, sigma = hdul[0].data.astype(float), hdul["UNCERT"].data.astype(float)
    r = np.abs(fits.getdata(target).astype(float) - pred)
    assert model["cover_68"] == pytest.approx(np.mean(r[sigma > 0] <= sigma[sigma > 0]))
    assert np.all(np.isfinite(physical[~_baselines(physical)]["cover_95"]))
    assert np.all(np.isnan(physical[_baselines(physical)]["cover_95"]))
    assert np.all(np.isnan(summary[summary["space"] == "stretched"]["cover_95"]))
    # the two variants really had different inputs
    ckpts = [tmp_path / "abl" / v / "config.yaml" for v in ("shallow_r", "shallow_g+shallow_r")]
    assert "- shallow_g" not in ckpts[0].read_text() and "- shallow_g" in ckpts[1].read_text()
    with pytest.raises(InputError, match="at least two input sets"):
        ablation("pix2pix_quickstart", [["shallow_r"]], overrides=sets, workdir=tmp_path / "x")
    code = main(
        [
            "ablation",
            "pix2pix_quickstart",
            "--inputs",
            "shallow_r",
            "nope",
            "--workdir",
            str(tmp_path / "y"),
            "--set",
            *sets,
        ]
    )
    assert code == 2 and "no column 'nope'" in capsys.readouterr().err


def _baselines(table):
    return np.array(["fitted baseline" in v for v in table["variant"]])


def test_import_panels_from_png_and_fits(tmp_path, rng, caplog):
    import matplotlib.image
    from astropy.io import fits

    for i in range(4):
        matplotlib.image.imsave(tmp_path / f"obj{i}.png", rng.random((16, 48, 3)))
    fits.PrimaryHDU(rng.normal(size=(16, 48)).astype("f4")).writeto(tmp_path / "objF.fits")
    images = [tmp_path / f"obj{i}.png" for i in range(4)] + [tmp_path / "objF.fits"]
    manifest = read_manifest(main_import(images, tmp_path / "out"))
    table = manifest.table
    assert len(table) == 5 and set(table.colnames) == {"split", "id", "dss2", "2mass", "sdss"}
    row = table[table["id"] == "obj0"][0]
    panel = read_image(manifest.cell(row, "2mass")[0])
    assert panel.data.shape == (3, 16, 16) and panel.wcs is None
    source = matplotlib.image.imread(tmp_path / "obj0.png")[..., :3]
    np.testing.assert_allclose(np.moveaxis(panel.data, 0, -1), source[:, 16:32])
    assert "8-bit screenshot" in " ".join(fits.getheader(manifest.cell(row, "2mass")[0])["HISTORY"])
    assert "8-bit display images" in caplog.text
    f_row = table[table["id"] == "objF"][0]
    assert read_image(manifest.cell(f_row, "sdss")[0]).data.shape == (1, 16, 16)


def main_import(images, out):
    from astroi2i.workflows.legacy import import_panels

    return import_panels(images, ["dss2", "2mass", "sdss"], out)
