"""Solar headers read as sunpy reads them: an EIT-like ``Solar-X/Y`` header in
``counts / pixel`` becomes a helioprojective WCS with the observer and ``ct / pix``; what
sunpy only assumes (the time now, an Earth observer) is not written into any file."""

import logging

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits

from astroi2i.io import read_image, write_image
from astroi2i.io.solar import is_solar
from astroi2i.io.stream import ImageSource

sunpy_map = pytest.importorskip("sunpy.map")


def _eit_like(path, size=64, bunit="counts / pixel"):
    """The keys of a SOHO/EIT level-0.5 file of 2004 (as in sunpy's test data), generated."""
    header = fits.Header()
    header.update(
        TELESCOP="SOHO", INSTRUME="EIT", DETECTOR="EIT", WAVELNTH=195, BUNIT=bunit,
        DATE_OBS="2004-03-01T00:00:10.515Z", EXPTIME=13.0, FILTER="Al +1",
        CTYPE1="Solar-X", CTYPE2="Solar-Y", CRPIX1=(size + 1) / 2, CRPIX2=(size + 1) / 2,
        CRVAL1=0.0, CRVAL2=0.0, CDELT1=2.63 * 1024 / size, CDELT2=2.63 * 1024 / size,
        SOLAR_R=372.27 * size / 1024, SOLAR_B0=-7.22, SC_ROLL=180.0,
        HEC_X=-139130208.0, HEC_Y=46576272.0, HEC_Z=-94896.31, CAR_ROT=2013.0,
    )  # fmt: skip
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    disk = np.where(np.hypot(x, y) < size / 3, 1000.0, 50.0)
    fits.PrimaryHDU(disk.astype("f4"), header).writeto(path)
    return path


def _corners(wcs, shape):
    """Helioprojective (Tx, Ty) in degrees of three corner pixels."""
    ys, xs = np.array([0, shape[0] - 1, 0]), np.array([0, shape[1] - 1, shape[1] - 1])
    lon, lat = wcs.all_pix2world(xs, ys, 0)
    return np.concatenate([np.asarray(lon), np.asarray(lat)])


def _assert_same_sky(wcs_a, wcs_b, shape):
    np.testing.assert_allclose(_corners(wcs_a, shape), _corners(wcs_b, shape), rtol=0, atol=1e-10)
    for key in ("dsun_obs", "hgln_obs", "hglt_obs"):
        assert getattr(wcs_a.wcs.aux, key) == pytest.approx(getattr(wcs_b.wcs.aux, key), rel=1e-9)


def test_an_eit_header_is_read_with_sunpys_wcs_observer_and_unit(tmp_path):
    path = _eit_like(tmp_path / "eit.fits")
    assert is_solar(fits.getheader(path))
    image = read_image(path)
    smap = sunpy_map.Map(path)
    assert type(smap).__name__ == "EITMap"
    assert list(image.wcs.wcs.ctype) == ["HPLN-TAN", "HPLT-TAN"]
    assert image.unit == u.ct / u.pix
    _assert_same_sky(image.wcs, smap.wcs, image.shape)
    assert image.header["DSUN_OBS"] == pytest.approx(smap.dsun.to_value(u.m))
    with ImageSource(path) as source:  # the streaming reader gives the same
        assert source.unit == image.unit and source.wcs.to_header() == image.wcs.to_header()


def test_a_solar_image_written_opens_in_sunpy_as_the_same_instrument(tmp_path):
    path = _eit_like(tmp_path / "eit.fits")
    out = write_image(read_image(path), tmp_path / "out.fits")
    original, written = sunpy_map.Map(path), sunpy_map.Map(out)
    assert type(written).__name__ == "EITMap" and written.unit == u.ct / u.pix
    _assert_same_sky(written.wcs, original.wcs, (64, 64))
    np.testing.assert_array_equal(written.data, original.data)


def _model_without_target_instrument(folder):
    """The packaged model as an export whose description predates ``target_instrument``."""
    import json
    import shutil

    from astroi2i.workflows.model import packaged_models, sidecar_path

    weights = packaged_models()["stix-bp2clean"]
    copy = folder / "old.safetensors"
    shutil.copy(weights, copy)
    meta = json.loads(sidecar_path(weights).read_text())
    meta.pop("target_instrument", None)
    sidecar_path(copy).write_text(json.dumps(meta))
    return copy


def test_translating_a_solar_file_names_the_instrument_for_sunpy(tmp_path):
    """The output says which instrument it imitates: the model's target instrument where the
    model records one (stix-bp2clean: STIX), else the input's (an EIT map stays an EIT map);
    sunpy opens both on the input's sky."""
    from astroi2i.workflows.translate import translate

    # any one-band model: the file stands in for one in the model's input unit
    path = _eit_like(tmp_path / "eit.fits", bunit="ct / (cm2 keV)")
    out = translate("stix-bp2clean", [path], tmp_path / "pred.fits")
    smap = sunpy_map.Map(out, hdus=0)
    assert (smap.meta["instrume"], smap.meta["telescop"]) == ("STIX", "SOLO/STIX")
    _assert_same_sky(smap.wcs, sunpy_map.Map(path).wcs, (64, 64))
    old = translate(_model_without_target_instrument(tmp_path), [path], tmp_path / "old.fits")
    smap = sunpy_map.Map(old, hdus=0)
    assert type(smap).__name__ == "EITMap"
    _assert_same_sky(smap.wcs, sunpy_map.Map(path).wcs, (64, 64))


def test_what_sunpy_only_assumes_is_not_written(tmp_path):
    """No date and no observer in the file: sunpy assumes 'now' and the Earth; we do not."""
    header = fits.Header()
    header.update(CTYPE1="HPLN-TAN", CTYPE2="HPLT-TAN", CUNIT1="arcsec", CUNIT2="arcsec",
                  CRPIX1=16.5, CRPIX2=16.5, CDELT1=4.0, CDELT2=4.0, CRVAL1=-300.0,
                  CRVAL2=200.0, BUNIT="ct")  # fmt: skip
    path = tmp_path / "bare.fits"
    fits.PrimaryHDU(np.ones((32, 32), "f4"), header).writeto(path)
    image = read_image(path)
    written = fits.getheader(write_image(image, tmp_path / "out.fits"))
    for key in ("DATE-OBS", "DATE-AVG", "MJD-OBS", "DSUN_OBS", "HGLN_OBS", "RSUN_REF"):
        assert key not in written, key
    tx = _corners(image.wcs, image.shape)[0] * 3600  # pixel (0, 0), arcsec
    assert tx == pytest.approx(-300.0 - 15.5 * 4.0, abs=0.5)


def test_without_sunpy_a_solar_header_gets_a_hint(tmp_path, monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_sunpy(name, *args, **kwargs):
        if name.startswith("sunpy"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sunpy)
    path = _eit_like(tmp_path / "eit.fits")
    with caplog.at_level(logging.WARNING, logger="astroi2i"):
        image = read_image(path)
    assert image.wcs is None  # astropy alone knows no Solar-X
    assert "install sunpy" in caplog.text
