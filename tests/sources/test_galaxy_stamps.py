"""GalSim galaxy stamps of two surveys: fluxes in each survey's unit, noise from the depth,
stamps of a pair centred on one sky position."""

import numpy as np
import pytest

pytest.importorskip("galsim")

from astroi2i.io import read_image, read_manifest  # noqa: E402
from astroi2i.sources.galaxy_stamps import (  # noqa: E402
    BANDS,
    CFHT,
    SDSS,
    GalaxyParams,
    draw_stamp,
    simulate_galaxy_pairs,
)

GALAXY = GalaxyParams(r_mag=17.0, bulge_fraction=0.4, bulge_hlr=0.6, disk_hlr=1.5, q=0.6,
                      beta_deg=30.0, dx=0.0, dy=0.0)  # fmt: skip


def test_noise_free_fluxes_match_magnitudes_in_both_units():
    sdss, cfht = draw_stamp(GALAXY, SDSS, None), draw_stamp(GALAXY, CFHT, None)
    assert sdss.shape == (5, 64, 64) and cfht.shape == (5, 136, 136)
    r = BANDS.index("r")
    assert sdss[r].sum() == pytest.approx(10 ** (-0.4 * (17.0 - 22.5)), rel=0.01)  # nanomaggies
    # same galaxy, same bands: CFHT ADU (zero point 30) = 10^3 × SDSS nanomaggies
    np.testing.assert_allclose(cfht.sum(axis=(1, 2)) / sdss.sum(axis=(1, 2)), 10**3, rtol=0.01)
    # the sharper, finer CFHT image peaks higher per arcsec²
    assert cfht[r].max() / CFHT.pixel_scale**2 > 1.5 * sdss[r].max() / SDSS.pixel_scale**2 * 1e3


def test_noise_follows_the_depth(rng):
    noisy, clean = draw_stamp(GALAXY, SDSS, rng), draw_stamp(GALAXY, SDSS, None)
    for c, band in enumerate(BANDS):
        assert (noisy[c] - clean[c]).std() == pytest.approx(SDSS.noise_sigma(band), rel=0.05)
    assert CFHT.noise_sigma("r") / 1e3 < SDSS.noise_sigma("r") / 5  # CFHT is deeper


def test_simulated_manifest_pairs_and_pools(tmp_path):
    manifest = read_manifest(
        simulate_galaxy_pairs(tmp_path, paired={"train": 2, "test": 1}, unpaired=2, seed=3)
    )
    kinds = list(manifest.table["kind"])
    assert kinds.count("paired") == 3 and kinds.count("unpaired_a") == 2
    row = manifest.rows("test")[0]
    a, b = read_image(manifest.cell(row, "sdss")[0]), read_image(manifest.cell(row, "cfht")[0])
    assert a.bands == BANDS and str(a.unit) == "nmgy" and str(b.unit) == "adu"
    np.testing.assert_allclose(a.wcs.pixel_to_world_values(31.5, 31.5),
                               b.wcs.pixel_to_world_values(67.5, 67.5), atol=1e-10)  # fmt: skip
    only_a = manifest.table[manifest.table["kind"] == "unpaired_a"][0]
    assert np.ma.is_masked(only_a["cfht"]) or str(only_a["cfht"]).strip() in ("", "--")
    # the noise-free truth is the noisy stamp's expectation: the difference is the noise alone,
    # zero-mean with the survey's σ in every band, on the same grid, in the same unit
    for survey, spec in (("sdss", SDSS), ("cfht", CFHT)):
        noisy = read_image(manifest.cell(row, survey)[0])
        truth = read_image(manifest.cell(row, f"{survey}_truth")[0])
        assert truth.unit == noisy.unit and truth.bands == noisy.bands
        assert truth.wcs.to_header_string() == noisy.wcs.to_header_string()
        noise = noisy.data.astype(np.float64) - truth.data
        for c, band in enumerate(BANDS):
            sigma = spec.noise_sigma(band)
            assert noise[c].std() == pytest.approx(sigma, rel=0.1)
            assert abs(noise[c].mean()) < 5 * sigma / np.sqrt(noise[c].size)
        assert truth.data.sum() > 0 and np.abs(noisy.data - truth.data).max() > 0
    # a stamp's noisy version is the same draw with and without the truth asked for
    rng_a, rng_b = np.random.default_rng(9), np.random.default_rng(9)
    alone = draw_stamp(GALAXY, SDSS, rng_a)
    with_truth, _ = draw_stamp(GALAXY, SDSS, rng_b, with_truth=True)
    np.testing.assert_array_equal(alone, with_truth)


def test_splus_legacy_fields_share_sky_flux_and_the_x2_grid(tmp_path):
    from dataclasses import replace

    from astroi2i.sky.geometry import rescale_wcs
    from astroi2i.sources.galaxy_stamps import LEGACY, SPLUS, random_field

    # a small (32² / 64²) version of the preset: same pixel scales, PSFs, depths and units
    lr, hr = replace(SPLUS, size=32), replace(LEGACY, size=64)
    field = random_field(np.random.default_rng(4), 0.5 * 32 * SPLUS.pixel_scale)
    assert len(field) >= 1 and all(abs(p.dx) < 8.0 for p in field)
    low, high = draw_stamp(field, lr, None), draw_stamp(field, hr, None)
    assert low.shape == (3, 32, 32) and high.shape == (3, 64, 64)
    # both in nanomaggies per pixel: the 2× finer grid holds the same total flux
    np.testing.assert_allclose(high.sum(axis=(1, 2)), low.sum(axis=(1, 2)), rtol=0.02)
    assert LEGACY.noise_sigma("r") < SPLUS.noise_sigma("r") / 10  # Legacy is far deeper

    manifest = read_manifest(
        simulate_galaxy_pairs(
            tmp_path,
            paired={"train": 1, "test": 1},
            unpaired=0,
            seed=1,
            a=lr,
            b=hr,
            fields=True,
            preset="splus-legacy",
        )  # fmt: skip
    )
    row = manifest.rows("test")[0]
    a, b = read_image(manifest.cell(row, "splus")[0]), read_image(manifest.cell(row, "legacy")[0])
    assert a.bands == ("g", "r", "z") and str(a.unit) == str(b.unit) == "nmgy"
    # the Legacy grid is the S-PLUS one made 2× finer: every HR pixel centre where
    # rescale_wcs puts it (the SR output grid equals the real HR grid)
    ys, xs = np.mgrid[0:64:7, 0:64:7]
    expected = rescale_wcs(a.wcs, 2).pixel_to_world_values(xs, ys)
    np.testing.assert_allclose(b.wcs.pixel_to_world_values(xs, ys), expected, atol=1e-10)
