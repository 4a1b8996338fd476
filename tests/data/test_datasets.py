import numpy as np
import pytest
import torch

from astroi2i.data.augment import augmentation_group, dihedral
from astroi2i.data.datamodule import PairedDataModule
from astroi2i.data.datasets import PairedDataset, fit_pair_stretch, load_pairs
from astroi2i.data.stretches import IdentityStretch, LinearStretch
from astroi2i.errors import InputError
from astroi2i.io import read_manifest, write_manifest
from tests.conftest import make_wcs, write_fits


@pytest.fixture
def paired(tmp_path, rng):
    """Two rows; inputs: a 2-channel cube + a single band; target: a copy of the single band."""
    rows = []
    wcs = make_wcs("tan", (24, 24))
    for i in range(2):
        cube = rng.normal(size=(2, 24, 24)).astype("f4")
        band = rng.normal(size=(24, 24)).astype("f4")
        band[3, 4] = np.nan
        write_fits(tmp_path / f"cube{i}.fits", cube, wcs)
        write_fits(tmp_path / f"band{i}.fits", band, wcs)
        write_fits(tmp_path / f"target{i}.fits", band, wcs)
        rows.append(
            {
                "split": "train",
                "id": f"s{i}",
                "ab": f"cube{i}.fits",
                "c": f"band{i}.fits",
                "t": f"target{i}.fits",
            }
        )
    return read_manifest(write_manifest(rows, tmp_path / "m.csv"))


def test_dihedral_group_is_complete():
    a = np.arange(9).reshape(3, 3)
    seen = {dihedral(a, k).tobytes() for k in range(8)}
    assert len(seen) == 8


def test_rot180_augmentation_draws_only_the_half_turn(paired):
    assert augmentation_group(True) == tuple(range(8)) == augmentation_group("dihedral")
    assert augmentation_group("rot180") == (0, 2) and augmentation_group(False) == (0,)
    with pytest.raises(ValueError, match="rot180"):
        augmentation_group("rot90")
    pairs = load_pairs(paired, "train", ["c"], ["t"])
    kwargs = dict(input_stretch=IdentityStretch(), target_stretch=IdentityStretch())
    plain = PairedDataset(pairs, crop_size=None, **kwargs)[0]["inputs"].numpy()
    ds = PairedDataset(pairs, crop_size=None, augment="rot180", crops_per_image=16, **kwargs)
    seen = {ds[i]["inputs"].numpy().tobytes() for i in range(0, 32, 2)}  # all from image 0
    assert seen == {plain.tobytes(), np.ascontiguousarray(plain[:, ::-1, ::-1]).tobytes()}


def test_multi_file_any_channel_inputs_and_mask(paired):
    pairs = load_pairs(paired, "train", ["ab", "c"], ["t"])
    assert pairs[0].inputs.data.shape == (3, 24, 24)
    assert pairs[0].inputs.bands == ("ab_0", "ab_1", "c") or pairs[0].inputs.n_bands == 3
    ds = PairedDataset(
        pairs,
        input_stretch=IdentityStretch(),
        target_stretch=IdentityStretch(),
        crop_size=None,
        fill_value=-7.0,
    )
    s = ds[0]
    assert s["inputs"].shape == (3, 24, 24) and s["target"].shape == (1, 24, 24)
    assert s["mask"].dtype == torch.bool and s["mask"][3, 4] and s["mask"].sum() == 1
    assert s["inputs"][2, 3, 4] == -7.0 and s["target"][0, 3, 4] == -7.0
    assert s["key"] == "s0"


def test_crop_and_augmentation_identical_on_inputs_target_and_mask(paired):
    pairs = load_pairs(paired, "train", ["c"], ["t"])
    ds = PairedDataset(
        pairs,
        input_stretch=IdentityStretch(),
        target_stretch=IdentityStretch(),
        crop_size=12,
        augment=True,
        crops_per_image=20,
    )
    assert len(ds) == 40
    positions = set()
    for i in range(len(ds)):
        s = ds[i]
        assert s["inputs"].shape == (1, 12, 12)
        torch.testing.assert_close(s["inputs"], s["target"])  # target is a copy of the input
        filled = s["inputs"][0] == 0.0
        assert torch.equal(s["mask"], filled & s["mask"]) and torch.equal(
            s["mask"].any(), filled.any()
        )
        positions.add(s["inputs"].numpy().tobytes())
    assert len(positions) > 20  # crops and orientations vary
    again = ds[5]["inputs"]
    torch.testing.assert_close(again, ds[5]["inputs"])  # deterministic per (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(again, ds[5]["inputs"])


