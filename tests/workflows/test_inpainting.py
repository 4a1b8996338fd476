"""Inpainting end to end: simulate coronagraph → train inpaint_small → fine-tune → simulate holes
→ translate (fills only the holes) → evaluate --mask against biharmonic and border-mean."""

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table

from astroi2i.cli.main import main
from astroi2i.io import read_image
from tests.cli.test_cli import assert_one_line_error, run

TINY = [
    "model.generator.depth=3", "model.generator.base_channels=4", "model.generator.grow=4",
    "data.crop_size=64", "data.batch_size=2", "data.crops_per_image=1",
    "data.holes={block: 16, max_blocks: 2, max_size: 1}", "data.zero_blocks=16",
    "trainer.max_batches=2", "trainer.val_every=2", "trainer.checkpoint_every=2",
    "trainer.progress_bar=false",
]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("inpaint")
    scenes = root / "scenes"
    split = "train=0.5,val=0.25,test=0.25"
    assert main(["simulate", "coronagraph", "--out", str(scenes), "--n", "4", "--size", "64",
                 "--split", split]) == 0  # fmt: skip
    work = root / "pre"
    sets = [f"data.manifest={scenes / 'manifest.csv'}", *TINY]
    assert main(["train", "inpaint_small", "--workdir", str(work), "--set", *sets]) == 0
    return scenes, work / "checkpoints" / "last.ckpt", root


@pytest.mark.slow
def test_translate_fills_only_the_holes_and_evaluate_scores_them(trained, tmp_path, capsys):
    scenes, ckpt, _ = trained
    test_image = sorted((scenes / "test").glob("*.fits"))[0]
    holes = tmp_path / "holes"
    code, _, err = run(capsys, "simulate", "holes", test_image, "--out", holes, "--block", "16",
                       "--max-size", "1", "--zeros")  # fmt: skip
    assert code == 0, err
    damaged = holes / "damaged" / test_image.name
    truth = read_image(holes / "truth" / test_image.name)
    hole = fits.getdata(holes / "holes" / test_image.name) > 0
    assert hole.any()
    pred_dir = tmp_path / "pred"
    pred = pred_dir / test_image.name
    code, _, err = run(capsys, "translate", ckpt, damaged, "-o", pred)
    assert code == 0, err
    with fits.open(pred) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "UNCERT", "MASK"]
        filled = hdul["MASK"].data.astype(bool)
        out = hdul[0].data
        sigma = hdul["UNCERT"].data
    # σ: exactly 0 on copied pixels, positive wherever the model filled
    assert (sigma[~filled] == 0).all() and (sigma[filled] > 0).all()
    raw = fits.getdata(damaged)
    # exact-zero 16² blocks (the recipe's zero_blocks) and NaN are filled, nothing else
    assert filled[hole].all()
    assert (np.isnan(raw[filled]) | (raw[filled] == 0)).all()
    assert np.isfinite(raw[~filled]).all()
    np.testing.assert_array_equal(out[~filled], raw[~filled])  # bit for bit
    assert np.isfinite(out[filled]).all()
    assert not np.array_equal(out[hole], raw[hole])
    # evaluate --mask: the hole only, next to the classical fills
    code, out_text, err = run(capsys, "evaluate", pred_dir, holes / "truth", "--mask",
                              holes / "holes", "--report", tmp_path / "rep")  # fmt: skip
    assert code == 0, err
    table = Table.read(tmp_path / "rep" / "metrics.ecsv")
    assert set(table["method"]) == {"prediction", "biharmonic", "border_mean"}
    # σ scored in the hole only, with the 68.3 % coverage by depth into it
    pred_row = table[(table["method"] == "prediction") & (table["space"] == "physical")][0]
    assert 0 <= pred_row["cover_95"] <= 1 and 0 <= pred_row["cover_68_depth_1_4"] <= 1
    assert np.isnan(table[table["method"] == "biharmonic"]["cover_95"]).all()
    assert (tmp_path / "rep" / "reliability.png").is_file()
    assert (table["n_hole"] == (hole & ~truth.pixel_mask).sum()).all()
    from astroi2i.metrics.inpainting import hole_metrics

    row = table[(table["method"] == "prediction") & (table["space"] == "physical")][0]
    scored, missing = hole & ~truth.pixel_mask, hole | truth.pixel_mask
    direct = hole_metrics(read_image(pred).data[0], truth.data[0], scored, missing)
    assert row["psnr"] == pytest.approx(direct["psnr"])
    # depth counts from the nearest known pixel (the scene's invalid pixels are not known)
    assert row["rmse_depth_1_4"] == pytest.approx(direct["rmse_depth_1_4"])
    assert np.isfinite(row["rmse_depth_1_4"]) and np.isnan(row["rmse_depth_9_up"])
    # a user mask adds pixels to fill
    user = np.zeros(raw.shape, np.float32)
    user[40:44, 40:44] = 1
    fits.PrimaryHDU(user).writeto(tmp_path / "user.fits")
    code, _, err = run(capsys, "translate", ckpt, damaged, "-o", tmp_path / "u.fits", "--mask",
                       tmp_path / "user.fits")  # fmt: skip
    assert code == 0, err
    assert fits.getdata(tmp_path / "u.fits", "MASK")[40:44, 40:44].all()


