"""Shared fixtures: small FITS files generated on the fly (TAN, TAN-SIP, CAR; NaN; compressed),
a tiny paired data set, and a tiny trained checkpoint. Nothing here reads ../shared."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def make_wcs(kind: str = "tan", shape=(32, 40), *, ra=150.0, dec=2.0, scale=0.4) -> WCS:
    """A celestial WCS of the given projection for an image of ``shape`` (H, W)."""
    w = WCS(naxis=2)
    ctype = {"tan": "TAN", "sip": "TAN-SIP", "car": "CAR"}[kind]
    w.wcs.ctype = [f"RA---{ctype}", f"DEC--{ctype}"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [(shape[1] + 1) / 2 + 0.3, (shape[0] + 1) / 2 - 0.2]
    w.wcs.cdelt = [-scale / 3600, scale / 3600]
    w.wcs.pc = [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]
    w.wcs.cunit = ["deg", "deg"]
    if kind == "sip":
        from astropy.wcs import Sip

        a = np.zeros((3, 3))
        b = np.zeros((3, 3))
        a[2, 0], a[1, 1], b[0, 2] = 2e-5, -1e-5, 3e-5
        w.sip = Sip(a, b, None, None, w.wcs.crpix)
    return w


def gaussian_sources(shape, rng, n=5, *, noise=0.01) -> np.ndarray:
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros(shape)
    for _ in range(n):
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        img += rng.uniform(1, 10) * np.exp(
            -((x - x0) ** 2 + (y - y0) ** 2) / (2 * rng.uniform(1, 3) ** 2)
        )
    return (img + rng.normal(0, noise, shape)).astype(np.float32)


def write_fits(
    path, data, wcs=None, *, bunit="nanomaggy", compressed=False, extra=None, nan_box=False
):
    """Write ``data`` (2-D or 3-D) with a WCS; optionally tile-compressed (lossless) in ext 1."""
    data = np.array(data, dtype=np.float32)
    if nan_box:
        data[..., 2:5, 3:7] = np.nan
    header = wcs.to_header(relax=True) if wcs is not None else fits.Header()
    if bunit:
        header["BUNIT"] = bunit
    header["TELESCOP"] = "TESTSCOPE"
    header["EXPTIME"] = 30.0
    for k, v in (extra or {}).items():
        header[k] = v
    if compressed:
        hdu = fits.CompImageHDU(data, header=header, compression_type="GZIP_2", quantize_level=0.0)
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path, overwrite=True)
    else:
        fits.PrimaryHDU(data, header=header).writeto(path, overwrite=True)
    return path


@pytest.fixture
def fits_factory(tmp_path, rng):
    """make(name, kind='tan', shape=(32, 40), **write_fits kwargs) → path of a new FITS file."""

    def make(name="image.fits", kind="tan", shape=(32, 40), data=None, **kwargs):
        wcs = make_wcs(kind, shape[-2:]) if kind else None
        if data is None:
            data = gaussian_sources(shape[-2:], rng)
            if len(shape) == 3:
                data = np.stack([data * (i + 1) for i in range(shape[0])])
        return write_fits(tmp_path / name, data, wcs, **kwargs)

    return make


@pytest.fixture(scope="session")
def survey_pair(tmp_path_factory):
    """A tiny simulated shallow/deep survey pair: manifest path."""
    from astroi2i.sources.survey_pair import simulate_survey_pair

    out = tmp_path_factory.mktemp("survey_pair")
    return simulate_survey_pair(
        out, splits={"train": (3, 64), "val": (1, 64), "test": (2, 48)}, seed=1
    )


TINY_MODEL = [
    "model.generator.depth=3",
    "model.generator.base_channels=4",
    "model.discriminator.base_channels=4",
    "model.discriminator.n_layers=1",
    "data.crop_size=32",
    "data.batch_size=2",
    "data.crops_per_image=2",
    "trainer.progress_bar=false",
    "trainer.val_every=2",
    "trainer.checkpoint_every=2",
    "inference.tile=32",
    "inference.overlap=8",
]


@pytest.fixture(scope="session")
def tiny_checkpoint(survey_pair, tmp_path_factory):
    """A pix2pix trained for 4 batches on the tiny survey pair: (TrainResult, manifest)."""
    from astroi2i.workflows.train import train

    workdir = tmp_path_factory.mktemp("tiny_run")
    overrides = [f"data.manifest={survey_pair}", "trainer.max_batches=4", *TINY_MODEL]
    return train("pix2pix_quickstart", overrides=overrides, workdir=workdir, overwrite=True)


#: tiny survey pair for two-way tests: 16² A stamps and 34² B stamps over the same sky
TWOWAY_TINY = [
    "model.g_ab.base_channels=2",
    "model.g_ba.base_channels=2",
    "model.d_a.base_channels=2",
    "model.d_b.base_channels=2",
    "model.d_a.n_layers=1",
    "model.d_b.n_layers=1",
    "data.batch_size=2",
    "trainer.val_every=2",
    "trainer.checkpoint_every=2",
    "trainer.progress_bar=false",
    "trainer.loggers=[csv]",
]


@pytest.fixture(scope="session")
def twoway_pairs(tmp_path_factory):
    """A two-way manifest (columns sdss, cfht) of tiny GalSim stamps: 4 train pairs, 4
    unpaired per survey, 1 val and 2 test pairs."""
    pytest.importorskip("galsim")
    from dataclasses import replace

    from astroi2i.sources.galaxy_stamps import CFHT, SDSS, simulate_galaxy_pairs

    a = replace(SDSS, size=16, pixel_scale=4 * SDSS.pixel_scale)
    b = replace(CFHT, size=34, pixel_scale=4 * CFHT.pixel_scale)
    folder = tmp_path_factory.mktemp("twoway")
    return simulate_galaxy_pairs(
        folder, paired={"train": 4, "val": 1, "test": 2}, unpaired=4, seed=5, a=a, b=b
    )


# ---- the slow marker: every test that trains a network carries it ------------------------
# Trainer.fit refuses to run inside a test (its fixtures included) that is not marked slow, so
# `pytest -m "not slow"` is the quick suite by construction, not by memory.
_RUNNING = {"slow": True, "id": ""}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _RUNNING.update(slow=item.get_closest_marker("slow") is not None, id=item.nodeid)


def pytest_configure(config):
    import lightning.pytorch as lp

    fit = lp.Trainer.fit

    def fit_if_marked_slow(self, *args, **kwargs):
        if not _RUNNING["slow"]:
            pytest.fail(f"{_RUNNING['id']} trains a network: mark it @pytest.mark.slow")
        return fit(self, *args, **kwargs)

    lp.Trainer.fit = fit_if_marked_slow
