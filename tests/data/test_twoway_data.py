"""Two-way data: domains from one manifest (empty cells = unpaired), the four-stream mixed
sampler, pair-consistent augmentation and reproducible epochs."""

import numpy as np
import pytest

from astroi2i.data.stretches import SignedSqrtStretch
from astroi2i.data.twoway import DomainRows, TwoWayDataset, load_domains
from astroi2i.errors import InputError
from astroi2i.io import read_manifest, write_manifest
from astroi2i.io.image import SkyImage
from tests.conftest import make_wcs, write_fits


def _image(size, corner_value=0.0):
    data = np.zeros((2, size, size), np.float32)
    data[:, : size // 4, : size // 4] = corner_value  # a marked top-left corner
    return SkyImage(data, make_wcs("tan", (size, size)), "adu", bands=("g", "r"))


def _rows(n_pairs=3, n_a=5, n_b=2):
    return DomainRows(
        paired=[(f"p{i}", _image(8, 1.0), _image(16, 1.0)) for i in range(n_pairs)],
        only_a=[(f"a{i}", _image(8, 2.0)) for i in range(n_a)],
        only_b=[(f"b{i}", _image(16, 3.0)) for i in range(n_b)],
    )


def _dataset(rows, **kwargs):
    kwargs.setdefault("streams", {"unpaired_a": 2, "unpaired_b": 1, "paired": 1})
    return TwoWayDataset(rows, SignedSqrtStretch(), SignedSqrtStretch(), **kwargs)


def test_items_hold_every_stream_in_its_proportion():
    ds = _dataset(_rows(), augment=True)
    assert len(ds) == 3  # ceil(5 unpaired A / 2 per item) = ceil(3 pairs / 1) = 3
    item = ds[0]
    assert item["a"].shape == (2, 2, 8, 8) and item["b"].shape == (1, 2, 16, 16)
    assert item["pa"].shape == (1, 2, 8, 8) and item["pb"].shape == (1, 2, 16, 16)
    assert item["a_mask"].shape == (2, 8, 8) and item["a_mask"].dtype.is_floating_point is False
    stretched_two = SignedSqrtStretch().forward(np.float32(2.0))
    assert float(item["a"].max()) == pytest.approx(float(stretched_two))


def test_both_halves_of_a_pair_get_the_same_turn():
    ds = _dataset(_rows(n_pairs=6, n_a=1, n_b=1), augment=True, streams={"paired": 1})
    corners = set()
    for i in range(len(ds)):
        for epoch in range(3):
            ds.set_epoch(epoch)
            item = ds[i]
            a, b = item["pa"][0, 0].numpy(), item["pb"][0, 0].numpy()
            qa = (int(a[:4].sum() == 0), int(a[:, :4].sum() == 0))  # which quadrant is marked
            qb = (int(b[:8].sum() == 0), int(b[:, :8].sum() == 0))
            assert qa == qb
            corners.add(qa)
    assert len(corners) > 1  # the augmentation did turn them


def test_epochs_are_reproducible_and_differ():
    ds = _dataset(_rows(n_pairs=3, n_a=5, n_b=2))
    ds.set_epoch(1)
    first = [ds[i]["a"].sum().item() for i in range(len(ds))]
    rows = _rows()
    rows.only_a = [(k, SkyImage(im.data * (j + 1), im.wcs, "adu", bands=im.bands))
                   for j, (k, im) in enumerate(rows.only_a)]  # fmt: skip
    ds2 = _dataset(rows)
    orders = []
    for epoch in (1, 1, 2):
        ds2.set_epoch(epoch)
        orders.append([float(ds2[i]["a"].sum()) for i in range(len(ds2))])
    assert orders[0] == orders[1] and orders[0] != orders[2]
    assert len(first) == 3


def test_stream_errors_name_the_key():
    with pytest.raises(InputError, match="data.streams.paired: 1 per item, but"):
        _dataset(_rows(n_pairs=0), streams={"paired": 1})
    with pytest.raises(InputError, match="data.streams.mixed: unknown stream"):
        _dataset(_rows(), streams={"mixed": 1})
    with pytest.raises(InputError, match="every stream count is 0"):
        _dataset(_rows(), streams={"paired": 0})


def test_manifest_rows_become_pairs_and_pools(tmp_path):
    for name, size in (("a.fits", 8), ("b.fits", 16)):
        write_fits(
            tmp_path / name, np.ones((size, size), np.float32), make_wcs("tan", (size, size))
        )
    rows = [
        {"split": "train", "id": "p", "x": "a.fits", "y": "b.fits"},
        {"split": "train", "id": "ua", "x": "a.fits", "y": ""},
        {"split": "train", "id": "ub", "x": "", "y": "b.fits"},
    ]
    manifest = read_manifest(write_manifest(rows, tmp_path / "m.csv"))
    domains = load_domains(manifest, "train", ["x"], ["y"])
    assert [k for k, *_ in domains.paired] == ["p"]
    assert [k for k, _ in domains.only_a] == ["ua"] and [k for k, _ in domains.only_b] == ["ub"]
    assert domains.size("a") == (8, 8) and domains.size("b") == (16, 16)
    rows.append({"split": "train", "id": "none", "x": "", "y": ""})
    manifest = read_manifest(write_manifest(rows, tmp_path / "m2.csv"))
    with pytest.raises(InputError, match="row 'none' has no image in either domain"):
        load_domains(manifest, "train", ["x"], ["y"])