@pytest.mark.slow
def test_finetune_starts_from_the_pretrained_generator(trained, tmp_path):
    from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
    from astroi2i.systems.build import build_system
    from astroi2i.workflows.model import describe, load_model
    from astroi2i.workflows.train import init_from

    _, ckpt, _ = trained
    overrides = [o for o in TINY if o.startswith("model.")] + [f"trainer.init_from={ckpt}"]
    recipe = resolve_recipe(apply_overrides(load_recipe("inpaint_lasco_c3_finetune"), overrides))
    system = build_system(recipe["model"], 1, 1)
    init_from(system, recipe["trainer"]["init_from"], describe(ckpt))
    pretrained, _ = load_model(ckpt)
    for key, value in pretrained.generator.state_dict().items():
        torch.testing.assert_close(system.generator.state_dict()[key], value)
    for key, value in pretrained.sigma_net.state_dict().items():  # σ network too
        torch.testing.assert_close(system.sigma_net.state_dict()[key], value)
    assert system.hparams.lr == 5e-5 and system.hparams.clip == 5e-4
    assert system.inpaint_loss.alphas == [0.2, 0.8, 0.2, 1.2, 1.8]
    # another σ network than the model's: the generator still starts from it, σ afresh
    wider = overrides + ["model.uncertainty={type: SigmaNet, width: 6}"]
    recipe = resolve_recipe(apply_overrides(load_recipe("inpaint_lasco_c3_finetune"), wider))
    system = build_system(recipe["model"], 1, 1)
    fresh = {k: v.clone() for k, v in system.sigma_net.state_dict().items()}
    init_from(system, recipe["trainer"]["init_from"], describe(ckpt))
    for key, value in pretrained.generator.state_dict().items():
        torch.testing.assert_close(system.generator.state_dict()[key], value)
    for key, value in fresh.items():
        torch.testing.assert_close(system.sigma_net.state_dict()[key], value)


@pytest.mark.slow
def test_mask_is_refused_for_models_that_do_not_fill(tiny_checkpoint, tmp_path, capsys):
    from tests.conftest import make_wcs, write_fits

    wcs = make_wcs("tan", (32, 32))
    for name in ("g", "r", "m"):
        write_fits(tmp_path / f"{name}.fits", np.ones((32, 32)), wcs)
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, tmp_path / "g.fits",
                       tmp_path / "r.fits", "-o", tmp_path / "o.fits", "--mask",
                       tmp_path / "m.fits")  # fmt: skip
    assert_one_line_error(code, err, "--mask is for inpainting models")
    assert not (tmp_path / "o.fits").exists()


