"""Inputs that used to give a silently wrong answer now give a one-line error (exit 2, nothing
written) or succeed with a warning that names the problem."""

import logging

import numpy as np
import pytest
from astropy.io import fits

from astroi2i.io import read_image, read_manifest
from tests.cli.test_cli import assert_one_line_error, run
from tests.conftest import make_wcs, write_fits


@pytest.fixture(scope="module")
def gr_inputs(survey_pair):
    manifest = read_manifest(survey_pair)
    row = manifest.rows("test")[0]
    return [str(manifest.cell(row, c)[0]) for c in ("shallow_g", "shallow_r")]


@pytest.mark.slow
def test_bands_in_the_wrong_order_are_refused(tiny_checkpoint, gr_inputs, tmp_path, capsys):
    g, r = gr_inputs
    assert fits.getheader(g)["FILTER"] == "g" and fits.getheader(r)["FILTER"] == "r"
    out = tmp_path / "o.fits"
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, r, g, "-o", out)
    assert_one_line_error(code, err, "input band 1 is 'r' by its header", "order g, r")
    assert not out.exists()
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, g, r, "-o", out)
    assert code == 0, err


@pytest.mark.parametrize(
    ("bunit", "message"),
    [
        ("DN", "band 1 (bp) is in 'DN', not 'ct / (cm2 keV)', the model's input unit"),
        ("ct / (m2 keV)", "(1 ct / (m2 keV) = 0.0001 ct / (cm2 keV)), the model's input unit"),
        ("ct/(keV cm2)", None),  # the same unit, spelled otherwise
        (None, "has no BUNIT; it is taken to be in the model's input unit, ct / (cm2 keV)"),
    ],
)
def test_an_input_in_another_unit_is_refused(bunit, message, tmp_path, capsys, caplog):
    """A model trained on one unit gives numbers with no meaning for another: refused, with
    the conversion factor where there is one; no BUNIT is taken as the model's, and said."""
    import astropy.units as u

    from astroi2i.workflows.model import describe
    from tests.workflows.test_batch_translate import _bp

    path = _bp(tmp_path / "bp.fits")
    if bunit is not None:
        fits.setval(path, "BUNIT", value=bunit)
    out = tmp_path / "o.fits"
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        code, _, err = run(capsys, "translate", "stix-bp2clean", path, "-o", out)
    if bunit in ("DN", "ct / (m2 keV)"):
        assert_one_line_error(code, err, str(path), message)
        assert not out.exists()
    else:
        assert code == 0, err
        written = u.Unit(fits.getheader(out)["BUNIT"], format="fits")
        assert written == u.Unit(describe("stix-bp2clean").target_units[0], format="fits")
        assert (message is None) == ("has no BUNIT" not in caplog.text)
        assert message is None or message in caplog.text


@pytest.mark.parametrize(
    ("ctype", "refused"),
    [(("RA---TAN", "DEC--TAN"), True), (("GLON-TAN", "GLAT-TAN"), True),
     (("HPLN-TAN", "HPLT-TAN"), False), (("LINEAR", "LINEAR"), False)],
)  # fmt: skip
def test_an_input_in_the_other_frame_is_refused(ctype, refused, tmp_path, capsys):
    """The packaged STIX model (trained on helioprojective maps) given a map in sky
    coordinates in the same unit: refused, nothing written; a map without celestial axes
    passes, as before."""
    from astroi2i.workflows.model import describe
    from tests.workflows.test_batch_translate import _bp

    assert describe("stix-bp2clean").input_frame == "solar"
    path = _bp(tmp_path / "bp.fits")
    fits.setval(path, "CTYPE1", value=ctype[0])
    fits.setval(path, "CTYPE2", value=ctype[1])
    if ctype[0] != "HPLN-TAN":
        for key in ("CUNIT1", "CUNIT2"):
            fits.setval(path, key, value="deg")
        fits.setval(path, "CRVAL1", value=150.0)
        fits.setval(path, "CRVAL2", value=2.0)
    out = tmp_path / "o.fits"
    code, _, err = run(capsys, "translate", "stix-bp2clean", path, "-o", out)
    if refused:
        assert_one_line_error(code, err, str(path), "an image in sky coordinates",
                              "trained on images in solar coordinates")  # fmt: skip
        assert not out.exists()
    else:
        assert code == 0, err
        assert out.exists()


