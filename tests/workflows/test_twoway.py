"""Two-way translation end to end through the CLI: simulate an SDSS/CFHT-like survey pair,
train, translate both ways (WCS, unit, size of the other survey), compare methods in one table;
bad input fails in one line."""

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astroi2i.cli.main import main
from astroi2i.io import read_image, read_manifest
from tests.conftest import TWOWAY_TINY

pytest.importorskip("galsim")


def _sets(*more):
    return [x for s in [*TWOWAY_TINY, "trainer.max_batches=2", *more] for x in ("--set", s)]


@pytest.fixture(scope="module")
def preset_pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("preset") / "pairs"
    code = main(["-q", "simulate", "survey-pair", "--preset", "sdss-cfht", "--out", str(out),
                 "--paired", "3", "--unpaired", "2", "--val", "1", "--test", "2"])  # fmt: skip
    assert code == 0
    return out / "manifest.csv"


@pytest.mark.slow
def test_simulate_train_translate_both_ways(preset_pairs, tmp_path, capsys):
    manifest = read_manifest(preset_pairs)
    assert list(manifest.table["kind"]).count("unpaired_b") == 2
    run = tmp_path / "run"
    assert main(["-q", "train", "twoway/cyclegan_id", "--workdir", str(run),
                 "--set", f"data.manifest={preset_pairs}", *_sets()]) == 0  # fmt: skip
    ckpt = run / "checkpoints" / "last.ckpt"
    row = manifest.rows("test")[0]
    sdss, cfht = manifest.cell(row, "sdss")[0], manifest.cell(row, "cfht")[0]
    out_b, out_a = tmp_path / "to_cfht.fits", tmp_path / "to_sdss.fits"
    assert main(["-q", "translate", str(ckpt), str(sdss), "-o", str(out_b), "--to", "cfht"]) == 0
    assert main(["-q", "translate", str(ckpt), str(cfht), "-o", str(out_a), "--to", "sdss"]) == 0
    pred_b, real_b = read_image(out_b), read_image(cfht)
    pred_a, real_a = read_image(out_a), read_image(sdss)
    assert pred_b.data.shape == real_b.data.shape == (5, 136, 136)
    assert pred_a.data.shape == real_a.data.shape == (5, 64, 64)
    assert str(pred_b.unit) == "adu" and str(pred_a.unit) == "nmgy" and pred_b.bands == real_b.bands
    assert np.isfinite(pred_b.data).all() and pred_b.data.dtype == np.float32
    for pred, real in ((pred_b, real_b), (pred_a, real_a)):  # the other survey's grid exactly
        np.testing.assert_allclose(pred.wcs.wcs.cdelt, real.wcs.wcs.cdelt, rtol=1e-9)
        corners = np.array([[0, 0], [pred.data.shape[-1] - 1, pred.data.shape[-2] - 1]], float)
        np.testing.assert_allclose(pred.wcs.wcs_pix2world(corners, 0),
                                   real.wcs.wcs_pix2world(corners, 0), atol=1e-10)  # fmt: skip
    # the same seed gives the same sample; --no-noise is deterministic
    again = tmp_path / "again.fits"
    main(["-q", "translate", str(ckpt), str(sdss), "-o", str(again), "--to", "cfht"])
    np.testing.assert_array_equal(read_image(again).data, pred_b.data)
    assert main(["-q", "translate", str(ckpt), str(sdss), "-o", str(out_b), "--to", "cfht"]) == 2
    assert "exists" in capsys.readouterr().err


