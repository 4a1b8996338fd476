import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from astroi2i.sky import SkyImage, crop_to_grid, cutout, reproject_image, same_grid
from tests.conftest import make_wcs


def _image(shape=(32, 40), kind="tan", data=None, **kw):
    wcs = make_wcs(kind, shape, **kw)
    data = np.zeros(shape, np.float32) if data is None else data
    return SkyImage(data, wcs, "nanomaggy")


def test_same_grid_detects_shift_and_shape():
    a = _image()
    assert same_grid(a, _image())
    shifted = a.replace(wcs=a.wcs.deepcopy())
    shifted.wcs.wcs.crpix[0] += 0.5
    assert not same_grid(a, shifted)
    assert not same_grid(a, _image((32, 41)))
    for axes in (["GLON-TAN", "GLAT-TAN"], ["HPLN-TAN", "HPLT-TAN"]):  # the same numbers
        other = a.replace(wcs=a.wcs.deepcopy())
        other.wcs.wcs.ctype = axes
        other.wcs.wcs.set()
        assert not same_grid(a, other) and same_grid(other, other)


def test_crop_257_to_256_keeps_the_source_pixel():
    """The STIX case: CLEAN maps are 257², back-projections 256², matched by CRPIX."""
    bp = _image((256, 256))
    clean_wcs = bp.wcs.deepcopy()
    clean_wcs.wcs.crpix = bp.wcs.wcs.crpix + 1  # one extra pixel on the low side
    clean = np.zeros((257, 257), np.float32)
    # a source at the sky position of back-projection pixel (x=100, y=120)
    ra, dec = bp.wcs.pixel_to_world_values(100, 120)
    cx, cy = clean_wcs.world_to_pixel_values(ra, dec)
    clean[int(round(float(cy))), int(round(float(cx)))] = 1.0
    for mode in ("wcs", "crpix"):
        cropped = crop_to_grid(SkyImage(clean, clean_wcs), bp.wcs, (256, 256), mode=mode)
        assert cropped.shape == (256, 256)
        assert np.unravel_index(np.argmax(cropped.data[0]), (256, 256)) == (120, 100)
        assert same_grid(cropped, bp)


def test_crop_refuses_fractional_offset():
    a = _image((20, 20))
    w = a.wcs.deepcopy()
    w.wcs.crpix += 0.5
    with pytest.raises(ValueError, match="not a whole number"):
        crop_to_grid(SkyImage(np.zeros((21, 21), "f4"), w), a.wcs, (20, 20))


def test_cutout_has_a_new_wcs():
    img = _image((40, 40))
    cut = cutout(img, (20, 15), 11)  # odd size: the centre is the middle pixel
    assert cut.shape == (11, 11)
    # pixel (0, 0) of the cutout is pixel (15, 10) of the original
    np.testing.assert_allclose(
        cut.wcs.pixel_to_world_values(0, 0), img.wcs.pixel_to_world_values(15, 10), atol=1e-12
    )
    sky = SkyCoord(*img.wcs.pixel_to_world_values(20, 15), unit="deg")
    assert same_grid(cutout(img, sky, 11), cut)
    with pytest.raises(ValueError, match="leaves the image"):
        cutout(img, (1, 1), 10)


def test_reproject_identity_and_flux_conservation(rng):
    data = np.zeros((40, 40), np.float32)
    data[18:22, 18:22] = 5.0
    img = _image((40, 40), data=data)
    same = reproject_image(img, img.wcs, img.shape)
    np.testing.assert_allclose(same.data[0], data, atol=1e-5)
    coarse = img.wcs.deepcopy()
    coarse.wcs.cdelt = img.wcs.wcs.cdelt * 2
    coarse.wcs.crpix = (img.wcs.wcs.crpix + 0.5) / 2  # same sky footprint at half the pixels
    out = reproject_image(img, coarse, (20, 20), method="adaptive")
    np.testing.assert_allclose(np.nansum(out.data), data.sum(), rtol=0.02)
    outside = img.wcs.deepcopy()
    outside.wcs.crval = [img.wcs.wcs.crval[0] + 1.0, img.wcs.wcs.crval[1]]
    assert reproject_image(img, outside, (10, 10)).mask.all()


@pytest.mark.parametrize("kind", ["tan", "car", "sip"])
@pytest.mark.parametrize("factor", [2, 4])
def test_rescaled_wcs_keeps_every_pixel_centre_on_the_sky(kind, factor):
    from astroi2i.sky import rescale_wcs

    wcs = make_wcs(kind, (30, 40))
    fine = rescale_wcs(wcs, factor)
    y, x = np.mgrid[0 : 30 * factor : 3, 0 : 40 * factor : 5].astype(float)
    ra, dec = fine.pixel_to_world_values(x, y)
    x_old, y_old = wcs.world_to_pixel_values(ra, dec)
    # where the old grid says these positions are, in new-pixel units
    err = np.hypot(x_old - ((x + 0.5) / factor - 0.5), y_old - ((y + 0.5) / factor - 0.5))
    assert np.max(err) * factor <= 0.01
    np.testing.assert_allclose(
        fine.proj_plane_pixel_scales()[0].value * factor,
        wcs.proj_plane_pixel_scales()[0].value,
        rtol=1e-12,
    )


def test_reproject_cube_in_one_call_equals_band_by_band_and_blocks(monkeypatch):
    """The whole cube goes to reproject at once (bands broadcast), optionally in blocks; the
    result equals reprojecting each band alone."""
    import reproject

    from astroi2i.sky import geometry

    src, dst = make_wcs("tan", (40, 40)), make_wcs("tan", (30, 30), ra=150.0005, scale=0.5)
    rng = np.random.default_rng(3)
    data = rng.normal(size=(3, 40, 40)).astype(np.float32)
    data[1, 4:8, 4:8] = np.nan
    image = SkyImage(data, src, "nmgy", bands=("g", "r", "i"))
    whole = geometry.reproject_image(image, dst, (30, 30))
    for c in range(3):
        alone, footprint = reproject.reproject_interp(
            (np.asarray(data[c], float), src), dst, shape_out=(30, 30), order="bilinear"
        )
        expected = np.where((footprint <= 0) | ~np.isfinite(alone), np.nan, alone)
        np.testing.assert_array_equal(whole.data[c], expected.astype(np.float32))
    monkeypatch.setattr(geometry, "REPROJECT_BLOCK", 16)
    blocked = geometry.reproject_image(image, dst, (30, 30))
    np.testing.assert_array_equal(blocked.data, whole.data)
    np.testing.assert_array_equal(blocked.mask, whole.mask)
