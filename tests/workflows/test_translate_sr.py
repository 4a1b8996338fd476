"""translate with a model that enlarges images (super-resolution): output grid, WCS, mask."""

from types import SimpleNamespace

import numpy as np
import torch

from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
from astroi2i.io import read_image
from astroi2i.sky import rescale_wcs, same_grid
from astroi2i.systems.build import build_generator
from astroi2i.workflows.checkpoint import package_versions
from astroi2i.workflows.translate import translate
from tests.conftest import make_wcs, write_fits


def _sr_checkpoint(path):
    recipe = resolve_recipe(
        apply_overrides(
            load_recipe("pix2pix_quickstart"),
            [
                "model.generator={type: SRResNetGenerator, scale: 2, n_blocks: 1,"
                " base_channels: 4}",
                "data.scale=2",
                "data.anchor=none",  # the quickstart anchors on a same-grid baseline
            ],
        )
    )
    torch.manual_seed(0)
    generator = build_generator(recipe["model"], 1, 1)
    identity = {"type": "IdentityStretch"}
    meta = {
        "format": 1,
        "recipe": recipe,
        "input_bands": ["lr"],
        "target_bands": ["hr"],
        "input_units": ["nanomaggy"],
        "target_units": ["nanomaggy"],
        "stretches": {"inputs": identity, "targets": identity},
        "scale": 2,
        "stride": 1,
        "fill_value": 0.0,
        "versions": package_versions(),
    }
    # the recipe has a σ network: the module is WithUncertainty, whose keys (generator.*,
    # sigma_net.*) are the training system's
    state = dict(generator.state_dict())
    torch.save({"state_dict": state, "hyper_parameters": {"astroi2i": meta}}, path)
    return generator.eval()


def test_sr_translate_writes_the_finer_grid(tmp_path, rng):
    generator = _sr_checkpoint(tmp_path / "sr.ckpt")
    wcs = make_wcs("sip", (40, 36))
    data = rng.normal(size=(40, 36)).astype("f4")
    data[10, 11] = np.nan
    write_fits(tmp_path / "lr.fits", data, wcs)
    out = translate(
        tmp_path / "sr.ckpt", [tmp_path / "lr.fits"], tmp_path / "hr.fits", tile=16, overlap=8
    )
    result = read_image(out)
    assert result.shape == (80, 72) and result.header["BUNIT"] == "nanomaggy"
    reference = read_image(tmp_path / "lr.fits")
    fine = SimpleNamespace(shape=(80, 72), wcs=rescale_wcs(reference.wcs, 2))
    assert same_grid(result, fine)
    assert result.mask.sum() == 4 and result.mask[20:22, 22:24].all()  # one LR pixel → 2×2
    with torch.no_grad():
        whole = generator(torch.from_numpy(np.nan_to_num(data))[None, None])[0, 0].numpy()
    ok = ~result.mask
    # tiles of 16 with overlap 8 against the whole image: a 9×9-kernel network is not local
    # enough for exact equality, but the blend stays close
    assert np.median(np.abs(result.data[0][ok] - whole[ok])) < 0.05 * np.ptp(whole)