def _noise_level_is_the_measured_one(ckpt, manifest_path):
    """The stored σ per band is the noise σ of the stretched training stamps within 5 %: the
    std of noisy − noise-free truth (both stretched), median over stamps; the emulator's output
    has that σ. (A 3σ-clipped std of the stamps reads up to 6 % high: the galaxies' wings.)"""
    import torch

    from astroi2i.data.stretches import build_stretch
    from astroi2i.workflows.model import load

    system, desc = load(ckpt)
    manifest = read_manifest(manifest_path)
    for side, column, stretch in (("a", "sdss", "inputs"), ("b", "cfht", "targets")):
        emulator = getattr(system, f"ne_{side}")
        assert emulator.anchor
        st = build_stretch(desc.stretches[stretch])
        cells = [manifest.cell(r, column)[0] for r in manifest.rows("train")
                 if str(r[column]).strip() not in ("", "--")]  # fmt: skip
        stamps = [st.forward(read_image(c).data) for c in cells]
        truths = [st.forward(read_image(c.replace(f"_{column}.", f"_{column}_truth.")).data)
                  for c in map(str, cells)]  # fmt: skip
        noise = [(x - t).std(axis=(-2, -1)) for x, t in zip(stamps, truths)]
        expected = np.median(np.asarray(noise), axis=0)
        np.testing.assert_allclose(emulator.noise_sigma.numpy(), expected, rtol=0.05)
        clean = torch.zeros(1, 5, *stamps[0].shape[-2:])
        noise = emulator(clean, torch.randn(1, emulator.seed_channels, *clean.shape[-2:]))
        np.testing.assert_allclose(noise.std(dim=(-2, -1)).detach().numpy()[0], expected,
                                   rtol=0.05)  # fmt: skip
        assert desc.two_way[side]["noise_sigma"] == pytest.approx(
            emulator.noise_sigma.tolist(), rel=1e-6
        )


