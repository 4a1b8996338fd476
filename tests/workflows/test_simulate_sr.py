"""The degradation simulator, the bicubic baseline, the seed's PSNR and the flux check."""

from types import SimpleNamespace

import numpy as np
import pytest

from astroi2i.cli.main import main
from astroi2i.io import read_image, read_manifest, write_image
from astroi2i.sky import SkyImage, rescale_wcs, same_grid
from astroi2i.sources.degrade import Degradation, degrade
from astroi2i.workflows.evaluate import bicubic_baseline, evaluate, seed_stretch
from tests.conftest import make_wcs, write_fits


def _point(shape=(64, 64), flux=100.0):
    data = np.zeros(shape, np.float32)
    data[31:33, 31:33] = flux / 4
    return data


def test_degrade_conserves_flux_matches_psf_and_keeps_grids():
    image = SkyImage(_point(), make_wcs("sip", (64, 64)), "nanomaggy")
    d = Degradation(factor=2, psf_in_fwhm=1.0, psf_out_fwhm=6.0)
    low, high = degrade(image, d)
    assert low.shape == (32, 32) and high.shape == (64, 64)
    assert np.nansum(low.data) == pytest.approx(100.0, rel=1e-4)  # sums of 2×2 blocks
    assert same_grid(high, SimpleNamespace(shape=(64, 64), wcs=rescale_wcs(low.wcs, 2)))
    # the blurred point source: second moment ≈ σ² of a 6-px FWHM Gaussian (in HR pixels)
    _, x = np.mgrid[0:32, 0:32]
    w = low.data[0] / low.data[0].sum()
    cx = (w * x).sum()
    sigma_hr = 2 * np.sqrt((w * (x - cx) ** 2).sum())
    assert sigma_hr == pytest.approx(6.0 / 2.3548, rel=0.1)
    surface = degrade(image.replace(unit="MJy/sr"), Degradation(factor=2, psf_out_fwhm=0.0))[0]
    assert np.nansum(surface.data) == pytest.approx(25.0, rel=1e-4)  # means, not sums


def test_degrade_noise_and_invalid_blocks():
    data = np.full((32, 32), 50.0, np.float32)
    data[0, 0] = np.nan
    image = SkyImage(data, make_wcs("tan", (32, 32)), "DN")
    low, _ = degrade(image, Degradation(factor=2, psf_out_fwhm=0.0, gain=1.0, read_noise=2.0))
    assert low.mask[0, 0] and low.mask.sum() == 1
    values = low.data[0][~low.mask[0]]
    assert values.mean() == pytest.approx(200.0, abs=3.0)  # 4 × 50 per block
    assert values.std() == pytest.approx(np.sqrt(200 + 4), rel=0.25)  # Poisson + read noise


def test_depth_ratio_sets_the_output_noise(rng):
    from astroi2i.sources.degrade import depth_sigma

    # a noise field (σ = 1 per HR pixel) with a few sources; equal PSFs, so no convolution
    data = rng.normal(0.0, 1.0, (256, 256)).astype(np.float32)
    data[::64, ::64] += 500.0
    image = SkyImage(data, make_wcs("tan", (256, 256)), "nanomaggy")
    d = Degradation(factor=2, psf_in_fwhm=3.0, psf_out_fwhm=3.0, depth_ratio=2.5)
    assert depth_sigma(1.0, d) == pytest.approx(2 * 10.0)  # binning (×f) then 2.5 mag: ×10
    low, _ = degrade(image, d, seed=1)
    values = low.data[0]
    assert np.std(values[np.abs(values) < 100]) == pytest.approx(20.0, rel=0.05)
    # Δm = 0 and equal PSFs: binning alone gives the depth (σ·f), next to nothing is added
    same = degrade(image, Degradation(factor=2, psf_in_fwhm=3.0, psf_out_fwhm=3.0, depth_ratio=0.0))
    values = same[0].data[0]
    assert np.std(values[np.abs(values) < 100]) == pytest.approx(2.0, rel=0.05)
    # surface brightness: means, so the σ asked for is f² smaller
    assert depth_sigma(1.0, d, surface=True) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="both PSF FWHMs"):
        depth_sigma(1.0, Degradation(factor=2, psf_in_fwhm=0.0, depth_ratio=1.0))