def test_stretch_is_fitted_on_the_dataset(paired):
    pairs = load_pairs(paired, "train", ["c"], ["t"])
    s = fit_pair_stretch(LinearStretch(), pairs, "inputs")
    all_values = np.concatenate([p.inputs.data.ravel() for p in pairs])
    assert s.vmin[0] == pytest.approx(np.nanmin(all_values))


def test_data_module_batches(paired):
    pairs = load_pairs(paired, "train", ["ab", "c"], ["t"])
    ds = PairedDataset(
        pairs,
        input_stretch=IdentityStretch(),
        target_stretch=IdentityStretch(),
        crop_size=16,
        crops_per_image=3,
    )
    batch = next(iter(PairedDataModule(ds, batch_size=4).train_dataloader()))
    assert batch["inputs"].shape == (4, 3, 16, 16) and batch["mask"].shape == (4, 16, 16)


def test_manifest_errors(paired, tmp_path):
    with pytest.raises(InputError, match="no column 'zz'"):
        load_pairs(paired, "train", ["zz"], ["t"])
    with pytest.raises(InputError, match="no rows with split == 'val'"):
        load_pairs(paired, "val", ["c"], ["t"])
    (tmp_path / "bad.csv").write_text("id,path\n1,a.fits\n")
    with pytest.raises(InputError, match="bad.csv: manifest needs columns \\['split'\\]"):
        read_manifest(tmp_path / "bad.csv")


def test_rows_in_another_unit_are_refused(paired, tmp_path):
    """One model cannot learn two units: a row whose band is in another unit than the split's
    first row (or than the training split's, for the validation split) is refused."""
    from astropy.io import fits

    pairs = load_pairs(paired, "train", ["ab", "c"], ["t"])
    assert pairs[1].target_units == ("nanomaggy",)
    fits.setval(tmp_path / "target1.fits", "BUNIT", value="nmgy")  # the same unit: fine
    assert len(load_pairs(paired, "train", ["ab", "c"], ["t"])) == 2
    fits.setval(tmp_path / "target1.fits", "BUNIT", value="adu")
    other = "row id=s1: band 't' is in 'adu', not 'nanomaggy', the unit of row id=s0; one model"
    with pytest.raises(InputError, match=other):
        load_pairs(paired, "train", ["ab", "c"], ["t"])
    # a split checked against the training split's units
    scaled = r"is in 'nanomaggy', not 'maggy' \(1 nanomaggy = 1e-09 maggy\), the unit of the train"
    with pytest.raises(InputError, match=scaled):
        load_pairs(paired, "train", ["ab", "c"], ["t"], units=(("nanomaggy",) * 3, ("maggy",)))


def test_target_on_another_grid_is_refused_or_cut(tmp_path, rng):
    wcs = make_wcs("tan", (24, 24))
    big = wcs.deepcopy()
    big.wcs.crpix = wcs.wcs.crpix + 1
    write_fits(tmp_path / "x.fits", rng.normal(size=(24, 24)), wcs)
    write_fits(tmp_path / "y.fits", rng.normal(size=(25, 25)), big)
    m = read_manifest(
        write_manifest(
            [{"split": "train", "id": "a", "x": "x.fits", "y": "y.fits"}], tmp_path / "m.csv"
        )
    )
    with pytest.raises(InputError, match="row id=a: inputs and target are not on the same grid"):
        load_pairs(m, "train", ["x"], ["y"])
    pairs = load_pairs(m, "train", ["x"], ["y"], align_target="crpix")
    assert pairs[0].target.shape == (24, 24)


def test_super_resolution_pairs_crop_the_same_sky(tmp_path, rng):
    from astroi2i.sky import rescale_wcs

    lr_wcs = make_wcs("tan", (20, 24))
    lr = rng.normal(size=(20, 24)).astype("f4")
    lr[5, 6] = np.nan
    write_fits(tmp_path / "lr.fits", lr, lr_wcs)
    write_fits(
        tmp_path / "hr.fits", np.kron(np.nan_to_num(lr), np.ones((2, 2))), rescale_wcs(lr_wcs, 2)
    )
    write_fits(tmp_path / "bad.fits", np.zeros((40, 48)), lr_wcs)  # right shape, wrong grid
    rows = [{"split": "train", "id": "a", "lr": "lr.fits", "hr": "hr.fits", "bad": "bad.fits"}]
    m = read_manifest(write_manifest(rows, tmp_path / "m.csv"))
    pairs = load_pairs(m, "train", ["lr"], ["hr"], scale=2)
    ds = PairedDataset(
        pairs,
        input_stretch=IdentityStretch(),
        target_stretch=IdentityStretch(),
        crop_size=8,
        augment=True,
        crops_per_image=10,
        scale=2,
    )
    for i in range(10):
        s = ds[i]
        assert s["inputs"].shape == (1, 8, 8) and s["target"].shape == (1, 16, 16)
        assert s["mask"].shape == (16, 16)
        expected = np.kron(s["inputs"][0].numpy(), np.ones((2, 2)))
        np.testing.assert_allclose(s["target"][0].numpy(), expected)  # same sky, same turn
    with pytest.raises(InputError, match="not on the input grid made 2× finer"):
        load_pairs(m, "train", ["lr"], ["bad"], scale=2)