@pytest.mark.slow
def test_biharmonic_residual_recipe_trains_and_fills_from_biharmonic(trained, tmp_path, capsys):
    """inpaint_biharmonic_residual end to end: two batches barely move its fill from
    scikit-image's biharmonic fill, which is where it starts."""
    from skimage.restoration import inpaint_biharmonic

    scenes, _, _ = trained
    work = tmp_path / "run"
    sets = [f"data.manifest={scenes / 'manifest.csv'}", "model.generator.depth=3",
            "model.generator.base_channels=4", "data.crop_size=64", "data.batch_size=2",
            "data.crops_per_image=1", "data.holes={block: 16, max_blocks: 2, max_size: 1}",
            "data.zero_blocks=16", "trainer.max_batches=2", "trainer.val_every=2",
            "trainer.checkpoint_every=2", "trainer.progress_bar=false",
            "model.generator.softening=0.1", "model.generator.window=17"]  # fmt: skip
    code, _, err = run(capsys, "train", "inpaint_biharmonic_residual", "--workdir", work,
                       "--set", *sets)  # fmt: skip
    assert code == 0, err
    test_image = sorted((scenes / "test").glob("*.fits"))[0]
    holes = tmp_path / "holes"
    code, _, err = run(capsys, "simulate", "holes", test_image, "--out", holes, "--block", "16",
                       "--max-size", "1", "--seed", "3")  # fmt: skip
    assert code == 0, err
    damaged = holes / "damaged" / test_image.name
    hole = fits.getdata(holes / "holes" / test_image.name) > 0
    raw = fits.getdata(damaged).astype(np.float32)
    missing = ~np.isfinite(raw)
    assert hole.any() and missing[hole].all()
    code, _, err = run(capsys, "translate", work / "checkpoints" / "last.ckpt", damaged, "-o",
                       tmp_path / "p.fits", "--tile", "64", "--overlap", "0")  # fmt: skip
    assert code == 0, err
    with fits.open(tmp_path / "p.fits") as hdul:
        out, filled = hdul[0].data, hdul["MASK"].data.astype(bool)
    assert raw.shape == (64, 64)  # one tile: the fill is biharmonic's on the whole image
    np.testing.assert_array_equal(filled, missing)
    np.testing.assert_array_equal(out[~missing], raw[~missing])  # bit for bit
    expected = inpaint_biharmonic(np.where(missing, 0, raw), missing)
    span = np.ptp(raw[~missing])
    assert np.isfinite(out[missing]).all()
    assert 0 < np.abs(out[hole] - expected[hole]).max() < 0.05 * span
    # ONNX cannot hold scikit-image: a one-line refusal; safetensors works and translates alike
    code, _, err = run(capsys, "export", work / "checkpoints" / "last.ckpt", "--format", "onnx",
                       "-o", tmp_path / "m.onnx")  # fmt: skip
    assert_one_line_error(code, err, "scikit-image")
    assert not (tmp_path / "m.onnx").exists()
    code, _, err = run(capsys, "export", work / "checkpoints" / "last.ckpt", "--format",
                       "safetensors", "-o", tmp_path / "m.safetensors")  # fmt: skip
    assert code == 0, err
    code, _, err = run(capsys, "translate", tmp_path / "m.safetensors", damaged, "-o",
                       tmp_path / "s.fits", "--tile", "64", "--overlap", "0")  # fmt: skip
    assert code == 0, err
    np.testing.assert_array_equal(fits.getdata(tmp_path / "s.fits"), out)