def test_evaluate_refuses_a_target_on_other_axes_with_the_same_numbers(tmp_path, rng, capsys):
    """World values on RA/Dec and Galactic axes are not comparable: the same CRVAL/CDELT on
    other axes is another grid, not the same one."""
    wcs = make_wcs("tan", (32, 32))
    pred, target = tmp_path / "p.fits", tmp_path / "t.fits"
    data = rng.normal(size=(32, 32))
    write_fits(pred, data, wcs)
    galactic = wcs.deepcopy()
    galactic.wcs.ctype = ["GLON-TAN", "GLAT-TAN"]
    write_fits(target, data, galactic)
    code, _, err = run(capsys, "evaluate", pred, target)
    assert_one_line_error(code, err, str(pred), f"not on the grid of {target}")
    same = tmp_path / "same.fits"
    write_fits(same, data, wcs)
    assert run(capsys, "evaluate", pred, same)[0] == 0


def test_translate_refuses_a_map_whose_pixel_scale_would_be_a_default(tmp_path, capsys):
    """No CDELT: astropy would write 1° per pixel into the output's WCS."""
    from tests.workflows.test_batch_translate import _bp

    path = _bp(tmp_path / "bp.fits")
    with fits.open(path, mode="update") as hdul:
        del hdul[0].header["CDELT1"]
    out = tmp_path / "o.fits"
    code, _, err = run(capsys, "translate", "stix-bp2clean", path, "-o", out)
    assert_one_line_error(code, err, str(path), "no CDELT1 or CD1_1",
                          "astropy would assume 1 degree per pixel")  # fmt: skip
    assert not out.exists()


@pytest.mark.parametrize(
    ("exptime", "message"),
    [(0.0, "EXPTIME is 0.0, not a positive number"), (-5.0, "EXPTIME is -5.0, not a positive"),
     ("abc", "EXPTIME is 'abc', not a positive number"), (None, "EXPTIME is missing")],
)  # fmt: skip
def test_an_exposure_that_is_no_positive_number_is_one_line(exptime, message, tmp_path, capsys):
    """The STIX model divides by EXPTIME: 0 or a negative time gave a traceback (exit 1),
    text was reported as missing."""
    from tests.workflows.test_batch_translate import _bp

    path = _bp(tmp_path / "bp.fits")
    with fits.open(path, mode="update") as hdul:
        if exptime is None:
            del hdul[0].header["EXPTIME"]
        else:
            hdul[0].header["EXPTIME"] = exptime
    out = tmp_path / "o.fits"
    code, _, err = run(capsys, "translate", "stix-bp2clean", path, "-o", out)
    assert_one_line_error(code, err, str(path), message)
    assert "RuntimeWarning" not in err and not out.exists()


def test_an_output_that_is_one_of_its_inputs_is_refused_even_with_overwrite(tmp_path, capsys):
    """``-o`` naming the input, or ``--out-dir`` the inputs' folder, replaced the data with the
    prediction (and a rerun translated the prediction again)."""
    from tests.workflows.test_batch_translate import _bp

    folder = tmp_path / "bp"
    folder.mkdir()
    paths = [_bp(folder / f"bp{i}.fits", seed=i) for i in range(2)]
    before = [p.read_bytes() for p in paths]
    for target in (paths[0], f"{paths[0]}:0"):
        code, _, err = run(capsys, "translate", "stix-bp2clean", target, "-o",
                           folder / ".." / "bp" / "bp0.fits", "--overwrite")  # fmt: skip
        assert_one_line_error(code, err, f"is also an input ({target})", "write the output")
    code, _, err = run(capsys, "translate", "stix-bp2clean", folder, "--out-dir", folder,
                       "--overwrite")  # fmt: skip
    assert_one_line_error(code, err, "bp0.fits: is also an input")
    assert [p.read_bytes() for p in paths] == before
    assert sorted(q.name for q in folder.iterdir()) == ["bp0.fits", "bp1.fits"]
    assert run(capsys, "translate", "stix-bp2clean", paths[0], "-o", tmp_path / "o.fits")[0] == 0


def test_evaluate_refuses_an_image_without_a_valid_pixel(tmp_path, rng, capsys):
    """An all-NaN target ended in a traceback from the stretch fit (exit 1)."""
    wcs = make_wcs("tan", (16, 16))
    pred, target = tmp_path / "p.fits", tmp_path / "t.fits"
    write_fits(pred, rng.normal(size=(16, 16)), wcs)
    write_fits(target, np.full((16, 16), np.nan), wcs)
    for a, b, bad in ((pred, target, target), (target, pred, target)):
        code, _, err = run(capsys, "evaluate", a, b)
        assert_one_line_error(code, err, f"{bad}: band", "has no valid pixel")


