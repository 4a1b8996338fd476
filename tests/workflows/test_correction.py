"""The weight of a learned correction to the classical answer, chosen on held-out pairs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from astroi2i.archs import MultiLayerPConvUNet, SRResNetGenerator
from astroi2i.archs.correction import corrects_prior, set_correction_weight
from astroi2i.workflows.correction import GRID, choose_weights


def test_choose_weights_keeps_a_correction_that_beats_the_baseline_and_shrinks_one_that_loses():
    grid = np.asarray(GRID)
    psnr = np.zeros((len(GRID), 3, 3))
    psnr[:, 0, :] = (-((grid - 0.3) ** 2))[:, None]  # band 1: w = 1 loses to w = 0; best 0.3
    psnr[:, 1, :] = (1 - (grid - 0.6) ** 2)[:, None]  # band 2: w = 1 beats w = 0: kept at 1
    psnr[:, 2, :] = 5.0  # band 3: every weight ties: as trained
    psnr[7, 0, 0] = np.nan  # an image without a score does not count for that weight
    assert choose_weights(psnr) == [0.3, 1.0, 1.0]
    psnr[:, 0, :] = 0.0
    psnr[0, 0, :] = 1.0  # only the classical answer is good: w = 0
    assert choose_weights(psnr)[0] == 0.0
    psnr[:, 0, 1] = np.where(grid == 1.0, 50.0, 0.0)  # one image decides the mean
    assert choose_weights(psnr)[0] == 1.0
    with pytest.raises(ValueError, match="no finite PSNR"):
        choose_weights(np.full((len(GRID), 1, 2), np.nan))


def test_a_weighted_correction_is_the_prior_plus_w_times_the_correction():
    """SRResNet with a bicubic prior and a non-zero head: w = 0 is the prior, w = 0.4 moves
    0.4 of the way to the unweighted output, per band."""
    torch.manual_seed(0)
    g = SRResNetGenerator(2, 2, scale=2, n_blocks=1, base_channels=4, prior="bicubic").eval()
    assert corrects_prior(g) and not corrects_prior(SRResNetGenerator(2, 2, n_blocks=1))
    x = torch.randn(1, 2, 8, 8)
    with torch.no_grad():
        full, prior = g(x), g.bicubic_prior(x)
        set_correction_weight(g, [0.0, 0.4])
        weighted = g(x)
    assert (full - prior).abs().min() > 0  # a real correction
    torch.testing.assert_close(weighted[:, 0], prior[:, 0], rtol=0, atol=0)
    torch.testing.assert_close(weighted[:, 1], prior[:, 1] + 0.4 * (full - prior)[:, 1],
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_a_zero_weight_pconv_returns_the_biharmonic_fill_after_training_moved_it():
    from astroi2i.baselines import biharmonic_fill

    torch.manual_seed(0)
    net = MultiLayerPConvUNet(1, 1, n_layers=2, grow=4, depth=3, base_channels=4,
                              prior="biharmonic").eval()  # fmt: skip
    for layer in net.layers:  # as if trained: the corrections are no longer zero
        torch.nn.init.normal_(layer.dec[-1].conv.weight, std=0.5)
    rng = np.random.default_rng(0)
    image = np.add.outer(np.arange(48.0), np.arange(48.0)) + rng.normal(0, 1, (48, 48))
    missing = np.zeros((48, 48), bool)
    missing[16:32, 12:36] = True
    x = torch.from_numpy(np.where(missing, np.nan, image)[None, None].astype(np.float32))
    with torch.no_grad():
        moved = net(x)[0, 0].numpy()
        set_correction_weight(net, [0.0])
        back = net(x)[0, 0].numpy()
    expected = biharmonic_fill(image.astype(np.float32), missing)
    assert np.abs(moved[missing] - expected[missing]).max() > 1.0
    np.testing.assert_allclose(back[missing], expected[missing], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_training_stores_the_weight_that_translate_applies(tiny_checkpoint, survey_pair, tmp_path):
    """The anchored quickstart model: train chose w on the validation split; translating that
    image with the stored w gives the PSNR stored for it, and the output is the baseline plus
    w times the unweighted correction (in the target's stretched units)."""
    from astroi2i.baselines import baseline_from_dict
    from astroi2i.data.stretches import build_stretch
    from astroi2i.io import read_image, read_manifest
    from astroi2i.metrics.image import psnr
    from astroi2i.workflows.model import load_model
    from astroi2i.workflows.translate import translate

    ckpt = tiny_checkpoint.checkpoint
    network, desc = load_model(ckpt)
    corr = desc.correction
    assert corr["split"] == "val" and corr["n_images"] == 1 and corr["grid"] == list(GRID)
    (w,) = corr["weights"]
    manifest = read_manifest(survey_pair)
    row = manifest.rows("val")[0]
    inputs = [manifest.cell(row, c)[0] for c in ("shallow_g", "shallow_r")]
    target = read_image(manifest.cell(row, "deep_r")[0]).data[0]
    out = read_image(translate(ckpt, inputs, tmp_path / "w.fits", calibrated=False)).data[0]
    ok = np.isfinite(target)
    peak = float(target[ok].max() - target[ok].min())
    stored = corr["psnr"][0][GRID.index(w)]
    assert psnr(out, target, data_range_=peak) == pytest.approx(stored, rel=1e-6)
    assert w == choose_weights(np.asarray(corr["psnr"])[:, :, None].transpose(1, 0, 2))[0]
    unweighted = desc.replace(correction={"weights": [1.0]})
    full = read_image(translate(ckpt, inputs, tmp_path / "one.fits", calibrated=False,
                                loaded=(network, unweighted))).data  # fmt: skip
    x = np.concatenate([read_image(p).data for p in inputs])
    stretch = build_stretch(desc.stretches["targets"])
    base = stretch.forward(baseline_from_dict(desc.baseline).predict(x))
    assert np.abs(stretch.forward(full) - base).max() > 1e-3  # a correction to weigh
    expected = base + w * (stretch.forward(full) - base)
    np.testing.assert_allclose(stretch.forward(out[None]), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_calibrate_refits_or_keeps_the_weight(tiny_checkpoint, survey_pair, tmp_path, capsys):
    from astroi2i.cli.main import main
    from astroi2i.workflows.model import describe

    ckpt = tiny_checkpoint.checkpoint
    out = tmp_path / "test_split.ckpt"
    assert main(["calibrate", str(ckpt), "--manifest", str(survey_pair), "--split", "test",
                 "-o", str(out)]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    corr = describe(out).correction
    assert corr["split"] == "test" and corr["n_images"] == 2
    assert f"correction weight {corr['weights'][0]:g}" in printed
    kept = tmp_path / "kept.ckpt"
    assert main(["calibrate", str(ckpt), "--manifest", str(survey_pair), "--split", "test",
                 "-o", str(kept), "--keep-correction"]) == 0  # fmt: skip
    assert describe(kept).correction == describe(ckpt).correction
    # --finish chooses a two-way model's finish: refused for this one-way model
    capsys.readouterr()
    assert main(["calibrate", str(ckpt), "--manifest", str(survey_pair), "--split", "test",
                 "-o", str(tmp_path / "finish.ckpt"), "--finish", "psnr"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--finish applies to two-way models only" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "finish.ckpt").exists()


def test_a_band_whose_finish_is_the_classical_answers_stores_weight_zero():
    """A two-way band where the finish rule took the classical answer (w = 0 on the raw
    input): its weight and reference family are stored, its PSNR row is the raw input's, and
    the weights chosen by PSNR are kept beside them; an unchanged choice stores nothing more."""
    from types import SimpleNamespace

    import torch

    from astroi2i.workflows.correction import _take_finish_weights

    entry = {"weights": [1.0, 0.7], "raw_reference": [False, True], "psnr": [[1.0, 2.0],
             [3.0, 4.0]], "psnr_raw_reference": [[5.0, 6.0], [3.0, 4.0]]}  # fmt: skip
    generator = SimpleNamespace(_correction_weight=torch.tensor([0.0, 0.7]),
                                raw_reference=[True, True])  # fmt: skip
    _take_finish_weights(entry, generator)
    assert entry["weights"] == [0.0, 0.7] and entry["raw_reference"] == [True, True]
    assert entry["weights_by_psnr"] == [1.0, 0.7]
    assert entry["raw_reference_by_psnr"] == [False, True]
    assert entry["psnr"] == [[5.0, 6.0], [3.0, 4.0]]
    same = {"weights": [0.0, 0.7], "raw_reference": [True, True], "psnr": [[5.0], [3.0]]}
    _take_finish_weights(same, generator)
    assert "weights_by_psnr" not in same