@pytest.mark.slow
def test_corkit_recipe_untrained_returns_the_biharmonic_fill(trained, tmp_path, capsys):
    """The CorKit recipe (partial-convolution U-Nets, CorKit's losses, hist-eq stretch) starts
    from the biharmonic fill made in physical units: with the learning rate at 0 (weights as
    initialised) train → checkpoint → translate gives evaluate's biharmonic baseline."""
    from astroi2i.baselines import biharmonic_fill

    scenes, _, _ = trained
    work = tmp_path / "run"
    sets = [f"data.manifest={scenes / 'manifest.csv'}", *TINY, "model.system.lr=0.0"]
    code, _, err = run(capsys, "train", "inpaint_small", "--workdir", work, "--set", *sets)
    assert code == 0, err
    code, report, _ = run(capsys, "inspect", work / "checkpoints" / "last.ckpt")
    assert code == 0 and "  task: filling invalid pixels (inpainting) (PConvInpainting" in report
    assert "  classical baseline: the biharmonic fill of the holes" in report
    assert "  σ in the holes: measured on each image's own copies of its holes" in report
    test_image = sorted((scenes / "test").glob("*.fits"))[0]
    code, _, err = run(capsys, "simulate", "holes", test_image, "--out", tmp_path / "holes",
                       "--block", "16", "--max-size", "1", "--seed", "3")  # fmt: skip
    assert code == 0, err
    damaged = tmp_path / "holes" / "damaged" / test_image.name
    raw = fits.getdata(damaged).astype(np.float32)
    missing = ~np.isfinite(raw)
    code, _, err = run(capsys, "translate", work / "checkpoints" / "last.ckpt", damaged, "-o",
                       tmp_path / "p.fits", "--tile", "64", "--overlap", "0")  # fmt: skip
    assert code == 0, err
    out = fits.getdata(tmp_path / "p.fits")
    expected = biharmonic_fill(raw, missing)
    span = np.ptp(raw[~missing])
    assert missing.sum() >= 256
    # to float32 precision in the hist-eq units the network works in: near the top knots one
    # unit of y spans ~10⁶ DN, so 2⁻²³·y is ~0.05 DN there (a relative 2e-5)
    np.testing.assert_allclose(out[missing], expected[missing], rtol=1e-4, atol=1e-6 * span)
    np.testing.assert_array_equal(out[~missing], raw[~missing])
    # an image of several tiles whose holes are wider than the overlap asked for: the tiles
    # grow so that each hole is filled whole, and the fill is the whole image's, however cut
    big = np.pad(np.nan_to_num(raw, nan=float(np.nanmedian(raw))), 128, mode="reflect")
    big[150:174, 100:124] = np.nan  # 24 px holes, across tile seams
    big[60:64, 200:300] = np.nan
    header = fits.getheader(damaged)
    fits.PrimaryHDU(big, header).writeto(tmp_path / "big.fits")
    missing = ~np.isfinite(big)
    expected = biharmonic_fill(big, missing)
    span = np.ptp(big[~missing])
    for i, tiling in enumerate((["--tile", "64", "--overlap", "16"], ["--tile", "512"])):
        out_path = tmp_path / f"big{i}.fits"
        code, _, err = run(capsys, "translate", work / "checkpoints" / "last.ckpt",
                           tmp_path / "big.fits", "-o", out_path, *tiling)  # fmt: skip
        assert code == 0, err
        out = fits.getdata(out_path)
        np.testing.assert_allclose(out[missing], expected[missing], rtol=1e-4, atol=1e-6 * span)


