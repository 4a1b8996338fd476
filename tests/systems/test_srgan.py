"""SRGAN: pretraining then GAN steps on LR/HR pairs 2× apart, end to end through train and
translate (tiny networks, CPU)."""

import logging

import numpy as np
import pytest
import torch

from astroi2i.io import read_image, write_manifest
from astroi2i.sky import rescale_wcs
from astroi2i.workflows.checkpoint import read_checkpoint
from astroi2i.workflows.train import train
from astroi2i.workflows.translate import translate
from tests.conftest import gaussian_sources, make_wcs, write_fits

TINY_SR = [
    "model.generator.n_blocks=1",
    "model.generator.base_channels=4",
    "model.discriminator.base_channels=2",
    "data.crop_size=8",
    "data.batch_size=2",
    "data.crops_per_image=2",
    "trainer.val_every=2",
    "trainer.checkpoint_every=2",
    "trainer.progress_bar=false",
    "trainer.loggers=[csv]",
    "inference.tile=16",
    "inference.overlap=4",
]


def _sr_pairs(folder, rng):
    rows = []
    for i, split in enumerate(["train", "train", "val"]):
        hr = gaussian_sources((48, 48), rng, n=6, noise=0.02)
        lr = hr.reshape(24, 2, 24, 2).sum(axis=(1, 3))  # flux-conserving 2×2 binning
        lr_wcs = make_wcs("tan", (24, 24), ra=150 + i)
        write_fits(folder / f"lr{i}.fits", lr, lr_wcs)
        write_fits(folder / f"hr{i}.fits", hr, rescale_wcs(lr_wcs, 2))
        rows.append({"split": split, "id": f"s{i}", "lr": f"lr{i}.fits", "hr": f"hr{i}.fits"})
    return write_manifest(rows, folder / "m.csv")


