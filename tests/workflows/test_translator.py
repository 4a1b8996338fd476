"""``astroi2i.Translator``: one loaded model; a path, a SkyImage, an NDData/CCDData or a sunpy
Map in, the same kind out, with the pixels a file translate writes, mask, σ, WCS and meta."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData, NDData, StdDevUncertainty

import astroi2i
from astroi2i.errors import InputError
from astroi2i.io import read_image
from tests.io.test_solar import _assert_same_sky, _eit_like
from tests.workflows.test_batch_translate import MODEL, _bp


@pytest.fixture(scope="module")
def translator():
    return astroi2i.Translator(MODEL)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, translator):
    """A BP map and what translate writes for it (prediction, σ)."""
    folder = tmp_path_factory.mktemp("translator")
    path = _bp(folder / "bp.fits", width=6.0)
    out = translator.translate(path, output=folder / "pred.fits")
    with fits.open(out) as hdul:
        return path, hdul[0].data.copy(), hdul["UNCERT"].data.copy(), fits.getheader(out)


def test_a_path_gives_the_file_translate_writes(reference, translator, tmp_path):
    path, pred, sigma, _ = reference
    out = translator.translate(path, output=tmp_path / "again.fits")
    np.testing.assert_array_equal(fits.getdata(out), pred)
    with pytest.raises(InputError, match="needs output="):
        translator.translate(path)


def test_a_skyimage_gives_a_skyimage_with_sigma(reference, translator):
    path, pred, sigma, header = reference
    result = translator.translate(read_image(path))
    np.testing.assert_array_equal(result.data[0], pred)
    np.testing.assert_array_equal(result.uncertainty[0], sigma)
    assert result.header["BUNIT"] == header["BUNIT"] == "ct / (arcsec2 cm2 keV)"


def test_without_sigma_the_same_prediction_comes_back_alone(reference):
    path, pred, _, _ = reference
    result = astroi2i.Translator(MODEL, sigma=False).translate(read_image(path))
    assert result.uncertainty is None
    np.testing.assert_allclose(result.data[0], pred, rtol=1e-5, atol=1e-6 * np.ptp(pred))


@pytest.mark.parametrize("cls", [CCDData, NDData])
def test_nddata_round_trip_carries_mask_uncertainty_and_wcs(cls, reference, translator, tmp_path):
    path, _, _, _ = reference
    with fits.open(path) as hdul:
        data, in_header = hdul[0].data.astype("f4"), hdul[0].header
    from astropy.wcs import WCS

    mask = np.zeros(data.shape, bool)
    mask[10:14, 20:30] = True
    holed = tmp_path / "holed.fits"  # what a file with those pixels NaN translates to
    fits.PrimaryHDU(np.where(mask, np.nan, data), in_header).writeto(holed)
    with fits.open(translator.translate(holed, output=tmp_path / "p.fits")) as hdul:
        pred, sigma = hdul[0].data.copy(), hdul["UNCERT"].data.copy()
    kwargs = {"unit": "ct / (cm2 keV)"} if cls is CCDData else {}
    image = cls(data, wcs=WCS(in_header), mask=mask, meta=dict(in_header), **kwargs)
    result = translator.translate(image)
    assert type(result) is cls
    assert isinstance(result.uncertainty, StdDevUncertainty)
    np.testing.assert_array_equal(result.mask, mask)  # masked in, masked (NaN) out
    assert np.isnan(result.data[mask]).all()
    np.testing.assert_array_equal(result.data[~mask], pred[~mask])
    np.testing.assert_array_equal(result.uncertainty.array[~mask], sigma[~mask])
    assert result.wcs.to_header()["CRVAL1"] == pytest.approx(WCS(in_header).to_header()["CRVAL1"])
    assert result.meta["BUNIT"] == "ct / (arcsec2 cm2 keV)"  # the header translate writes
    assert "checkpoint_sha256" in "".join(result.meta["HISTORY"])


def test_a_sunpy_map_gives_a_map_of_the_instrument_the_model_imitates(translator, tmp_path):
    sunpy_map = pytest.importorskip("sunpy.map")
    with pytest.raises(InputError, match="^the given EITMap: band 1 \\(bp\\) is in 'count pix-1'"):
        translator.translate(sunpy_map.Map(_eit_like(tmp_path / "eit.fits")))  # EIT's unit
    # the file stands in for one in the model's input unit
    source = sunpy_map.Map(_eit_like(tmp_path / "bp.fits", bunit="ct / (cm2 keV)"))
    result = translator.translate(source)
    # a map again, of the instrument the model imitates (stix-bp2clean records STIX)
    assert isinstance(result, sunpy_map.GenericMap)
    assert (result.meta["instrume"], result.meta["telescop"]) == ("STIX", "SOLO/STIX")
    _assert_same_sky(result.wcs, source.wcs, source.data.shape)
    for key in ("instrume", "telescop", "date-obs", "dsun_obs", "hgln_obs"):
        assert key in result.meta, key
    assert "wavelnth" not in result.meta  # EIT's 195 Å is not what a STIX-like map has
    assert result.date == source.date and result.uncertainty is not None


def test_what_cannot_be_translated_is_refused(translator):
    with pytest.raises(InputError, match="cannot translate a list"):
        translator.translate([1, 2, 3])
