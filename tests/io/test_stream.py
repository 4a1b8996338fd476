import numpy as np
import pytest
from astropy.io import fits

from astroi2i.io import read_image
from astroi2i.io.stream import FitsRowWriter, ImageSource


@pytest.mark.parametrize("compressed", [False, True])
def test_rows_equal_whole_read(fits_factory, compressed):
    path = fits_factory("a.fits", compressed=compressed, nan_box=True)
    whole = read_image(path)
    with ImageSource(path) as source:
        assert source.shape == whole.shape and source.n_bands == 1
        assert source.bands == whole.bands and source.unit == whole.unit
        rows = np.concatenate([source.read_rows(y, min(y + 7, 32)) for y in range(0, 32, 7)], 1)
    np.testing.assert_array_equal(rows, whole.data)


def test_rows_of_cubes_and_scaled_integers(fits_factory, tmp_path):
    cube = fits_factory("cube.fits", shape=(3, 16, 20))
    with ImageSource(cube) as source:
        assert source.n_bands == 3
        np.testing.assert_array_equal(source.read_rows(4, 9), read_image(cube).data[:, 4:9])
    raw = np.arange(100, dtype=">i2").reshape(10, 10)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 2.0, 10.0, 7
    hdu.writeto(tmp_path / "int.fits")
    with ImageSource(tmp_path / "int.fits") as source:
        np.testing.assert_array_equal(
            source.read_rows(0, 10), read_image(tmp_path / "int.fits").data
        )


def test_row_writer_round_trip_in_any_order(fits_factory, tmp_path, rng):
    meta = read_image(fits_factory("m.fits", shape=(2, 20, 24)))
    data = rng.normal(size=(2, 20, 24)).astype("f4")
    data[1, 3, 4] = np.nan
    writer = FitsRowWriter(tmp_path / "out.fits", meta, data.shape, provenance={"k": "v"})
    for y0 in (12, 0, 5):
        y1 = {12: 20, 0: 5, 5: 12}[y0]
        writer.write_rows(y0, data[:, y0:y1])
    assert not (tmp_path / "out.fits").exists()  # only complete files appear
    path = writer.close()
    back = read_image(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.bands == meta.bands and back.wcs.to_header() == meta.wcs.to_header()
    with fits.open(path) as hdul:
        hdul.verify("exception")
        assert "k: v" in str(hdul[0].header["HISTORY"])
    with pytest.raises(FileExistsError):
        FitsRowWriter(path, meta, data.shape)
    aborted = FitsRowWriter(tmp_path / "gone.fits", meta, data.shape)
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.fits", "out.fits"]


@pytest.mark.parametrize("pwrite", [True, False])
def test_row_writer_extensions_float64_and_bad_blocks(fits_factory, tmp_path, rng, pwrite,
                                                      monkeypatch):  # fmt: skip
    """σ and mask extensions and a float64 image round trip value for value whatever the row
    order; the cached card images render what astropy renders; a block that does not fit is
    refused and leaves no file. Without ``os.pwrite`` (Windows) by seek and write."""
    if not pwrite:
        monkeypatch.delattr("os.pwrite", raising=False)
    meta = read_image(fits_factory("m.fits", shape=(2, 9, 7)))
    data, sigma = rng.normal(size=(2, 9, 7)), rng.uniform(1, 2, (2, 9, 7)).astype("f4")
    mask = rng.uniform(size=(9, 7)) > 0.5
    cards = {"CALQ1": (1.25, "a quantile"), "CPOW1": 0.75, "COMMENT": "calibrated"}
    for _ in range(2):  # the second file renders every repeated card from the cache
        out = tmp_path / f"o{_}.fits"
        writer = FitsRowWriter(out, meta, data.shape, dtype=np.float64, uncertainty=cards,
                               mask_extension=True)  # fmt: skip
        for y0, y1 in ((4, 9), (0, 4)):
            writer.write_rows(y0, data[:, y0:y1])
            writer.write_uncert_rows(y0, sigma[:, y0:y1])
            writer.write_mask_rows(y0, mask[y0:y1])
        writer.close()
        with fits.open(out) as hdul:
            hdul.verify("exception")
            assert [h.name for h in hdul] == ["PRIMARY", "UNCERT", "MASK"]
            assert hdul[0].data.dtype == ">f8" and hdul[1].data.dtype == ">f4"
            np.testing.assert_array_equal(hdul[0].data, data)
            np.testing.assert_array_equal(hdul[1].data, sigma)
            np.testing.assert_array_equal(hdul[2].data, mask.astype(np.uint8))
            unc = hdul[1].header
            assert unc["CALQ1"] == 1.25 and unc.comments["CALQ1"] == "a quantile"
            assert unc["CPOW1"] == 0.75 and list(unc["COMMENT"]) == ["calibrated"]
            assert list(unc.keys())[-1] == "COMMENT"  # notes go last
            expected = fits.Card("CALQ1", 1.25, "a quantile").image
            assert expected in unc.tostring()
    writer = FitsRowWriter(tmp_path / "bad.fits", meta, data.shape)
    for y0, block in ((5, data[:, :5]), (-1, data[:, :2]), (0, data[:1, :2]), (0, data[..., :3])):
        with pytest.raises(ValueError, match="does not fit"):
            writer.write_rows(y0, block)
    writer.abort()
    assert not any(p.name.startswith((".bad", "bad")) for p in tmp_path.iterdir())
