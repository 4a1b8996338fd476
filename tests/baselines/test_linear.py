import numpy as np
import pytest
from scipy import ndimage

from astroi2i.baselines import LinearSmoothBaseline
from astroi2i.metrics.noise import noise_floor_psnr, pixel_noise


def _sky(rng, shape=(64, 64)):
    sky = ndimage.gaussian_filter(rng.normal(size=shape), 3) * 10
    return sky + rng.exponential(0.2, shape)


def test_linear_fit_recovers_known_coefficients():
    rng = np.random.default_rng(0)
    inputs, targets = [], []
    for _ in range(3):
        j, h = _sky(rng), _sky(rng)
        k = 2.0 * j - 0.5 * h + 3.0 + rng.normal(0, 0.01, j.shape)
        inputs.append(np.stack([j, h]))
        targets.append(k[None])
    inputs[0][1, 5, 5] = np.nan  # invalid pixels are left out, not fitted
    fit = LinearSmoothBaseline.fit(inputs, targets)
    assert fit.sigma == 0.0
    np.testing.assert_allclose(fit.coef, [[2.0, -0.5]], atol=2e-3)
    np.testing.assert_allclose(fit.offset, [3.0], atol=5e-3)
    pred = fit.predict(inputs[0])
    assert np.isnan(pred[0, 5, 5]) and np.isfinite(pred).sum() == pred.size - 1
    again = LinearSmoothBaseline.from_dict(fit.to_dict())
    assert again == fit


def test_smoothing_width_is_recovered():
    """A noisy image of a field whose clean version is the target: the fitted σ is the one
    that denoises best, and it is not 0."""
    rng = np.random.default_rng(1)
    inputs, targets = [], []
    for _ in range(3):
        clean = ndimage.gaussian_filter(rng.normal(size=(96, 96)), 2.0) * 5
        inputs.append((clean + rng.normal(0, 1.0, clean.shape))[None])
        targets.append(clean[None])
    fit = LinearSmoothBaseline.fit(inputs, targets)
    errors = {s: np.mean((LinearSmoothBaseline(s, fit.coef, fit.offset).predict(inputs[0])
                          - targets[0]) ** 2) for s in (0.0, fit.sigma)}  # fmt: skip
    assert 1.0 <= fit.sigma <= 3.0 and errors[fit.sigma] < 0.5 * errors[0.0]
    assert "Gaussian σ" in fit.describe()


def test_noise_floor_of_a_white_noise_target():
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:128, 0:128]
    clean = 5 + 0.02 * x + 30 * np.exp(-((x - 40) ** 2 + (y - 70) ** 2) / 18.0)  # sky + a star
    noisy = clean + rng.normal(0, 0.1, clean.shape)
    assert pixel_noise(noisy) == pytest.approx(0.1, rel=0.05)
    peak = np.ptp(noisy)
    assert noise_floor_psnr(noisy) == pytest.approx(20 * np.log10(peak / 0.1), abs=0.5)
    # the noiseless truth scores that PSNR against the noisy target
    from astroi2i.metrics.image import psnr

    assert psnr(clean, noisy) == pytest.approx(noise_floor_psnr(noisy), abs=0.5)


def test_worse_than_baseline_is_flagged(caplog):
    import logging

    from astropy.table import Table

    from astroi2i.workflows.split_eval import warn_if_worse

    summary = Table(rows=[
        {"group": "all", "method": m, "band": b, "space": "physical", "psnr": v}
        for m, b, v in [("model", "r", 30.0), ("baseline", "r", 31.0),
                        ("model", "i", 32.0), ("baseline", "i", 31.95)]
    ])  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        worse = warn_if_worse(summary, "model", "baseline")
    assert worse == [("all", "r", 30.0, 31.0)]  # i: 0.05 dB below is within the 0.1 dB margin
    assert any("WORSE than its fitted classical baseline" in r.getMessage()
               for r in caplog.records)  # fmt: skip


@pytest.mark.slow
def test_training_stores_the_baseline_and_evaluate_split_scores_it(
    tiny_checkpoint, survey_pair, tmp_path
):
    from astropy.table import Table

    from astroi2i.baselines import baseline_from_dict
    from astroi2i.io import read_image, read_manifest
    from astroi2i.workflows.model import describe
    from astroi2i.workflows.split_eval import evaluate_split

    fitted = baseline_from_dict(describe(tiny_checkpoint.checkpoint).baseline)
    assert len(fitted.coef) == 1 and len(fitted.coef[0]) == 2  # deep_r from shallow g, r
    per_sample, _ = evaluate_split(tiny_checkpoint.checkpoint, survey_pair, tmp_path / "e")
    manifest = read_manifest(survey_pair)
    row = manifest.rows("test")[0]
    inputs = np.concatenate([read_image(manifest.cell(row, c)[0]).data
                             for c in ("shallow_g", "shallow_r")])  # fmt: skip
    target = read_image(manifest.cell(row, "deep_r")[0]).data[0]
    from astroi2i.metrics.image import psnr

    expected = psnr(fitted.predict(inputs)[0], target)
    sel = ((per_sample["method"] == "baseline") & (per_sample["space"] == "physical")
           & (per_sample["id"] == str(row["id"])))  # fmt: skip
    assert float(per_sample["psnr"][sel][0]) == pytest.approx(expected, rel=1e-6)
    assert isinstance(Table.read(tmp_path / "e" / "summary.ecsv"), Table)


@pytest.mark.slow
def test_an_untrained_anchored_model_is_its_baseline(survey_pair, tmp_path):
    """data.anchor=baseline with a zero last layer: before the network has learnt anything
    (lr 0), translate returns the fitted baseline, strip by strip, on an image larger than a
    tile."""
    from astroi2i.baselines import baseline_from_dict
    from astroi2i.io import read_image, read_manifest
    from astroi2i.workflows.model import describe
    from astroi2i.workflows.train import train
    from astroi2i.workflows.translate import translate
    from tests.conftest import TINY_MODEL

    overrides = [f"data.manifest={survey_pair}", "trainer.max_batches=2", *TINY_MODEL,
                 "data.anchor=baseline", "model.generator.zero_output=true",
                 "model.system.lr=0.0"]  # fmt: skip
    result = train("pix2pix_quickstart", overrides=overrides, workdir=tmp_path / "run")
    fitted = baseline_from_dict(describe(result.checkpoint).baseline)
    manifest = read_manifest(survey_pair)
    row = manifest.rows("train")[0]  # 64² images, tiles of 32
    inputs = [manifest.cell(row, c)[0] for c in ("shallow_g", "shallow_r")]
    out = read_image(translate(result.checkpoint, inputs, tmp_path / "o.fits"))
    x = np.concatenate([read_image(p).data for p in inputs])
    expected = fitted.predict(x)
    scale = np.nanmax(np.abs(expected))
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6 * scale)


def test_anchor_refuses_what_it_does_not_apply_to():
    from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
    from astroi2i.errors import InputError

    recipe = load_recipe("pix2pix_quickstart")
    with pytest.raises(InputError, match="data.anchor: baseline is the fitted linear baseline"):
        resolve_recipe(apply_overrides(recipe, ["data.anchor=baseline", "data.scale=2"]))
