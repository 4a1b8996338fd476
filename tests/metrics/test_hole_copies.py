"""σ of an inpainting fill from copies of the holes, calibrated in the image itself."""

import numpy as np
import pytest
from scipy import ndimage

from astroi2i.baselines.fills import biharmonic_fill
from astroi2i.metrics.hole_copies import GAP, hole_copies_sigma, place_copies


def test_copies_surround_the_hole_in_known_pixels_only():
    missing = np.zeros((100, 100), bool)
    missing[45:55, 40:52] = True
    holes, copies = place_copies(missing, ~missing)
    assert holes.max() == 1
    ids = np.unique(copies[copies > 0])
    assert len(ids) == 8
    for i in ids:  # each copy has the hole's shape
        ys, xs = np.nonzero(copies == i)
        assert (np.ptp(ys) + 1, np.ptp(xs) + 1, ys.size) == (10, 12, 120)
    # GAP known pixels between the hole and every copy
    near = ndimage.binary_dilation(missing, iterations=GAP)
    assert not (near & (copies > 0)).any()
    assert (copies[missing] == 0).all()
    # near the top edge (a 2-pixel margin is needed): the three copies above are lost
    edge = np.zeros((100, 100), bool)
    edge[2:12, 40:52] = True
    assert len(np.unique(place_copies(edge, ~edge)[1])) - 1 == 5
    # a copy never lands on (or next to) pixels that are not known
    known = ~missing
    known[:, 60:] = False
    _, copies = place_copies(missing, known)
    assert len(np.unique(copies)) - 1 == 5  # the three slots on the right are lost
    assert not (ndimage.binary_dilation(~known, iterations=2) & (copies > 0)).any()