@pytest.mark.slow
def test_validation_panels_show_the_damaged_input_and_the_fill(trained):
    """Inpainting runs write validation panels, and their rows are the damaged input (holes
    and invalid pixels blank), the fill (equal to the input wherever it is valid) and the
    target (blank where invalid) — not a forward pass over the undamaged image, which would
    return it unchanged."""
    from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
    from astroi2i.systems.build import build_system

    _, _, root = trained
    assert list((root / "pre" / "panels").glob("val_batch*.png"))
    overrides = [o for o in TINY if o.startswith("model.")]
    recipe = resolve_recipe(apply_overrides(load_recipe("inpaint_small"), overrides))
    system = build_system(recipe["model"], 1, 1)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 64, 64, generator=gen)
    mask = torch.zeros(3, 64, 64, dtype=torch.bool)
    mask[:, :, :3] = True  # invalid columns (e.g. off the detector)
    hole = torch.zeros_like(mask)
    hole[:, 16:32, 24:40] = True
    batch = {"inputs": x, "target": x.clone(), "mask": mask, "hole": hole, "key": ["a", "b", "c"]}
    with torch.no_grad():
        rows = system.panel_rows(batch, 2)
    assert len(rows) == 2 and rows[0]["label"] == "a (256 px hole)"
    blank = (mask | hole)[0].numpy()
    np.testing.assert_array_equal(np.isnan(rows[0]["input"]), blank)
    np.testing.assert_array_equal(rows[0]["prediction"][~blank], x[0, 0].numpy()[~blank])
    assert np.isfinite(rows[0]["prediction"]).all()
    invalid = mask[1].numpy()  # the target is blank where it is never scored
    np.testing.assert_array_equal(np.isnan(rows[1]["target"]), invalid)
    np.testing.assert_array_equal(rows[1]["target"][~invalid], x[1, 0].numpy()[~invalid])
    sigma = rows[0]["sigma"]  # σ of the fill: 0 where pixels are kept, positive in the gaps
    assert (sigma[~blank] == 0).all() and (sigma[blank] > 0).all()


@pytest.mark.slow
def test_fill_keeps_the_inputs_header_and_float64(trained, tmp_path, capsys):
    """A fill is the input with its gaps filled: BUNIT, the solar WCS and the observation keys
    stay, and a float64 input stays float64 (its measured pixels bit for bit)."""
    from astropy.wcs import WCS

    scenes, ckpt, _ = trained
    data = fits.getdata(sorted((scenes / "test").glob("*.fits"))[0]).astype(np.float64)
    data[20:30, 20:30] = np.nan
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
    w.wcs.crpix, w.wcs.cdelt, w.wcs.crval = [32.5, 32.5], [56.0, 56.0], [10.0, -20.0]
    header = w.to_header()
    header.update(BUNIT="DN/s", INSTRUME="LASCO", WAVELNTH=530, EXPTIME=18.6,
                  DATE_OBS="2003-10-28T11:00:00")  # fmt: skip
    src = tmp_path / "c3.fits"
    fits.PrimaryHDU(data, header).writeto(src)
    out = tmp_path / "filled.fits"
    code, _, err = run(capsys, "translate", ckpt, src, "-o", out)
    assert code == 0, err
    with fits.open(out) as hdul:
        h, filled = hdul[0].header, hdul[0].data
    assert filled.dtype == np.dtype(">f8")
    for key in ("BUNIT", "INSTRUME", "WAVELNTH", "EXPTIME", "CTYPE1", "CTYPE2", "CDELT1"):
        assert h[key] == header[key], key
    known = np.isfinite(data)
    np.testing.assert_array_equal(filled[known], data[known])
    assert np.isfinite(filled).all()


@pytest.mark.slow
def test_zero_dropouts_smaller_than_the_block_are_said(trained, tmp_path, caplog):
    """A 4×4 patch of exact zeros is not one of the recipe's 16² zero blocks: it stays data,
    and the log says how many such pixels there are."""
    import logging

    from astroi2i.workflows.translate import translate

    scenes, ckpt, _ = trained
    data = fits.getdata(sorted((scenes / "test").glob("*.fits"))[0]).astype(np.float32)
    data[:16, :16] = 0.0  # a real zero block: filled
    data[40:44, 40:44] = 0.0  # a smaller drop-out: kept, and said
    src = tmp_path / "d.fits"
    fits.PrimaryHDU(data).writeto(src)
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        out = translate(ckpt, [src], tmp_path / "o.fits")
    filled = fits.getdata(out, "MASK").astype(bool)
    assert filled[:16, :16].all() and not filled[40:44, 40:44].any()
    assert any("16 pixel(s) are exactly 0 outside the model's 16-pixel zero blocks"
               in r.getMessage() for r in caplog.records)  # fmt: skip