def test_sky_frame_names_the_kind_of_coordinates():
    from astropy.wcs import WCS

    from astroi2i.sky.geometry import sky_frame

    def frame(*ctype):
        w = WCS(naxis=len(ctype))
        w.wcs.ctype = list(ctype)
        w.wcs.set()
        return sky_frame(w)

    assert frame("RA---TAN", "DEC--TAN") == frame("ELON-TAN", "ELAT-TAN") == "sky"
    assert frame("GLON-CAR", "GLAT-CAR", "FREQ") == "sky"
    assert frame("HPLN-TAN", "HPLT-TAN") == frame("HGLN-CAR", "HGLT-CAR") == "solar"
    assert frame("CRLN-CEA", "CRLT-CEA") == "solar"
    assert frame("LINEAR", "LINEAR") == "" and sky_frame(None) == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tile", "0"], "--tile 0: must be a whole number of pixels, at least 8"),
        (["--overlap", "-4"], "--overlap -4: must be a whole number of pixels, 0 or more"),
        (["--tile", "32", "--overlap", "32"], "--overlap 32: must be smaller than the tile"),
        (["--device", "gpu7"], "--device gpu7"),
        (["--device", "cuda:3"], "--device cuda:3"),
    ],
)
@pytest.mark.slow
def test_tiling_and_device_options_are_checked(
    options, message, tiny_checkpoint, gr_inputs, tmp_path, capsys
):
    if options[:2] == ["--device", "cuda:3"] and __import__("torch").cuda.device_count() > 3:
        pytest.skip("this machine has a fourth CUDA device")
    out = tmp_path / "o.fits"
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, *gr_inputs, "-o", out,
                       *options)  # fmt: skip
    assert_one_line_error(code, err, message)
    assert not out.exists()


@pytest.mark.slow
def test_align_refuses_inputs_that_do_not_overlap(tiny_checkpoint, tmp_path, capsys):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.fits", tmp_path / "b.fits"
    write_fits(a, rng.normal(size=(32, 32)), make_wcs("tan", (32, 32), ra=150.0))
    write_fits(b, rng.normal(size=(32, 32)), make_wcs("tan", (32, 32), ra=151.0))
    out = tmp_path / "o.fits"
    code, _, err = run(capsys, "translate", tiny_checkpoint.checkpoint, a, b, "-o", out, "--align")
    assert_one_line_error(code, err, "the inputs do not overlap on the reference grid")
    assert not out.exists()


