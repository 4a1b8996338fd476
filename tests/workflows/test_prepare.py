"""prepare: surveys on different grids → one grid, stamps, sky-region splits, manifest."""

import re

import astropy.units as u
import numpy as np
import pytest

from astroi2i.cli.main import main
from astroi2i.errors import InputError
from astroi2i.io import read_image, read_manifest
from astroi2i.sky import same_grid
from astroi2i.sky.geometry import reprojection_method
from astroi2i.workflows.prepare import prepare
from tests.conftest import make_wcs, write_fits


@pytest.fixture
def fields(tmp_path, rng):
    """Two fields; band 'r' on a 0.4″ grid, band 'k' (per-pixel flux) on a 0.8″ grid and
    band 'uv' (surface brightness) on a rotated 0.6″ grid covering the same sky."""
    lines = ["field,r,k,uv"]
    for f, ra in (("a", 150.0), ("b", 150.2)):
        r_wcs = make_wcs("tan", (96, 96), ra=ra, scale=0.4)
        k_wcs = make_wcs("tan", (60, 60), ra=ra, scale=0.8)
        uv_wcs = make_wcs("tan", (80, 80), ra=ra, scale=0.6)
        uv_wcs.wcs.pc = [[1, 0], [0, 1]]
        write_fits(tmp_path / f"{f}_r.fits", rng.normal(10, 1, (96, 96)), r_wcs, bunit="nanomaggy")
        k = np.zeros((60, 60))
        k[28:32, 28:32] = 100.0  # a compact source of total flux 1600
        write_fits(tmp_path / f"{f}_k.fits", k, k_wcs, bunit="DN")
        write_fits(tmp_path / f"{f}_uv.fits", np.full((80, 80), 3.0), uv_wcs, bunit="MJy/sr")
        lines.append(f"{f},{f}_r.fits,{f}_k.fits,{f}_uv.fits")
    (tmp_path / "fields.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "fields.csv"


def test_method_follows_bunit():
    assert reprojection_method(u.Unit("MJy/sr")) == "interp"
    assert reprojection_method(u.Unit("erg / (s cm2 Angstrom arcsec2)")) == "interp"
    assert reprojection_method(u.Unit("DN")) == "adaptive"
    assert reprojection_method(u.Unit("nanomaggy")) == "adaptive"


def test_prepare_aligns_cuts_and_splits(fields, tmp_path):
    out = tmp_path / "out"
    result = prepare(
        fields,
        out,
        reference="r",
        stamp=32,
        region_deg=0.003,
        seed=1,
        fractions={"train": 0.6, "val": 0.2, "test": 0.2},
    )
    assert result.methods == {"k": {"adaptive"}, "uv": {"interp"}}
    manifest = read_manifest(result.manifest)
    table = manifest.table
    assert len(table) == sum(result.stamps.values()) == 18  # 2 fields × 3 × 3 stamps
    assert set(table["split"]) == {"train", "val", "test"}
    for row in table:
        r, k, uv = (read_image(manifest.cell(row, b)[0]) for b in ("r", "k", "uv"))
        assert r.shape == (32, 32) and same_grid(r, k) and same_grid(r, uv)
        np.testing.assert_allclose(uv.data[~uv.band_mask], 3.0, rtol=1e-5)  # interpolated
    # flux conservation: the k source (1600 DN) summed over all stamps of field a
    field_a = table[table["field"] == "a"]
    total = sum(np.nansum(read_image(manifest.cell(row, "k")[0]).data) for row in field_a)
    assert total == pytest.approx(1600.0, rel=0.02)


def test_overlapping_stamps_never_cross_splits(fields, tmp_path):
    result = prepare(
        fields,
        tmp_path / "o",
        stamp=32,
        step=16,
        region_deg=0.003,
        fractions={"train": 0.5, "test": 0.5},
    )
    table = read_manifest(result.manifest).table
    assert result.dropped_overlap > 0
    for field in ("a", "b"):
        rows = table[table["field"] == field]
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                if rows["split"][i] != rows["split"][j]:
                    overlap = (
                        abs(int(rows["x0"][i]) - int(rows["x0"][j])) < 32
                        and abs(int(rows["y0"][i]) - int(rows["y0"][j])) < 32
                    )
                    assert not overlap


def test_prepare_cli_and_bad_input(fields, tmp_path, capsys):
    code = main(
        [
            "prepare",
            str(fields),
            "--out",
            str(tmp_path / "c"),
            "--stamp",
            "32",
            "--method",
            "k=exact",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "resampled k: exact" in out and "manifest:" in out
    code = main(["prepare", str(fields), "--out", str(tmp_path / "c"), "--stamp", "32"])
    assert code == 2 and "exists and is not empty" in capsys.readouterr().err
    with pytest.raises(InputError, match="--reference 'z': not a band column"):
        prepare(fields, tmp_path / "d", reference="z")
    with pytest.raises(InputError, match="known methods are interp, adaptive, exact"):
        prepare(fields, tmp_path / "d", methods={"k": "cubic"})


def test_unparsable_bunit_needs_a_method(fields, tmp_path):
    """'W/m^2-sr' is surface brightness to a reader, an unknown string to astropy: resampling
    it as flux per pixel would scale it by the pixel-area ratio with BUNIT unchanged."""
    from astropy.io import fits

    for f in ("a", "b"):
        with fits.open(tmp_path / f"{f}_uv.fits", mode="update") as hdul:
            hdul[0].header["BUNIT"] = "W/m^2-sr"
    with pytest.raises(InputError, match=r"band 'uv': BUNIT 'W/m\^2-sr' is not a unit astropy "
                       r".*choose with --method uv=interp"):  # fmt: skip
        prepare(fields, tmp_path / "o1", reference="r", stamp=32, region_deg=0.003)
    assert not (tmp_path / "o1").exists()
    result = prepare(fields, tmp_path / "o2", reference="r", stamp=32, region_deg=0.003,
                     methods={"uv": "interp"})  # fmt: skip
    uv = read_image(read_manifest(result.manifest).cell(read_manifest(result.manifest).table[0],
                                                        "uv")[0])  # fmt: skip
    np.testing.assert_allclose(uv.data[~uv.band_mask], 3.0, rtol=1e-5)  # not scaled


def test_split_shares_are_checked():
    from astroi2i.workflows.prepare import parse_fractions

    assert parse_fractions("train=0.8, val=0.1,test=0.1") == {"train": 0.8, "val": 0.1,
                                                              "test": 0.1}  # fmt: skip
    assert parse_fractions("test=1.5") == {"test": 1.5}  # shares, relative to their sum
    for text, message in (("test=-1", "the share of 'test' is -1, not a number ≥ 0"),
                          ("a=nan", "the share of 'a' is nan"),
                          ("train=0.5,train=0.5", "'train' is named twice"),
                          ("train=0,val=0", "every share is 0"),
                          ("train", "expected name=fraction")):  # fmt: skip
        with pytest.raises(InputError, match=re.escape(f"--split {text!r}: {message}")):
            parse_fractions(text)