@pytest.mark.slow
def test_fill_sigma_is_measured_on_copies_of_the_images_own_holes(
    trained, tmp_path, capsys, monkeypatch, caplog
):
    from astroi2i.io import write_image
    from astroi2i.metrics.hole_copies import hole_copies_sigma

    _, ckpt, _ = trained
    assert main(["simulate", "coronagraph", "--out", str(tmp_path / "s"), "--n", "1",
                 "--size", "128"]) == 0  # fmt: skip
    image = read_image(next((tmp_path / "s").rglob("scene*.fits")))
    damaged = image.data.copy()
    hole = np.zeros(image.shape, bool)
    hole[40:56, 72:88] = True  # in the field, with room for copies around it
    damaged[:, hole] = np.nan
    write_image(image.replace(data=damaged, mask=image.mask | hole), tmp_path / "d.fits")
    code, _, err = run(capsys, "translate", ckpt, tmp_path / "d.fits", "-o", tmp_path / "p.fits")
    assert code == 0, err
    with fits.open(tmp_path / "p.fits") as hdul:
        sigma, head = hdul["UNCERT"].data.astype(float), hdul["UNCERT"].header
        filled = hdul["MASK"].data.astype(bool)
    found = hole_copies_sigma(damaged, filled)
    assert np.isfinite(found.sigma[0][hole]).all() and (found.sigma[0][hole] > 0).all()
    np.testing.assert_allclose(sigma[hole], found.sigma[0][hole], rtol=1e-6)
    assert head["UNCMETH"] == "hole-copies"
    assert head["CK95_1"] == pytest.approx(found.multipliers[0][2], rel=1e-4)
    assert head["CQ95_1"] == pytest.approx(found.constant[0][2], rel=1e-5)
    # the field stop's NaN has no room for copies: there σ is the σ network's, and counted
    assert head["UNCNET"] == found.uncovered > 0
    assert (sigma[filled & np.isnan(found.sigma[0])] > 0).all() and (sigma[~filled] == 0).all()
    code, out, _ = run(capsys, "inspect", tmp_path / "p.fits")
    assert code == 0 and "copies of this image's own holes" in out
    assert f"{found.uncovered} filled pixel(s) have the σ network's" in out
    # the batch translator (--out-dir) writes the same σ and cards, file by file
    (tmp_path / "many").mkdir()
    for k in range(2):
        (tmp_path / "many" / f"d{k}.fits").write_bytes((tmp_path / "d.fits").read_bytes())
    code, _, err = run(capsys, "translate", ckpt, tmp_path / "many", "--out-dir", tmp_path / "o")
    assert code == 0, err
    with fits.open(tmp_path / "o" / "d1.fits") as hdul:
        np.testing.assert_array_equal(hdul["UNCERT"].data, fits.getdata(tmp_path / "p.fits", 1))
        assert hdul["UNCERT"].header["CK95_1"] == head["CK95_1"]
    # --uncalibrated writes the network's raw σ everywhere (what `calibrate` scores)
    code, _, err = run(capsys, "translate", ckpt, tmp_path / "d.fits", "-o", tmp_path / "u.fits",
                       "--uncalibrated")  # fmt: skip
    assert code == 0, err
    assert "UNCMETH" not in fits.getheader(tmp_path / "u.fits", "UNCERT")
    # an image too large to hold whole for its copies gets the σ network's calibrated σ, said
    from astroi2i.workflows import translate_output

    monkeypatch.setattr(translate_output, "MAX_HOLE_SCAN", 128 * 128 - 1)
    code, _, err = run(capsys, "translate", ckpt, tmp_path / "d.fits", "-o", tmp_path / "n.fits")
    assert code == 0, err
    assert "larger than 16383 pixels; σ is the σ network's" in caplog.text
    with fits.open(tmp_path / "n.fits") as hdul:
        assert hdul["UNCERT"].header["UNCMETH"] != "hole-copies"
        net = hdul["UNCERT"].data.astype(float)
        np.testing.assert_array_equal(hdul[0].data, fits.getdata(tmp_path / "p.fits"))
    assert (net[hole] > 0).all() and not np.allclose(net[hole], sigma[hole], rtol=1e-3)