def _correction_is_chosen_and_applied(ckpt, manifest_path):
    """Training ended by choosing each anchored translator's correction weight per band on the
    validation pair against its noise-free truth; the loaded model applies it, and its
    noise-free output scores what was stored for that weight."""
    from astroi2i.baselines.background import smooth_background
    from astroi2i.baselines.radial_filter import radial_filter
    from astroi2i.metrics.image import psnr
    from astroi2i.workflows.correction import GRID, choose_weights
    from astroi2i.workflows.model import load
    from astroi2i.workflows.twoway import predict_twoway, regrid_baseline
    from astroi2i.workflows.twoway_anchors import _flux_errors, _truth_segments

    system, desc = load(ckpt)
    manifest = read_manifest(manifest_path)
    row = manifest.rows("val")[0]
    for to, name, source, truth in (("b", "g_ab", "sdss", "cfht_truth"),
                                    ("a", "g_ba", "cfht", "sdss_truth")):  # fmt: skip
        corr = desc.two_way[to]["correction"]
        assert corr["split"] == "val" and corr["n_images"] == 1
        assert corr["against"] == "noise-free truth" and len(corr["weights"]) == 5
        psnrs = np.asarray(corr["psnr"])  # (band, grid)
        # the weights chosen by PSNR, then set to 0 in the bands where the finish rule took
        # the classical answer's finish
        raw_by_psnr = corr.get("raw_reference_by_psnr", corr["raw_reference"])
        rows = np.asarray([corr["psnr_raw_reference" if r else "psnr_own_reference"][c]
                           for c, r in enumerate(raw_by_psnr)])  # fmt: skip
        by_psnr = corr.get("weights_by_psnr", corr["weights"])
        assert by_psnr == choose_weights(rows.T[:, :, None])
        classical = desc.two_way[to]["background"]["classical"]
        assert corr["weights"] == [0.0 if k else w for k, w in zip(classical, by_psnr)]
        # w = 0 in a band weighed against the raw input is the filtered regrid of the raw
        # input; the noise GAN's translators read the autoencoder's output, so each band was
        # also weighed against that input's own baseline, and took it only where it scored
        # higher: the choice is never below the raw input's classical answer
        assert len(corr["raw_reference"]) == 5
        raw_w0 = np.asarray(corr["psnr_raw_reference"])[:, 0]
        for c, (w, raw) in enumerate(zip(corr["weights"], corr["raw_reference"])):
            family = corr["psnr_raw_reference" if raw else "psnr_own_reference"]
            assert psnrs[c] == pytest.approx(family[c])
            assert psnrs[c, GRID.index(w)] >= raw_w0[c]
        generator = getattr(system, name)
        chosen = (generator._correction_weight, generator.raw_reference)
        generator.set_correction_weight([0.0] * 5)
        generator.raw_reference = [True] * 5
        data = read_image(manifest.cell(row, source)[0]).data
        classical = predict_twoway(system, desc, data, to, noise=False, flux_anchor=False,
                                   background=False)  # fmt: skip
        generator._correction_weight, generator.raw_reference = chosen
        fitted = desc.two_way[to]["regrid_filter"]
        expected = radial_filter(regrid_baseline(data, desc, to), fitted["k"], fitted["gain"])
        np.testing.assert_allclose(
            classical, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()
        )
        applied = getattr(system, name)._correction_weight
        np.testing.assert_array_equal(applied.numpy(), np.float32(corr["weights"]))
        data = read_image(manifest.cell(row, source)[0]).data
        pred = predict_twoway(system, desc, data, to, noise=False, flux_anchor=False,
                              background=False)  # fmt: skip
        target = read_image(manifest.cell(row, truth)[0]).data
        for c, w in enumerate(corr["weights"]):
            stored = psnrs[c, GRID.index(w)]
            assert psnr(pred[c], target[c]) == pytest.approx(stored, rel=1e-6)
        # then, per band, the finish chosen together by the photometry rule: whether the
        # sources take the regrid reference's flux, then whether and how the background
        # between sources is smoothed; the default output is that, and scores what was stored
        anchor, smooth = desc.two_way[to]["flux_anchor"], desc.two_way[to]["background"]
        assert anchor["n_pairs"] == smooth["n_pairs"] == 1 and len(anchor["on"]) == 5
        assert anchor["rule"] == smooth["rule"] == "photometry" and smooth["order"] == [1] * 5
        full = predict_twoway(system, desc, data, to, noise=False, flux_anchor=True,
                              background=False)  # fmt: skip
        unsmoothed = predict_twoway(system, desc, data, to, noise=False, background=False)
        default = predict_twoway(system, desc, data, to, noise=False)
        smoothed = smooth_background(unsmoothed, nsigma=smooth["nsigma"], scale=smooth["scale"],
                                     order=1)  # fmt: skip
        segments = _truth_segments(target)
        reference = regrid_baseline(data, desc, to)
        for c in range(5):
            np.testing.assert_array_equal(unsmoothed[c], full[c] if anchor["on"][c] else pred[c])
            np.testing.assert_array_equal(default[c], smoothed[c] if smooth["on"][c] else
                                          unsmoothed[c])  # fmt: skip
            assert psnr(default[c], target[c]) == pytest.approx(smooth["psnr"][c], rel=1e-4)
            assert psnr(pred[c], target[c]) == pytest.approx(smooth["psnr_as_is"][c], rel=1e-4)
        np.testing.assert_allclose(_flux_errors(default, segments), smooth["flux_err"],
                                   rtol=1e-3, atol=1e-6)  # fmt: skip
        np.testing.assert_allclose(_flux_errors(reference, segments), smooth["flux_err_regrid"],
                                   rtol=1e-3, atol=1e-6)  # fmt: skip
        # a model fitted before the local plane stored no "order": its masked average stays
        old = {k: v for k, v in smooth.items() if k != "order"}
        older = desc.replace(two_way={**desc.two_way, to: {**desc.two_way[to], "background": old}})
        averaged = smooth_background(unsmoothed, nsigma=smooth["nsigma"], scale=smooth["scale"],
                                     bands=smooth["on"], order=0)  # fmt: skip
        np.testing.assert_array_equal(predict_twoway(system, older, data, to, noise=False),
                                      averaged)  # fmt: skip
        # a translated file says in which bands the fluxes came from the regrid reference
        out = Path(ckpt).parent / f"to_{to}.fits"
        assert main(["-q", "translate", str(ckpt), str(manifest.cell(row, source)[0]), "-o",
                     str(out), "--to", to, "--no-noise"]) == 0  # fmt: skip
        history = "".join(str(h) for h in read_image(out).header.get("HISTORY", []))
        bands = [b for b, on in zip(desc.target_bands if to == "b" else desc.input_bands,
                                    anchor["on"]) if on]  # fmt: skip
        assert ("regrid reference's flux" in history) == bool(bands)
        assert "regrid filtered to the target survey" in history  # the recipe's anchor
        assert ("smooth between sources" in history) == any(smooth["on"])
        np.testing.assert_array_equal(read_image(out).data, default)
        # --no-smooth-background: the translation as the network made it, and its provenance
        # does not claim the smoothing
        raw_out = Path(ckpt).parent / f"to_{to}_raw.fits"
        assert main(["-q", "translate", str(ckpt), str(manifest.cell(row, source)[0]), "-o",
                     str(raw_out), "--to", to, "--no-noise",
                     "--no-smooth-background"]) == 0  # fmt: skip
        np.testing.assert_array_equal(read_image(raw_out).data, unsmoothed)
        assert "smooth between sources" not in "".join(
            str(h) for h in read_image(raw_out).header.get("HISTORY", [])
        )
        # --flux-from-regrid: every band's sources take the regrid reference's flux (for
        # photometry), and the provenance names every band
        photo = Path(ckpt).parent / f"to_{to}_photometry.fits"
        assert main(["-q", "translate", str(ckpt), str(manifest.cell(row, source)[0]), "-o",
                     str(photo), "--to", to, "--no-noise", "--no-smooth-background",
                     "--flux-from-regrid"]) == 0  # fmt: skip
        want = predict_twoway(system, desc, data, to, noise=False, flux_anchor=True,
                              background=False)  # fmt: skip
        np.testing.assert_array_equal(read_image(photo).data, want)
        every = "".join(str(h) for h in read_image(photo).header.get("HISTORY", []))
        assert "regrid reference's flux" in every
        assert all(b in every for b in (desc.target_bands if to == "b" else desc.input_bands))
        _noise_is_shaped_to_the_fitted_spectrum(system, desc, data, to)