def test_inpainting_holes_and_zero_blocks(tmp_path, rng):
    wcs = make_wcs("tan", (64, 64))
    image = rng.uniform(1, 2, size=(64, 64)).astype("f4")
    image[32:48, 0:16] = 0.0  # a lost 16² telemetry block
    image[0:3, 60:64] = np.nan
    write_fits(tmp_path / "a.fits", image, wcs)
    rows = [{"split": "train", "id": "a", "img": "a.fits"}]
    manifest = read_manifest(write_manifest(rows, tmp_path / "m.csv"))
    pairs = load_pairs(manifest, "train", ["img"], ["img"], zero_blocks=16)
    assert pairs[0].inputs.pixel_mask[32:48, 0:16].all()
    assert pairs[0].inputs.pixel_mask.sum() == 16 * 16 + 12
    holes = {"block": 16, "max_blocks": 3, "max_size": 1}
    ds = PairedDataset(pairs, input_stretch=IdentityStretch(), target_stretch=IdentityStretch(),
                       crop_size=None, holes=holes, crops_per_image=8)  # fmt: skip
    for i in range(8):
        s = ds[i]
        hole, mask = s["hole"], s["mask"]
        assert hole.any() and not (hole & mask).any()  # invalid pixels stay in mask only
        assert (s["inputs"][0][hole] == 0).all()
        assert torch.equal(s["inputs"][0][~hole & ~mask], s["target"][0][~hole & ~mask])
    assert not torch.equal(ds[0]["hole"], ds[1]["hole"])  # drawn per sample
    with pytest.raises(InputError, match="data.holes.size"):
        PairedDataset(pairs, input_stretch=IdentityStretch(), holes={"size": 2})


def test_physical_loss_scale_is_the_stretch_slope_and_follows_crops(paired):
    from astroi2i.data.datasets import physical_scale
    from astroi2i.data.stretches import AsinhStretch

    asinh = AsinhStretch(softening=0.5)
    y = np.array([[[0.0, 1.0], [-2.0, 3.0]]])
    np.testing.assert_allclose(physical_scale(asinh, y), np.cosh(y), rtol=1e-6)  # d(b·sinh)/dy
    assert np.all(physical_scale(LinearStretch(vmin=0.0, vmax=4.0), y) == pytest.approx(1.0))

    pairs = load_pairs(paired, "train", ["c"], ["t"])
    kwargs = dict(input_stretch=IdentityStretch(), target_stretch=asinh, crop_size=12,
                  augment=True, crops_per_image=4)  # fmt: skip
    plain = PairedDataset(pairs, **kwargs)
    weighted = PairedDataset(pairs, loss_space="physical", **kwargs)
    for i in range(8):  # the same crops and turns; scale is cosh of the sample's target
        a, b = plain[i], weighted[i]
        assert "loss_scale" not in a and b["loss_scale"].shape == b["target"].shape
        torch.testing.assert_close(a["target"], b["target"])
        valid = ~b["mask"]
        expected = torch.cosh(b["target"].double())[0][valid].float()
        torch.testing.assert_close(b["loss_scale"][0][valid], expected, rtol=1e-5, atol=1e-6)
        assert torch.all(b["loss_scale"][0][b["mask"]] == 0)  # invalid pixels carry no weight
    with pytest.raises(ValueError, match="loss_space"):
        PairedDataset(pairs, loss_space="linear", **kwargs)


def test_band_exposures_per_band_and_refused_when_not_a_positive_number():
    from astropy.io import fits as _fits

    from astroi2i.data.datasets import band_exposures
    from astroi2i.io.image import SkyImage

    def image(n_bands, **cards):
        return SkyImage(np.zeros((n_bands, 4, 4), np.float32), None, header=_fits.Header(cards))

    got = band_exposures([image(2, EXPTIME=30), image(1)], "EXPTIME", ["a.fits", "b.fits"])
    np.testing.assert_array_equal(got[:2], [30.0, 30.0])
    assert np.isnan(got[2])  # absent: NaN, for the caller to call missing
    for bad in (0, -1.5, "long"):
        with pytest.raises(InputError, match=f"b.fits: header keyword EXPTIME is {bad!r}, not a"):
            band_exposures([image(1, EXPTIME=1), image(1, EXPTIME=bad)], "EXPTIME",
                           ["a.fits", "b.fits"])  # fmt: skip
