"""End-to-end through the command line: train → translate → evaluate → inspect, and every
kind of bad input ends with one line, exit code 2 and nothing written."""

import json
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits

from astroi2i import __version__
from astroi2i.cli.main import main
from astroi2i.io import read_image, read_manifest
from tests.conftest import TINY_MODEL, make_wcs, write_fits


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_version_and_help_in_a_real_process():
    result = subprocess.run(
        [sys.executable, "-m", "astroi2i", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.strip() == f"astroi2i {__version__}"
    result = subprocess.run(
        [sys.executable, "-m", "astroi2i", "--help"], capture_output=True, text=True
    )
    for command in ("quickstart", "train", "translate", "evaluate", "inspect"):
        assert command in result.stdout


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    (tmp_path / "x.fits").write_text("not fits")
    result = subprocess.run(
        [sys.executable, "-m", "astroi2i", "inspect", str(tmp_path / "x.fits")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "x.fits: not a readable FITS file" in result.stderr


@pytest.mark.slow
def test_train_translate_evaluate_inspect(survey_pair, tmp_path, capsys):
    work = tmp_path / "run"
    sets = [f"data.manifest={survey_pair}", "trainer.max_batches=3", *TINY_MODEL]
    code, out, err = run(capsys, "train", "pix2pix_quickstart", "--workdir", work, "--set", *sets)
    assert code == 0, err
    ckpt = work / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and f"checkpoint: {ckpt}" in out

    manifest = read_manifest(survey_pair)
    row = manifest.rows("test")[0]
    g, r = (manifest.cell(row, c)[0] for c in ("shallow_g", "shallow_r"))
    target = manifest.cell(row, "deep_r")[0]
    pred = tmp_path / "pred.fits"
    code, out, err = run(
        capsys, "translate", ckpt, g, r, "-o", pred, "--tile", "32", "--overlap", "8"
    )
    assert code == 0, err
    result, source = read_image(pred), read_image(r)
    assert result.shape == source.shape and result.bands == ("deep_r",)
    assert np.array_equal(result.mask, source.mask)  # NaN footprint restored where inputs were bad
    assert np.isfinite(result.data[0][~result.mask]).all()
    assert result.wcs.to_header()["CRVAL1"] == source.wcs.to_header()["CRVAL1"]
    header = fits.getheader(pred)
    assert header["BUNIT"] == "nanomaggy"
    history = " ".join(header["HISTORY"])
    assert "checkpoint_sha256" in history and "astroi2i translate" in history

    code, out, err = run(
        capsys, "evaluate", pred, target, "--checkpoint", ckpt, "--report", tmp_path / "rep"
    )
    assert code == 0, err
    assert "physical" in out and "stretched (AsinhStretch" in out
    rows = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert {r["space"].split(" ")[0] for r in rows} == {"physical", "stretched"}
    assert all(np.isfinite(r["mae"]) for r in rows)

    code, out, err = run(capsys, "inspect", pred)
    assert code == 0 and "RA---TAN" in out and "deep_r" in out and "invalid pixels" in out

    # the identical prediction evaluates perfectly; folders are matched by file name
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "x.fits").write_bytes(target.read_bytes())
    code, out, err = run(capsys, "evaluate", tmp_path / "a", tmp_path / "b")
    assert code == 0 and out.count(" inf ") == 2 and "  1   0          1 " in out


@pytest.fixture
def bad_inputs(tmp_path, rng):
    wcs = make_wcs("tan", (48, 48))
    good = write_fits(tmp_path / "good.fits", rng.normal(size=(48, 48)), wcs)
    (tmp_path / "text.fits").write_text("SIMPLE = nonsense")
    full = tmp_path / "full.fits"
    fits.PrimaryHDU(np.ones((48, 48), "f4")).writeto(full)
    (tmp_path / "trunc.fits").write_bytes(full.read_bytes()[:4000])
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.ones(3))]),
        ]
    ).writeto(tmp_path / "table.fits")
    fits.HDUList(
        [fits.PrimaryHDU(np.ones((48, 48), "f4")), fits.ImageHDU(np.ones((48, 48), "f4"))]
    ).writeto(tmp_path / "two.fits")
    shifted = wcs.deepcopy()
    shifted.wcs.crval = [wcs.wcs.crval[0], wcs.wcs.crval[1] + 10 * 0.4 / 3600]  # 10 px
    write_fits(tmp_path / "other_grid.fits", rng.normal(size=(48, 48)), shifted)
    write_fits(tmp_path / "nan.fits", np.full((48, 48), np.nan), wcs)
    return tmp_path, good


@pytest.mark.parametrize(
    "second, message",
    [
        ("text.fits", "text.fits: not a readable FITS file"),
        ("trunc.fits", "trunc.fits: FITS file is truncated"),
        ("table.fits", "table.fits: no image HDU"),
        ("two.fits", "two.fits: 2 image HDUs, which one is meant is ambiguous"),
        ("other_grid.fits", "other_grid.fits: not on the grid of"),
        ("nan.fits", "nan.fits: band 'nan' has no valid pixel"),
    ],
)
@pytest.mark.slow
def test_translate_bad_inputs(tiny_checkpoint, bad_inputs, capsys, second, message):
    folder, good = bad_inputs
    out = folder / "out.fits"
    code, _, err = run(
        capsys, "translate", tiny_checkpoint.checkpoint, good, folder / second, "-o", out
    )
    assert_one_line_error(code, err, message)
    assert not out.exists()