@pytest.mark.slow
def test_srgan_pretrains_then_trains_and_translates(tmp_path, rng, caplog):
    manifest = _sr_pairs(tmp_path, rng)
    with caplog.at_level(logging.INFO, logger="astroi2i"):
        result = train(
            "srgan_small",
            workdir=tmp_path / "run",
            overrides=[
                f"data.manifest={manifest}",
                *TINY_SR,
                "model.system.pretrain_batches=2",
                "model.system.gan_lr=3e-5",
                "trainer.max_batches=4",
            ],
        )
    assert "discriminator feature matching" in caplog.text  # no VGG weights: the fallback
    ckpt = read_checkpoint(result.checkpoint)
    assert ckpt["global_step"] == 2 + 2 * 2  # 2 pretraining G steps, then 2 × (D + G)
    # the GAN stage ran at its own learning rate (G and D), pretraining at the recipe's
    assert [o["param_groups"][0]["lr"] for o in ckpt["optimizer_states"]] == [3e-5, 3e-5]
    assert ckpt["hyper_parameters"]["lr"] == 2e-4
    meta = ckpt["hyper_parameters"]["astroi2i"]
    assert meta["scale"] == 2 and meta["recipe"]["model"]["system"]["type"] == "SRGAN"
    state = ckpt["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    out = translate(result.checkpoint, [tmp_path / "lr2.fits"], tmp_path / "sr.fits")
    sr, lr = read_image(out), read_image(tmp_path / "lr2.fits")
    assert sr.shape == (48, 48) and np.isfinite(sr.data).all()
    np.testing.assert_allclose(
        sr.wcs.pixel_to_world_values(0.5, 0.5), lr.wcs.pixel_to_world_values(0, 0), atol=1e-9
    )


def test_data_scale_must_match_the_generator(tmp_path, rng):
    import pytest

    from astroi2i.errors import InputError

    manifest = _sr_pairs(tmp_path, rng)
    with pytest.raises(InputError, match="data.scale is 2, but model.generator"):
        train(
            "srgan_small",
            workdir=tmp_path / "run",
            overrides=[f"data.manifest={manifest}", *TINY_SR, "model.generator.scale=4"],
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_splus_legacy_preset_trains_and_lands_on_the_legacy_grid(tmp_path):
    import pytest

    pytest.importorskip("galsim")
    from astroi2i.cli.main import main
    from astroi2i.io import read_manifest
    from astroi2i.sky import same_grid

    pairs = tmp_path / "pairs"
    assert main(["-q", "simulate", "survey-pair", "--preset", "splus-legacy", "--out", str(pairs),
                 "--paired", "2", "--val", "1", "--test", "1"]) == 0  # fmt: skip
    manifest = read_manifest(pairs / "manifest.csv")
    assert list(manifest.table["kind"]).count("paired") == 4  # no unpaired pools for SR
    run = tmp_path / "run"
    assert main(["-q", "train", "srgan_small", "--workdir", str(run), "--set",
                 f"data.manifest={pairs / 'manifest.csv'}", "data.inputs=[splus]",
                 "data.targets=[legacy]", *TINY_SR, "model.system.pretrain_batches=2",
                 "trainer.max_batches=3"]) == 0  # fmt: skip
    row = manifest.rows("test")[0]
    lr_path, hr_path = manifest.cell(row, "splus")[0], manifest.cell(row, "legacy")[0]
    out = tmp_path / "sr.fits"
    assert main(["-q", "translate", str(run / "checkpoints" / "last.ckpt"), str(lr_path),
                 "-o", str(out)]) == 0  # fmt: skip
    sr, hr = read_image(out), read_image(hr_path)
    assert sr.data.shape == (3, 256, 256) and sr.bands == ("g", "r", "z")
    assert same_grid(sr, hr) and str(sr.unit) == str(hr.unit) == "nmgy"
    assert np.isfinite(sr.data).all()


@pytest.mark.slow
def test_an_untrained_bicubic_anchored_generator_is_evaluates_bicubic(tmp_path, rng):
    """SRResNetGenerator(prior="bicubic", zero_output=true) with its weights as initialised
    (learning rates 0): train → checkpoint → tiled translate returns the bicubic baseline that
    ``evaluate --bicubic-from`` scores, made in physical units through the asinh stretches
    (flux ÷ 4 per pixel), not in the stretched units the network sees."""
    from astroi2i.workflows.evaluate import bicubic_baseline

    manifest = _sr_pairs(tmp_path, rng)
    result = train(
        "srgan_small",
        workdir=tmp_path / "run",
        overrides=[f"data.manifest={manifest}", *TINY_SR, "model.generator.prior=bicubic",
                   "model.generator.zero_output=true", "model.system.lr=0.0",
                   "model.system.gan_lr=0.0", "model.system.pretrain_batches=1",
                   "trainer.max_batches=2"],
    )  # fmt: skip
    low = read_image(tmp_path / "lr2.fits")
    low.data[0, 5, 7] = np.nan  # an invalid pixel: filled as evaluate fills it, then masked
    write_fits(tmp_path / "lr_bad.fits", low.data[0], low.wcs)
    out = read_image(translate(result.checkpoint, [tmp_path / "lr_bad.fits"],
                               tmp_path / "sr.fits", tile=24, overlap=0))  # fmt: skip
    expected, mask = bicubic_baseline(read_image(tmp_path / "lr_bad.fits"), (48, 48))
    assert out.mask[10:12, 14:16].all() and out.mask.sum() == 4
    ok = ~mask[0]
    np.testing.assert_allclose(out.data[0][ok], expected[0][ok], rtol=1e-4,
                               atol=1e-5 * np.ptp(expected))  # fmt: skip
    lr = read_image(tmp_path / "lr2.fits").data[0]
    assert out.data[0][ok].sum() == pytest.approx(lr[np.isfinite(lr)].sum() - lr[5, 7], rel=0.05)
    # evaluate-split scores the same bicubic as the SR family's baseline, next to the model
    from astroi2i.workflows.split_eval import evaluate_split

    _, summary = evaluate_split(result.checkpoint, manifest, split="val", out=tmp_path / "e")
    physical = summary[summary["space"] == "physical"]
    by_method = {str(r["method"]): float(r["psnr"]) for r in physical}
    assert set(by_method) >= {"model", "baseline"}
    assert by_method["model"] == pytest.approx(by_method["baseline"], abs=1e-3)
    from astroi2i.workflows.inspect_model import inspect_model

    report = inspect_model(result.checkpoint)
    assert "  task: super-resolution ×2 (SRGAN, SRResNetGenerator)" in report
    assert "  classical baseline: bicubic upsampling (what evaluate scores it against)" in report