def test_depth_ratio_without_psfs_is_a_one_line_error(tmp_path, capsys):
    write_fits(tmp_path / "sharp.fits", np.ones((32, 32), np.float32), make_wcs("tan", (32, 32)))
    out = tmp_path / "pairs"
    code = main(["simulate", "survey-pair", str(tmp_path / "sharp.fits"), "--out", str(out),
                 "--depth-ratio", "2"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--depth-ratio needs --psf-in and --psf-out" in err
    assert len(err.splitlines()) == 1 and not list(out.glob("**/*.fits"))


def test_bicubic_baseline_and_seed_space():
    low = SkyImage(np.full((1, 8, 8), 4.0, np.float32), make_wcs("tan", (8, 8)), "DN")
    data, mask = bicubic_baseline(low, (16, 16))
    np.testing.assert_allclose(data, 1.0, rtol=1e-6)  # flux per pixel / f²
    assert mask.shape == (1, 16, 16) and not mask.any()
    x = np.arange(16, dtype=float).reshape(1, 4, 4)
    stretched = seed_stretch(x, 3.0)
    assert stretched.min() == 0.0 and stretched.max() == 1.0
    np.testing.assert_array_equal(seed_stretch(x, 3.0, limits_from=x), stretched)
    shared = seed_stretch(x, 3.0, limits_from=2 * x)  # the target's limits, not its own
    assert shared.min() == 0.0
    assert shared.max() == pytest.approx(np.arcsinh(5.0) / np.arcsinh(10.0), rel=1e-12)


def test_simulate_cli_then_evaluate_with_bicubic_and_flux_check(tmp_path, capsys):
    wcs = make_wcs("tan", (64, 64))
    for name in ("a", "b", "c"):
        write_fits(tmp_path / f"{name}.fits", _point() + 1.0, wcs, bunit="DN")
    code = main(
        [
            "simulate",
            "survey-pair",
            *(str(tmp_path / f"{n}.fits") for n in "abc"),
            "--out",
            str(tmp_path / "pairs"),
            "--psf-out",
            "3",
            "--split",
            "train=1",
        ]
    )
    assert code == 0
    m = read_manifest(tmp_path / "pairs" / "manifest.csv")
    assert list(m.table["split"]) == ["train"] * 3
    row = m.table[0]
    lr, hr = (read_image(m.cell(row, c)[0]) for c in ("lr", "hr"))
    assert lr.shape == (32, 32) and hr.shape == (64, 64) and lr.bands == ("lr",)
    # the HR image itself as a "prediction": perfect; bicubic from LR: worse
    write_image(hr, tmp_path / "pred.fits")
    table = evaluate(
        tmp_path / "pred.fits",
        m.cell(row, "hr")[0],
        bicubic_from=m.cell(row, "lr")[0],
        seed_softening=3.0,
    )
    physical = table[table["space"] == "physical"]
    by_method = {r["method"]: r for r in physical}
    assert by_method["prediction"]["psnr"] == np.inf
    assert np.isfinite(by_method["bicubic"]["psnr"]) and by_method["bicubic"]["flux_ratio"] == (
        pytest.approx(1.0, rel=0.02)
    )
    seeds = sorted({s for s in table["space"] if s.startswith("seed (asinh(x/3)")})
    assert seeds == ["seed (asinh(x/3), per-image min-max)", "seed (asinh(x/3), target's min-max)"]
    for space in seeds:  # the perfect prediction is perfect in both seed spaces
        row_p = table[(table["space"] == space) & (table["method"] == "prediction")][0]
        assert row_p["psnr"] == np.inf
    from astroi2i.workflows.flux import total_flux_ratio

    assert total_flux_ratio(tmp_path / "pred.fits", [m.cell(row, "lr")[0]]) == [
        pytest.approx(1.0, rel=0.02)
    ]


def test_survey_pair_presets_draw_their_default_validation_pairs(tmp_path, monkeypatch):
    """sdss-cfht draws 60 validation pairs by default (a two-way model's finish is chosen on
    them by the median of their galaxies' flux errors), splus-legacy 20; --val overrides."""
    pytest.importorskip("galsim")
    from astroi2i.sources import galaxy_stamps
    from astroi2i.workflows.simulate import simulate_galaxy_survey_pair

    drawn = []
    monkeypatch.setattr(galaxy_stamps, "simulate_galaxy_pairs",
                        lambda out, paired, **kw: drawn.append(paired))  # fmt: skip
    for preset, extra in (("sdss-cfht", {}), ("splus-legacy", {}), ("sdss-cfht", {"val": 5})):
        simulate_galaxy_survey_pair(tmp_path / f"{preset}{len(drawn)}", preset=preset, **extra)
    assert [d["val"] for d in drawn] == [60, 20, 5]
    assert all(d["test"] == 60 and d["train"] == 300 for d in drawn)
