import logging
import os
import re

import numpy as np
import pytest
from astropy.io import fits

from astroi2i.errors import InputError
from astroi2i.io import read_image, write_image
from astroi2i.sky import SkyImage, read_images
from tests.conftest import make_wcs, write_fits


def _sky(wcs, shape):
    y, x = np.mgrid[0 : shape[0] : 3, 0 : shape[1] : 3]
    return np.array(wcs.pixel_to_world_values(x, y))


@pytest.mark.parametrize("kind", ["tan", "sip", "car"])
@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip_bit_identical(fits_factory, tmp_path, kind, compressed):
    path = fits_factory(f"in_{kind}.fits", kind=kind, compressed=compressed, nan_box=True)
    a = read_image(path)
    assert a.data.dtype == np.float32 and a.data.dtype.isnative
    assert a.mask.sum() == 12 and np.isnan(a.data[0][a.mask]).all()
    out = write_image(a, tmp_path / "out.fits", provenance={"command": "test"})
    b = read_image(out)
    np.testing.assert_array_equal(a.data, b.data)  # NaN == NaN here, bit-identical elsewhere
    assert a.data.tobytes() == b.data.tobytes()
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(_sky(a.wcs, a.shape), _sky(b.wcs, b.shape), rtol=0, atol=1e-8)
    with fits.open(out) as hdul:
        hdul.verify("exception")
        header = hdul[0].header
        assert header["BUNIT"] == "nanomaggy" and header["TELESCOP"] == "TESTSCOPE"
        assert any("command: test" in str(h) for h in header["HISTORY"])
        if kind == "sip":
            assert header["CTYPE1"] == "RA---TAN-SIP" and "A_2_0" in header


def test_original_wcs_compared_to_file(tmp_path, rng):
    wcs = make_wcs("sip", (30, 30))
    path = write_fits(tmp_path / "a.fits", rng.normal(size=(30, 30)), wcs)
    image = read_image(path)
    np.testing.assert_allclose(_sky(image.wcs, (30, 30)), _sky(wcs, (30, 30)), atol=1e-10)


def test_stale_header_keys_are_not_copied(tmp_path, rng):
    wcs = make_wcs("tan", (20, 20))
    header_extra = {"CD1_1": 1.0, "A_ORDER": 3, "MYKEY": "x"}  # stale / unknown keys
    path = write_fits(tmp_path / "a.fits", rng.normal(size=(20, 20)), None, extra=header_extra)
    image = read_image(path).replace(wcs=wcs)
    out = write_image(image, tmp_path / "b.fits")
    header = fits.getheader(out)
    assert "CD1_1" not in header and "A_ORDER" not in header and "MYKEY" not in header
    assert header["CTYPE1"] == "RA---TAN"


def test_scaled_integers_blank_and_big_endian(tmp_path):
    raw = np.arange(100, dtype=">i2").reshape(10, 10)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 2.0, 10.0, 7
    hdu.writeto(tmp_path / "int.fits")
    image = read_image(tmp_path / "int.fits")
    assert image.data.dtype == np.float32 and image.data.dtype.isnative
    assert image.data[0, 0, 3] == 16.0  # 2 * 3 + 10
    assert image.mask[0, 7] and np.isnan(image.data[0, 0, 7]) and image.mask.sum() == 1
    fits.PrimaryHDU(np.ones((5, 6), ">f8")).writeto(tmp_path / "be.fits")
    be = read_image(tmp_path / "be.fits")
    assert be.data.dtype == np.dtype("float32") and be.data.dtype.byteorder in "=<|"


def test_integer_blank_without_scaling(tmp_path):
    raw = np.arange(20, dtype=np.int16).reshape(4, 5)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BLANK"] = 3
    hdu.writeto(tmp_path / "i.fits")
    image = read_image(tmp_path / "i.fits")
    assert image.mask.sum() == 1 and image.mask[0, 3]


def test_cube_becomes_bands_and_round_trips(fits_factory, tmp_path):
    path = fits_factory("cube.fits", shape=(3, 16, 20))
    image = read_image(path, bands=["g", "r", "i"])
    assert image.data.shape == (3, 16, 20) and image.bands == ("g", "r", "i")
    back = read_image(write_image(image, tmp_path / "cube_out.fits"))
    assert back.bands == ("g", "r", "i")
    np.testing.assert_array_equal(back.data, image.data)