@pytest.mark.slow
def test_pixel_scale_far_from_training_is_warned(tiny_checkpoint, gr_inputs, tmp_path, caplog):
    from astroi2i.workflows.model import describe
    from astroi2i.workflows.translate import translate

    assert describe(tiny_checkpoint.checkpoint).input_frame == "sky"  # RA/Dec stamps
    trained = describe(tiny_checkpoint.checkpoint).pixel_scale_arcsec
    assert trained == pytest.approx(read_image(gr_inputs[0]).wcs.proj_plane_pixel_scales()[0]
                                    .to_value("arcsec"), rel=1e-6)  # fmt: skip
    coarse = []
    for i, path in enumerate(gr_inputs):
        image = read_image(path)
        header = image.wcs.to_header()
        header["CDELT1"], header["CDELT2"] = (header["CDELT1"] * 5.6, header["CDELT2"] * 5.6)
        header["FILTER"] = "gr"[i]
        coarse.append(tmp_path / f"{i}.fits")
        fits.PrimaryHDU(image.data[0], header).writeto(coarse[-1])
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        translate(tiny_checkpoint.checkpoint, coarse, tmp_path / "o.fits")
    assert any("the model was trained at" in r.getMessage() and "ratio 5.60" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_manifest_cells_are_text(tmp_path):
    (tmp_path / "m.csv").write_text(
        "split,id,g\ntrain,0004,nan_g.fits\ntrain,007,x.fits\ntrain,7,y.fits\n"
    )
    table = read_manifest(tmp_path / "m.csv").table
    assert list(table["id"]) == ["0004", "007", "7"]  # no longer 4, 7, 7 (a collision)
    assert table["g"][0] == "nan_g.fits"
    (tmp_path / "d.csv").write_text("split,id,g\ntrain,07,a.fits\ntrain,07,b.fits\n")
    with pytest.raises(Exception, match=r"duplicate values in column 'id' \(07\)"):
        read_manifest(tmp_path / "d.csv")


def test_twoway_exposure_stretch_is_one_line(twoway_pairs, tmp_path, capsys):
    from tests.conftest import TWOWAY_TINY

    code, _, err = run(capsys, "train", "twoway/pix2pix_adapted", "--workdir", tmp_path / "w",
                       "--set", f"data.manifest={twoway_pairs}", *TWOWAY_TINY,
                       "stretch.inputs={type: ExposureStretch, keyword: EXPTIME}")  # fmt: skip
    assert_one_line_error(code, err, "stretch.inputs: two-way systems cannot divide by an exposure")
    assert not (tmp_path / "w").exists()


@pytest.mark.slow
def test_evaluate_refuses_a_target_of_another_filter(
    tiny_checkpoint, survey_pair, gr_inputs, tmp_path, capsys
):
    from astroi2i.workflows.model import describe

    assert describe(tiny_checkpoint.checkpoint).target_filters == ("r",)
    pred = tmp_path / "pred.fits"
    assert run(capsys, "translate", tiny_checkpoint.checkpoint, *gr_inputs, "-o", pred)[0] == 0
    assert fits.getheader(pred)["FILTER"] == "r"  # what the model predicts
    code, _, err = run(capsys, "evaluate", pred, gr_inputs[0])  # the g input: same grid
    assert_one_line_error(code, err, "a prediction of FILTER 'r', but", "is FILTER 'g'")
    target = str(read_manifest(survey_pair).cell(read_manifest(survey_pair).rows("test")[0],
                                                 "deep_r")[0])  # fmt: skip
    code, out, err = run(capsys, "evaluate", pred, target)
    assert code == 0, err


@pytest.mark.parametrize(
    ("bunit", "message"),
    [
        ("adu", "the prediction is in 'nmgy', not 'adu', the unit of"),
        ("maggy", "not 'mgy' (1 nmgy = 1e-09 mgy), the unit of"),
        ("nmgy", None),  # the same unit, spelled otherwise
        ("", None),  # no BUNIT: nothing to check against
    ],
)
def test_evaluate_refuses_a_target_in_another_unit(bunit, message, tmp_path, capsys):
    """Scored in another unit every figure is off by the factor (or means nothing)."""
    wcs = make_wcs(shape=(24, 24))
    rng = np.random.default_rng(0)
    truth = rng.normal(1.0, 0.1, (24, 24))
    pred = write_fits(tmp_path / "p.fits", truth + rng.normal(0, 0.01, truth.shape), wcs)
    target = write_fits(tmp_path / "t.fits", truth, wcs, bunit=bunit)
    code, out, err = run(capsys, "evaluate", pred, target)
    if message is not None:
        assert_one_line_error(code, err, str(pred), message, str(target))
    else:
        assert code == 0, err
        assert "physical" in out


def test_band_order_check_trusts_only_headers_that_tell_bands_apart(caplog):
    """Every SDSS file in the shared folder says FILTER='g': such headers cannot speak for the
    order, so they are not used against it (a warning says so)."""
    from astroi2i.description import ModelDescription
    from astroi2i.errors import InputError
    from astroi2i.workflows.translate_checks import check_band_order

    desc = ModelDescription(recipe={}, input_bands=("g", "r"), target_bands=("i",),
                            stretches={}, input_filters=("g", "r"))  # fmt: skip
    check_band_order(["a", "b"], ["g", "r"], desc)
    check_band_order(["a", "b"], ["", "SDSS-r"], desc)  # unknown names: nothing to say
    with pytest.raises(InputError, match="input band 1 is 'r' by its header"):
        check_band_order(["a", "b"], ["r", "g"], desc)
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        check_band_order(["a", "b"], ["g", "g"], desc)
    assert any("band order not checked" in r.getMessage() for r in caplog.records)


@pytest.mark.slow
def test_history_names_inputs_by_full_path(tiny_checkpoint, gr_inputs, tmp_path, capsys):
    """Two inputs both called g.fits in different folders stay distinguishable."""
    out = tmp_path / "o.fits"
    assert run(capsys, "translate", tiny_checkpoint.checkpoint, *gr_inputs, "-o", out)[0] == 0
    history = "".join(str(h) for h in fits.getheader(out)["HISTORY"]).replace(" ", "")
    from pathlib import Path

    for path in gr_inputs:
        assert str(Path(path).resolve()).replace(" ", "") in history


def test_inspect_a_header_declaring_a_huge_image(tmp_path, capsys):
    """A 100000² header over a few kB of data: one line, no MemoryError."""
    header = fits.Header()
    header.update(SIMPLE=True, BITPIX=-32, NAXIS=2, NAXIS1=100000, NAXIS2=100000)
    path = tmp_path / "huge.fits"
    path.write_bytes(header.tostring().encode() + b"\0" * 2880)
    code, _, err = run(capsys, "inspect", path)
    assert_one_line_error(code, err, "huge.fits", "truncated")
