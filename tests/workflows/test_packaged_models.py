"""Models shipped inside the package: found by name, small, documented, usable offline."""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from astroi2i.cli.main import main
from astroi2i.io import read_image
from astroi2i.workflows.model import packaged_models, sidecar_path


def test_stix_model_is_packaged_with_sidecar_and_card():
    models = packaged_models()
    assert "stix-bp2clean" in models
    path = models["stix-bp2clean"]
    assert path.stat().st_size <= 20 * 2**20
    meta = json.loads(sidecar_path(path).read_text())
    assert meta["input_bands"] == ["bp"] and meta["target_bands"] == ["clean"]
    assert meta["stretches"]["inputs"]["steps"][0]["type"] == "ExposureStretch"
    card = path.with_suffix(".md").read_text()
    assert "astroi2i train stix_bp2clean" in card and "astroi2i simulate stix" in card


def test_translate_a_bp_by_model_name(tmp_path, capsys):
    """A BP written by hand (no xrayvision needed): a point-like source and its sidelobes."""
    n = 64
    w = WCS(naxis=2)
    w.wcs.ctype, w.wcs.cunit = ["HPLN-TAN", "HPLT-TAN"], ["arcsec", "arcsec"]
    w.wcs.crpix, w.wcs.cdelt, w.wcs.crval = [32.5, 32.5], [1.0, 1.0], [-500.0, 300.0]
    y, x = np.mgrid[0:n, 0:n] - 31.5
    r = np.hypot(x, y)
    bp = (600.0 * np.exp(-0.5 * (r / 6.0) ** 2) + 60.0 * np.cos(r / 4.0) * np.exp(-r / 30)).astype(
        "f4"
    )
    header = w.to_header()
    header["EXPTIME"], header["BUNIT"] = 60.0, "ct / (cm2 keV)"
    src = tmp_path / "bp.fits"
    fits.PrimaryHDU(bp, header).writeto(src)
    out = tmp_path / "clean_like.fits"
    assert main(["translate", "stix-bp2clean", str(src), "-o", str(out)]) == 0
    pred = read_image(out)
    assert pred.shape == (n, n) and np.isfinite(pred.data).all()
    assert pred.header["BUNIT"] == "ct / (arcsec2 cm2 keV)"
    crval = [(v * u).to_value("arcsec") for v, u in zip(pred.wcs.wcs.crval, pred.wcs.wcs.cunit)]
    np.testing.assert_allclose(crval, [-500.0, 300.0])
    # the brightest output pixel is near the source
    peak = np.unravel_index(np.argmax(pred.data[0]), (n, n))
    assert abs(peak[0] - 31.5) < 6 and abs(peak[1] - 31.5) < 6
    assert "stix-bp2clean" in "".join(str(h) for h in pred.header["HISTORY"])
    capsys.readouterr()


def test_unknown_model_name_is_one_line(tmp_path, capsys):
    from tests.cli.test_cli import assert_one_line_error

    src = tmp_path / "x.fits"
    fits.PrimaryHDU(np.ones((8, 8), "f4")).writeto(src)
    code = main(["translate", "no-such-model", str(src), "-o", str(tmp_path / "o.fits")])
    assert_one_line_error(code, capsys.readouterr().err, "no-such-model")
    assert not (tmp_path / "o.fits").exists()


pytestmark = pytest.mark.filterwarnings("ignore:.*FITSFixedWarning.*")