def test_unparseable_unit_kept_as_text(fits_factory, caplog):
    path = fits_factory("u.fits", bunit="furlongs per fortnight squiggle")
    with caplog.at_level(logging.WARNING):
        image = read_image(path)
    assert image.unit == "furlongs per fortnight squiggle"
    assert "BUNIT" in caplog.text


def test_no_wcs_is_allowed_and_flagged(fits_factory, caplog):
    path = fits_factory("nowcs.fits", kind=None)
    with caplog.at_level(logging.WARNING):
        image = read_image(path)
    assert image.wcs is None and "no celestial WCS" in caplog.text


def test_hdu_selection_and_ambiguity(tmp_path):
    hdul = fits.HDUList(
        [fits.PrimaryHDU(np.zeros((4, 4), "f4")), fits.ImageHDU(np.ones((5, 5), "f4"), name="SCI")]
    )
    hdul.writeto(tmp_path / "two.fits")
    with pytest.raises(InputError, match=r"ambiguous.*0 \(PRIMARY, 4×4\), 1 \(SCI, 5×5\)"):
        read_image(tmp_path / "two.fits")
    assert read_image(tmp_path / "two.fits", hdu="SCI").shape == (5, 5)
    assert read_image(f"{tmp_path / 'two.fits'}:1").shape == (5, 5)
    with pytest.raises(InputError, match="has no HDU 'NOPE'"):
        read_image(tmp_path / "two.fits", hdu="NOPE")


def test_bad_files(tmp_path):
    (tmp_path / "text.fits").write_text("this is not FITS")
    with pytest.raises(InputError, match="text.fits: not a readable FITS file"):
        read_image(tmp_path / "text.fits")
    fits.PrimaryHDU(np.ones((64, 64), "f4")).writeto(tmp_path / "full.fits")
    blob = (tmp_path / "full.fits").read_bytes()
    (tmp_path / "trunc.fits").write_bytes(blob[: len(blob) - 5000])
    with pytest.raises(InputError, match="trunc.fits: FITS file is truncated"):
        read_image(tmp_path / "trunc.fits")
    fits.HDUList(
        [
            fits.PrimaryHDU(),
            fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=np.ones(3))]),
        ]
    ).writeto(tmp_path / "table.fits")
    with pytest.raises(InputError, match="table.fits: no image HDU"):
        read_image(tmp_path / "table.fits")
    with pytest.raises(FileNotFoundError, match="missing.fits"):
        read_image(tmp_path / "missing.fits")


def test_write_refuses_overwrite_and_leaves_no_temp(fits_factory, tmp_path):
    image = read_image(fits_factory("a.fits"))
    out = write_image(image, tmp_path / "o.fits")
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match="o.fits: exists"):
        write_image(image, out)
    assert out.read_bytes() == before
    write_image(image, out, overwrite=True)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_read_images_stacks_and_checks_grids(fits_factory):
    a = fits_factory("a.fits")
    b = fits_factory("b.fits")
    stacked = read_images([a, b], bands=["g", "r"])
    assert stacked.data.shape == (2, 32, 40) and stacked.bands == ("g", "r")
    c = fits_factory("c.fits", shape=(30, 40))
    with pytest.raises(InputError, match="not on the same pixel grid"):
        read_images([a, c])


def test_skyimage_validates_shapes():
    with pytest.raises(ValueError, match="mask shape"):
        SkyImage(np.zeros((1, 4, 4), "f4"), None, mask=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="band names"):
        SkyImage(np.zeros((2, 4, 4), "f4"), None, bands=("a",))


def test_nan_wcs_keyword_is_refused_not_replaced_by_a_default(tmp_path):
    """astropy reads an unparsable CRVAL1 = NaN as 0: a sky position 150° off, silently."""
    header = fits.Header()
    header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0, CRPIX1=5.0,
                  CRPIX2=5.0, CDELT1=-1e-4, CDELT2=1e-4)  # fmt: skip
    path = tmp_path / "nan_wcs.fits"
    fits.PrimaryHDU(np.ones((10, 10), "f4"), header).writeto(path)
    raw = path.read_bytes()
    i = raw.index(b"CRVAL1  =")
    path.write_bytes(raw[:i] + (b"CRVAL1  = " + b"NaN".rjust(20)).ljust(80) + raw[i + 80 :])
    with pytest.raises(InputError, match="WCS keyword CRVAL1 is 'NaN', not a finite number"):
        read_image(path)
    from astroi2i.io.stream import ImageSource

    with pytest.raises(InputError, match="CRVAL1"):
        ImageSource(path)