def _noise_is_shaped_to_the_fitted_spectrum(system, desc, data, to):
    """The emulated noise's radial gain was fitted from the three stored spectra, and the
    noisy output is the noise-free one plus the emulated noise filtered with it."""
    from astroi2i.baselines.noise_spectrum import spectral_gain
    from astroi2i.baselines.radial_filter import radial_filter
    from astroi2i.workflows.twoway import predict_twoway

    spec = desc.two_way[to]["noise_spectrum"]
    assert spec["n_pairs"] == 1 and len(spec["k"]) == 11 and np.shape(spec["gain"]) == (5, 11)
    powers = [np.asarray(spec[key]) for key in ("power_target", "power_noise_free",
                                                "power_emulated")]  # fmt: skip
    for c in range(5):
        np.testing.assert_allclose(spec["gain"][c], spectral_gain(*(p[c] for p in powers)),
                                   atol=1e-6)  # fmt: skip
    clean = predict_twoway(system, desc, data, to, noise=False)
    raw = predict_twoway(system, desc, data, to, seed=3, shape_spectrum=False)
    shaped = predict_twoway(system, desc, data, to, seed=3)
    want = clean + radial_filter(raw - clean, spec["k"], np.asarray(spec["gain"]))
    np.testing.assert_allclose(shaped, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
    assert not np.allclose(shaped, raw)  # the gain is not 1: the filter did something


@pytest.mark.slow
def test_two_way_errors_are_one_line(preset_pairs, tmp_path, capsys):
    run = tmp_path / "run"
    main(["-q", "train", "twoway/pix2pix_adapted", "--workdir", str(run),
          "--set", f"data.manifest={preset_pairs}", *_sets()])  # fmt: skip
    ckpt, sdss = str(run / "checkpoints" / "last.ckpt"), str(preset_pairs.parent / "test")
    stamp = sorted((preset_pairs.parent / "test").glob("*_sdss.fits"))[0]
    in_adu = tmp_path / "adu.fits"  # the stamp in another unit than the model's sdss side
    with fits.open(stamp) as hdul:
        hdul[0].header["BUNIT"] = "adu"
        hdul.writeto(in_adu)
    capsys.readouterr()
    assert main(["inspect", ckpt]) == 0
    out = capsys.readouterr().out
    assert "  task: two-way translation (" in out
    assert "  domain a: sdss, sky coordinates (RA/Dec, Galactic or ecliptic axes), " in out
    assert "  domain b: cfht, sky coordinates (RA/Dec, Galactic or ecliptic axes), " in out
    on_sun = tmp_path / "sun.fits"  # the stamp's grid in solar coordinates
    with fits.open(stamp) as hdul:
        hdul[0].header["CTYPE1"], hdul[0].header["CTYPE2"] = "HPLN-TAN", "HPLT-TAN"
        hdul[0].header["CRVAL1"], hdul[0].header["CRVAL2"] = 0.1, 0.1
        hdul.writeto(on_sun)
    capsys.readouterr()
    cases = [
        (["translate", ckpt, str(in_adu), "-o", str(tmp_path / "x.fits"), "--to", "cfht"],
         "band 1 (u) is in 'adu', not 'nanomaggy', the model's input unit"),
        (["translate", ckpt, str(on_sun), "-o", str(tmp_path / "x.fits"), "--to", "cfht"],
         "an image in solar coordinates"),
        (["translate", ckpt, str(stamp), "-o", str(tmp_path / "x.fits")], "say which domain"),
        (["translate", ckpt, str(stamp), "-o", str(tmp_path / "x.fits"), "--to", "hst"],
         "translates to sdss or cfht"),
        (["train", "twoway/cyclegan_id", "--workdir", str(tmp_path / "r2"),
          "--set", f"data.manifest={preset_pairs}", "--set", "data.crop_size=32"],
         "data.crop_size: two-way systems train on whole stamps"),
        (["export", ckpt, "--format", "safetensors"], "a two-way checkpoint"),
        (["simulate", "survey-pair", "--preset", "sdss-cfht", "--out", sdss], "not empty"),
    ]  # fmt: skip
    for argv, message in cases:
        assert main(["-q", *argv]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.fits").exists() and not (tmp_path / "r2").exists()


@pytest.mark.slow
def test_compare_scores_methods_both_ways(preset_pairs, tmp_path, capsys):
    work = tmp_path / "cmp"
    code = main(["-q", "compare", "twoway/pix2pix_adapted", "twoway/noise_gan", "--data",
                 str(preset_pairs), "--workdir", str(work), "--seed", "1", *_sets()])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "bg_sigma_ratio" in printed and "psd_dex" in printed and "sdss→cfht" in printed
    summary = Table.read(work / "compare.ecsv")
    assert set(summary["method"]) == {
        "regrid (no learning)", "pix2pix_adapted", "noise_gan",
        "regrid + fitted filter (no learning)",
        "regrid + fitted filter + smooth background (no learning)",
    }  # fmt: skip
    assert set(summary["direction"]) == {"sdss→cfht", "cfht→sdss"}
    assert all(summary["n"] == 2)
    for col in ("psnr", "ssim", "mae", "bg_sigma_ratio", "psd_dex"):
        assert np.isfinite(np.asarray(summary[col], float)).all(), col
    base = summary[summary["method"] == "regrid (no learning)"]
    # the regridded shallow survey is noisier than the deep one, and the reverse
    to_cfht = base[base["direction"] == "sdss→cfht"][0]
    to_sdss = base[base["direction"] == "cfht→sdss"][0]
    assert to_cfht["bg_sigma_ratio"] > 1.5 and to_sdss["bg_sigma_ratio"] < 0.5
    assert to_cfht["flux_err"] < 0.1  # regridding keeps the flux (unit conversion included)
    rows = Table.read(work / "compare_rows.ecsv")
    assert len(rows) == 5 * 2 * 2  # methods × directions × test pairs
    _fitted_filter_rows_are_the_filtered_regrid(work, preset_pairs, rows)
    # scored twice: noise-free outputs against the noise-free truths the simulator wrote
    for col in ("psnr_nf", "ssim_nf", "mae_nf", "flux_err_nf"):
        assert np.isfinite(np.asarray(summary[col], float)).all(), col
    to_sdss_nf = base[base["direction"] == "cfht→sdss"][0]
    assert to_sdss_nf["psnr_nf"] > to_sdss["psnr"] + 3  # deep CFHT regridded ≈ SDSS's truth
    # the anchored noise emulators start at each survey's measured noise, in stretched units
    _noise_level_is_the_measured_one(work / "noise_gan" / "checkpoints" / "last.ckpt",
                                     preset_pairs)  # fmt: skip
    _correction_is_chosen_and_applied(work / "noise_gan" / "checkpoints" / "last.ckpt",
                                      preset_pairs)  # fmt: skip
    _calibrate_refits_a_copy(work / "noise_gan" / "checkpoints" / "last.ckpt", preset_pairs,
                             capsys)  # fmt: skip
    # --reuse loads the trained checkpoints: same numbers, no training
    assert main(["-q", "compare", "twoway/pix2pix_adapted", "--data", str(preset_pairs),
                 "--workdir", str(work), "--seed", "1", "--reuse", *_sets()]) == 0  # fmt: skip
    again = Table.read(work / "compare.ecsv")
    mine = again[again["method"] == "pix2pix_adapted"]
    first = summary[summary["method"] == "pix2pix_adapted"]
    np.testing.assert_allclose(np.asarray(mine["psnr"]), np.asarray(first["psnr"]))


def _calibrate_refits_a_copy(ckpt, manifest_path, capsys):
    """``calibrate`` on a two-way checkpoint makes its post-training choices again in a copy
    (here on the test pairs instead of the validation pair), prints them, leaves the source
    as it was and refuses to overwrite without --overwrite."""
    from astroi2i.workflows.model import describe

    before = Path(ckpt).read_bytes()
    out = Path(ckpt).parent / "recalibrated.ckpt"
    capsys.readouterr()
    assert main(["-q", "calibrate", str(ckpt), "--manifest", str(manifest_path), "--split",
                 "test", "-o", str(out), "--finish", "psnr"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "into cfht, per band: correction weight" in printed and "smooth background" in printed
    assert Path(ckpt).read_bytes() == before
    refit, first = describe(out).two_way, describe(ckpt).two_way
    for side in ("a", "b"):
        assert refit[side]["correction"]["split"] == "test"
        assert refit[side]["correction"]["n_images"] == 2
        assert (
            refit[side]["background"]["n_pairs"] == 2 and first[side]["background"]["n_pairs"] == 1
        )
        assert refit[side]["background"]["rule"] == refit[side]["flux_anchor"]["rule"] == "psnr"
        assert first[side]["background"]["rule"] == "photometry"
    assert main(["-q", "calibrate", str(ckpt), "--manifest", str(manifest_path), "-o",
                 str(out)]) == 2  # fmt: skip
    assert "exists" in capsys.readouterr().err
    assert main(["-q", "calibrate", str(ckpt), "--manifest", str(manifest_path), "-o",
                 str(out) + "2.ckpt", "--keep-correction"]) == 2  # fmt: skip
    assert "do not apply" in capsys.readouterr().err and not Path(str(out) + "2.ckpt").exists()


def _fitted_filter_rows_are_the_filtered_regrid(work, manifest_path, rows):
    """The "regrid + fitted filter" rows score the regrid reference filtered with the radial
    filter fitted on the validation pairs, by hand."""
    from astroi2i.baselines.background import smooth_background
    from astroi2i.baselines.flux_anchor import anchor_flux
    from astroi2i.baselines.radial_filter import radial_filter
    from astroi2i.data.twoway import load_domains
    from astroi2i.metrics.image import band_metrics
    from astroi2i.workflows.model import load
    from astroi2i.workflows.twoway import regrid_baseline
    from astroi2i.workflows.twoway_anchors import choose_finish, fitted_regrid_filters

    _, desc = load(work / "noise_gan" / "checkpoints" / "last.ckpt")
    table = read_manifest(manifest_path)
    val = load_domains(table, "val", ["sdss"], ["cfht"]).paired
    filters = fitted_regrid_filters(desc, [(np.where(a.band_mask, np.nan, a.data),
                                            np.where(b.band_mask, np.nan, b.data))
                                           for _, a, b in val])  # fmt: skip
    key, a, b = load_domains(table, "test", ["sdss"], ["cfht"]).paired[0]
    pred = radial_filter(regrid_baseline(a.data, desc, "b"), filters["b"]["k"],
                         filters["b"]["gain"])  # fmt: skip
    psnr = np.mean([band_metrics(pred[c], b.data[c], b.band_mask[c])["psnr"] for c in range(5)])
    row = rows[(rows["method"] == "regrid + fitted filter (no learning)") & (rows["id"] == key)
               & (rows["direction"] == "sdss→cfht")]  # fmt: skip
    assert len(row) == 1 and row["psnr"][0] == pytest.approx(psnr, rel=1e-6)
    assert filters["b"]["n_pairs"] == len(val) and filters["b"]["gain"][0][0] == 1.0
    # "+ smooth background": that, finished as the model's translations are (flux anchoring
    # to the regrid reference, then the smooth background), chosen by the model's rule on
    # the validation pairs against their noise-free truths
    truths = load_domains(table, "val", ["sdss_truth"], ["cfht_truth"]).paired
    regrids = [regrid_baseline(a.data, desc, "b") for _, a, _ in val]
    filtered = [radial_filter(r, filters["b"]["k"], filters["b"]["gain"]) for r in regrids]
    anchor, chosen = choose_finish(filtered, regrids, [t.data for _, _, t in truths],
                                   rule=desc.two_way["b"]["background"]["rule"])  # fmt: skip
    finished = pred
    if any(anchor["on"]):
        finished = anchor_flux(pred, regrid_baseline(a.data, desc, "b"), bands=anchor["on"])[0]
    smoothed = smooth_background(finished, nsigma=chosen["nsigma"], scale=chosen["scale"],
                                 bands=chosen["on"], order=chosen["order"])  # fmt: skip
    psnr = np.mean([band_metrics(smoothed[c], b.data[c], b.band_mask[c])["psnr"]
                    for c in range(5)])  # fmt: skip
    row = rows[(rows["method"] == "regrid + fitted filter + smooth background (no learning)")
               & (rows["id"] == key) & (rows["direction"] == "sdss→cfht")]  # fmt: skip
    assert len(row) == 1 and row["psnr"][0] == pytest.approx(psnr, rel=1e-6)


def test_the_classical_rows_take_the_compared_models_finish_rule():
    """Whatever order the recipes are given in: the first model with a finish gives the rule
    (one fitted before rules were stored: psnr); none with a finish: the default rule."""
    from types import SimpleNamespace

    from astroi2i.workflows.twoway_compare import _finish_rule

    def meta(background):
        return SimpleNamespace(two_way={"a": {}, "b": {"background": background}})

    baseline, old = meta(None), meta({"on": [True]})
    assert _finish_rule([baseline, meta({"rule": "photometry"}), baseline]) == "photometry"
    assert _finish_rule([baseline, old]) == "psnr"
    assert _finish_rule([baseline, baseline]) == "photometry"