def _scene(n=256, seed=0):
    """A smooth random scene ten times brighter (and ten times harder to fill) on the left."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)), 3) * 30
    return field * np.where(np.arange(n) < n // 2, 10.0, 1.0)[None, :]


def test_sigma_follows_the_scene_and_covers_at_every_level():
    image = _scene()
    n = image.shape[0]
    r, s, k, left, powers = [], [], [], [], []
    for seed in range(20):  # 20 images' worth of holes, each calibrated on its own copies
        rng = np.random.default_rng(seed + 1)
        missing = np.zeros(image.shape, bool)
        for _ in range(3):
            y, x = rng.integers(10, n - 20, 2)
            missing[y : y + 10, x : x + 10] = True
        found = hole_copies_sigma(np.where(missing, np.nan, image)[None], missing)
        sigma = found.sigma[0]
        assert (sigma[~missing] == 0).all()
        fill = biharmonic_fill(np.where(missing, 0.0, image), missing)
        ok = missing & np.isfinite(sigma)
        assert ok.sum() > 0.9 * missing.sum()  # nearly every hole has room for copies
        r.append(np.abs(fill - image)[ok])
        s.append(sigma[ok])
        k.append(np.repeat([found.multipliers[0]], ok.sum(), axis=0))
        left.append(np.nonzero(ok)[1] < n // 2)
        assert found.multipliers[0][0] == 1.0 and 1 < found.multipliers[0][1]
        assert found.multipliers[0][1] < found.multipliers[0][2]
        assert found.calibration()["method"] == "hole-copies"
        powers.append(found.powers[0])
    r, s, k, left = map(np.concatenate, (r, s, k, left))
    coverage = [np.mean(r <= k[:, j] * s) for j in range(3)]
    assert coverage == pytest.approx([0.683, 0.90, 0.95], abs=0.04)
    # the harder holes err by more than their scale says: the power fitted on the copies
    assert min(powers) >= 1 and max(powers) <= 2 and np.median(powers) > 1.3
    # the true ratio is 10; each hole's scale is drawn a third of the way (geometrically)
    # towards the image's, which holds holes of both sides, and the power fitted on the copies
    # undoes most of that (without it: a ratio of 5.0, and the bright half covered 54 % at
    # 68.3 %, the faint half 81 %)
    ratio = np.median(s[left]) / np.median(s[~left])
    assert 6 < ratio < 12
    bright, faint = np.mean((r <= s)[left]), np.mean((r <= s)[~left])
    assert faint - bright < 0.2, (bright, faint)


def test_sigma_grows_with_depth_into_the_hole():
    image = _scene(seed=3)
    missing = np.zeros(image.shape, bool)
    missing[100:130, 170:200] = True
    found = hole_copies_sigma(image[None], missing)
    sigma = found.sigma[0]
    assert sigma[115, 185] == pytest.approx(sigma[100, 170] * np.sqrt(15), rel=1e-6)


def test_a_hole_against_the_edge_is_deeper_than_its_copies_and_its_sigma_says_so(monkeypatch):
    """No known pixels lie beyond the image's edge, so a hole against it is deeper than its
    copies (which never touch the edge): its σ grows by the ratio of their RMS depths, an
    inner hole's does not change, and the edge holes' coverage rises towards nominal."""
    from astroi2i.metrics import hole_copies

    image = ndimage.gaussian_filter(np.random.default_rng(5).standard_normal((200, 200)), 3)
    missing = np.zeros(image.shape, bool)
    missing[0:12, 60:72] = True  # against the top edge
    missing[90:102, 90:102] = True  # inner
    with_depth = hole_copies_sigma(image[None], missing).sigma[0]
    monkeypatch.setattr(hole_copies, "SIZE_POWER", 0.0)
    without = hole_copies_sigma(image[None], missing).sigma[0]
    np.testing.assert_array_equal(with_depth[90:102, 90:102], without[90:102, 90:102])
    square = np.zeros((16, 16), bool)
    square[2:14, 2:14] = True
    rms = [np.sqrt(np.mean(ndimage.distance_transform_edt(m)[m] ** 2))
           for m in (missing[:20, 50:80], square)]  # fmt: skip
    np.testing.assert_allclose(with_depth[0:12, 60:72] / without[0:12, 60:72], rms[0] / rms[1],
                               rtol=1e-5)  # fmt: skip
    assert rms[0] / rms[1] > 1.15  # 1.19: pixels against the edge are 6 px from the sides
    hits = {}
    for power in (0.0, 1.0):
        monkeypatch.setattr(hole_copies, "SIZE_POWER", power)
        hit = []
        for seed in range(30):
            rng = np.random.default_rng(seed)
            missing = np.zeros(image.shape, bool)
            y, x = rng.integers(30, 150, 2)
            missing[0:12, x : x + 12] = True
            missing[y : y + 12, 0:12] = True
            missing[90:102, 90:102] = True
            sigma = hole_copies_sigma(image[None], missing).sigma[0]
            fill = biharmonic_fill(np.where(missing, 0.0, image), missing)
            missing[90:102, 90:102] = False  # the edge holes only
            hit.append((np.abs(fill - image) <= sigma)[missing])
        hits[power] = np.mean(np.concatenate(hit))
    assert hits[1.0] > hits[0.0] + 0.04, hits  # 0.59 against 0.53


def test_no_room_for_copies_gives_none_or_nan():
    image = _scene(n=40)
    band = np.zeros(image.shape, bool)
    band[12:28, :] = True  # across the whole image: nowhere to put a copy
    assert hole_copies_sigma(image[None], band) is None
    both = np.zeros((120, 120), bool)
    both[40:50, 0:120] = True  # no room
    both[90:100, 50:60] = True  # room for copies on three sides
    found = hole_copies_sigma(_scene(n=120)[None], both)
    sigma = found.sigma[0]
    assert np.isnan(sigma[40:50]).all() and np.isfinite(sigma[90:100, 50:60]).all()
    assert found.uncovered == 10 * 120


def test_a_copys_fill_does_not_depend_on_the_holes():
    """The copies are filled alone (the holes are not solved twice): the same fill as with
    the holes missing too, because each copy has a known margin as wide as the stencil."""
    image = _scene(seed=5)
    missing = np.zeros(image.shape, bool)
    missing[60:76, 60:80] = True
    missing[150:160, 100:110] = True
    _, copies = place_copies(missing, ~missing)
    known = np.where(missing, 0.0, image)
    alone = biharmonic_fill(known, copies > 0)
    together = biharmonic_fill(known, missing | (copies > 0))
    np.testing.assert_allclose(alone[copies > 0], together[copies > 0], atol=1e-3)