@pytest.mark.parametrize(
    ("drop", "keep", "message"),
    [
        (("CDELT1",), {}, "CTYPE1 = 'RA---TAN' declares a celestial axis, but the header has no "
                          "CDELT1 or CD1_1 …; astropy would assume 1 degree per pixel"),
        (("CRVAL2",), {}, "CTYPE2 = 'DEC--TAN' declares a celestial axis, but the header has no "
                          "CRVAL2; astropy would assume 0"),
        (("CRPIX1",), {}, "no CRPIX1; astropy would assume pixel 0"),
        (("CDELT1", "CDELT2"), {"CD1_1": -1e-4, "CD2_2": 1e-4}, None),  # the scale in CD
        (("CDELT1", "CDELT2"), {"PC1_1": -1e-4, "PC2_2": 1e-4}, None),  # or in PC alone
        (("CRVAL1", "CRVAL2", "CDELT1"), {"CTYPE1": "LINEAR", "CTYPE2": "LINEAR"}, None),
    ],
)  # fmt: skip
def test_a_celestial_wcs_made_of_defaults_is_refused(drop, keep, message, tmp_path):
    """astropy completes missing celestial keys with defaults (CDELT 1°, CRVAL 0, CRPIX 0):
    a sky position made of defaults, written on by translate. Refused by both readers."""
    from astroi2i.io.stream import ImageSource

    header = fits.Header()
    header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0, CRPIX1=5.0,
                  CRPIX2=5.0, CDELT1=-1e-4, CDELT2=1e-4)  # fmt: skip
    for key in drop:
        del header[key]
    header.update(keep)
    path = tmp_path / "partial_wcs.fits"
    fits.PrimaryHDU(np.ones((10, 10), "f4"), header).writeto(path)
    if message is None:
        image = read_image(path)
        assert image.data.shape == (1, 10, 10)
        assert (image.wcs is None) == (keep.get("CTYPE1") == "LINEAR")
        if image.wcs is not None:
            assert image.wcs.proj_plane_pixel_scales()[0].to_value("deg") == pytest.approx(1e-4)
        return
    with pytest.raises(InputError, match=re.escape(message)) as refused:
        read_image(path)
    assert str(refused.value).startswith(f"{path}: CTYPE")
    with pytest.raises(InputError, match=re.escape(message)):
        ImageSource(path)


def test_infinite_pixels_are_invalid_and_said(tmp_path, caplog):
    data = np.ones((6, 6))
    data[1, 1], data[2, 2] = np.inf, 1e300  # the second overflows float32
    path = tmp_path / "inf.fits"
    fits.PrimaryHDU(data).writeto(path)
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        image = read_image(path)
    assert image.mask[1, 1] and image.mask[2, 2] and image.mask.sum() == 2
    assert any("2 pixel(s) are infinite" in r.getMessage() for r in caplog.records)


def test_a_files_warning_is_said_once(tmp_path, caplog):
    path = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.ones((4, 4), "f4")).writeto(path)
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        for _ in range(3):  # e.g. one read per validation
            read_image(path)
    said = [r for r in caplog.records if "no celestial WCS" in r.getMessage()]
    assert len(said) == 1 and str(path) in said[0].getMessage()


def test_cube_bands_are_named_from_the_header(tmp_path):
    """Not name_0 … name_2: per-plane FILTERn keys, or the planes' spectral coordinate."""
    data = np.ones((3, 4, 4), "f4")
    header = fits.Header()
    for i, f in enumerate("gri"):
        header[f"FILTER{i + 1}"] = f
    fits.PrimaryHDU(data, header).writeto(tmp_path / "filters.fits")
    assert read_image(tmp_path / "filters.fits").bands == ("g", "r", "i")
    header = fits.Header()
    header.update(CTYPE3="WAVE", CRVAL3=4770.0, CDELT3=1460.0, CRPIX3=1.0, CUNIT3="Angstrom")
    fits.PrimaryHDU(data, header).writeto(tmp_path / "spectral.fits")
    bands = read_image(tmp_path / "spectral.fits").bands
    assert bands == ("4770Angstrom", "6230Angstrom", "7690Angstrom")
    fits.PrimaryHDU(data).writeto(tmp_path / "plain_cube.fits")
    assert read_image(tmp_path / "plain_cube.fits").bands == tuple(f"plain_cube_{i}"
                                                                    for i in range(3))  # fmt: skip
