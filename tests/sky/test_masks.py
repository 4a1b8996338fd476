"""Masks for inpainting: random telemetry blocks, zero blocks, coronagraph geometry, user files."""

import numpy as np
import pytest

from astroi2i.errors import InputError
from astroi2i.sky.masks import coronagraph_geometry, random_blocks, read_mask, zero_blocks
from astroi2i.sources.coronagraph import coronagraph_scene
from tests.conftest import make_wcs, write_fits


def test_random_blocks_sit_on_the_grid_in_multiples_of_the_block():
    rng = np.random.default_rng(3)
    for _ in range(20):
        mask = random_blocks((128, 160), rng, block=32, max_blocks=3, max_size=2)
        assert mask.any()
        cells = mask.reshape(4, 32, 5, 32)
        # every 32×32 cell of the grid is entirely in or entirely out
        assert np.all(cells.all(axis=(1, 3)) | ~cells.any(axis=(1, 3)))
        assert mask.sum() <= 3 * (2 * 32) ** 2
    a = random_blocks((64, 64), np.random.default_rng(1), block=16)
    np.testing.assert_array_equal(a, random_blocks((64, 64), np.random.default_rng(1), block=16))


def test_zero_blocks_finds_aligned_exact_zero_blocks_only():
    data = np.ones((2, 64, 64), np.float32)
    data[:, 32:64, 0:32] = 0.0  # a lost telemetry block
    data[:, 5:30, 40:63] = 0.0  # zeros, but not a whole aligned block
    data[0, 0, 0] = 0.0
    mask = zero_blocks(data, block=32)
    assert mask[32:64, 0:32].all() and mask.sum() == 32 * 32
    data[1, 40, 10] = 1e-9  # one band not zero there: it is data
    assert not zero_blocks(data, block=32).any()


def test_coronagraph_geometry_and_scene():
    g = coronagraph_geometry((101, 101), (50, 50), occulter=10, field_stop=45,
                             pylon_angle=180.0, pylon_width=4)  # fmt: skip
    assert g[50, 50] and g[50, 55] and not g[50, 65]  # occulter radius 10
    assert g[50, 30] and not g[70, 50]  # the pylon points to −x
    assert g[0, 0] and not g[50, 94]  # outside the field stop / inside it
    image, geometry = coronagraph_scene(np.random.default_rng(0), 128)
    assert image.dtype == np.float32 and image.shape == (128, 128)
    np.testing.assert_array_equal(np.isnan(image), geometry)
    sky = image[~geometry]
    assert (sky > 0).all()
    # the corona falls with distance from the centre
    y, x = np.mgrid[0:128, 0:128]
    r = np.hypot(x - 63.5, y - 63.5)
    near = np.nanmedian(np.where((r > 12) & (r < 20), image, np.nan))
    far = np.nanmedian(np.where((r > 45) & (r < 55), image, np.nan))
    assert near > 5 * far


def test_read_mask(tmp_path):
    m = np.zeros((16, 16), np.float32)
    m[2:4, 5:9] = 1
    write_fits(tmp_path / "m.fits", m, make_wcs("tan", (16, 16)))
    mask = read_mask(tmp_path / "m.fits", (16, 16))
    assert mask.sum() == 8 and mask[3, 8]
    with pytest.raises(InputError, match="mask is"):
        read_mask(tmp_path / "m.fits", (8, 8))