@pytest.mark.slow
def test_translate_wrong_band_count_missing_checkpoint_and_overwrite(
    tiny_checkpoint, bad_inputs, capsys
):
    folder, good = bad_inputs
    out = folder / "out.fits"
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, good, "-o", out)
    assert_one_line_error(
        code, err, "1 input band(s) given, the model expects 2 (shallow_g, shallow_r)"
    )
    code, _, err = run(capsys, "translate", folder / "missing.ckpt", good, good, "-o", out)
    assert_one_line_error(code, err, "missing.ckpt: checkpoint not found")
    assert not out.exists()
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, good, good, "-o", out)
    assert_one_line_error(code, err, "out.fits: exists; pass --overwrite")
    assert out.read_bytes() == b"precious"
    code, _, err = run(
        capsys,
        "translate",
        tiny_checkpoint.checkpoint,
        good,
        folder / "other_grid.fits",
        "-o",
        out,
        "--align",
        "--overwrite",
    )
    assert code == 0, err
    aligned = read_image(out)
    assert aligned.mask.any() and not aligned.mask.all()  # the shifted band leaves part uncovered


def test_not_a_checkpoint(tmp_path, bad_inputs, capsys):
    folder, good = bad_inputs
    (tmp_path / "junk.ckpt").write_bytes(b"\x00garbage")
    code, _, err = run(capsys, "translate", tmp_path / "junk.ckpt", good, "-o", tmp_path / "o.fits")
    assert_one_line_error(code, err, "junk.ckpt: not a readable checkpoint")


@pytest.mark.parametrize(
    "override, message",
    [
        ("model.generator.depht=3", "model.generator.depht: unknown key for UNetGenerator"),
        ("data.batch_size=two", "data.batch_size: expected int, got 'two'"),
        ("trainer.max_batches=[1]", "trainer.max_batches: expected int"),
    ],
)
def test_train_bad_recipe_keys_leave_nothing(survey_pair, tmp_path, capsys, override, message):
    work = tmp_path / "run"
    code, _, err = run(
        capsys,
        "train",
        "pix2pix_quickstart",
        "--workdir",
        work,
        "--set",
        f"data.manifest={survey_pair}",
        override,
    )
    assert_one_line_error(code, err, message)
    assert not work.exists()


def test_train_missing_manifest_and_recipe(tmp_path, capsys):
    code, _, err = run(
        capsys, "train", "pix2pix_quickstart", "--set", f"data.manifest={tmp_path}/m.csv"
    )
    assert_one_line_error(code, err, "m.csv: manifest not found")
    code, _, err = run(capsys, "train", tmp_path / "nope.yaml")
    assert_one_line_error(code, err, "nope.yaml: no such recipe file or packaged recipe")


def test_print_config_resolves_everything(capsys):
    code, out, _ = run(
        capsys, "train", "pix2pix_multiinput", "--print-config", "--set", "model.generator.depth=5"
    )
    assert code == 0 and "depth: 5" in out and "final_activation: none" in out


def test_option_defaults_are_stated_once_where_they_are_used(capsys):
    """The parser holds no default numbers of its own: --help reads them from the dataclass or
    function that uses them, and an option not given is not passed at all."""
    from astroi2i.cli.parser import Default, build_parser, given
    from astroi2i.sources.degrade import Degradation
    from astroi2i.sources.stix import StixImaging

    args = build_parser().parse_args(["simulate", "stix", "--out", "x", "--n", "2",
                                      "--niter", "50"])  # fmt: skip
    assert isinstance(args.map_size, Default) and args.map_size.value() == StixImaging().map_size
    assert given(args, map_size="map_size", niter="niter") == {"niter": 50}
    defaults = [a.default for p in _subparsers(build_parser()) for a in p._actions]
    assert not any(
        isinstance(d, int | float) and not isinstance(d, bool) and d not in (0,) for d in defaults
    )  # fmt: skip  (seeds are 0; everything else is a Default)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["simulate", "survey-pair", "--help"])
    assert f"rebinning factor ({Degradation().factor})" in capsys.readouterr().out
    parsed = build_parser().parse_args(["simulate", "survey-pair", "--out", "x"])
    assert str(parsed.psf_out) == str(Degradation().psf_out_fwhm)


def _subparsers(parser):
    import argparse

    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += [sub, *_subparsers(sub)]
    return out


def test_options_of_the_other_kind_are_refused(tmp_path, capsys):
    code, _, err = run(capsys, "simulate", "survey-pair", tmp_path / "a.fits", "--out",
                       tmp_path / "o", "--paired", "10")  # fmt: skip
    assert_one_line_error(code, err, "--paired: only with --preset")
    code, _, err = run(capsys, "simulate", "survey-pair", "--preset", "sdss-cfht", "--out",
                       tmp_path / "o", "--sky", "3")  # fmt: skip
    assert_one_line_error(code, err, "sky: a degradation option; --preset sdss-cfht sets its own")
    assert not (tmp_path / "o").exists()
