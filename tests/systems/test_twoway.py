"""The two-way systems: every recipe of configs/twoway trains (finite losses, changed
weights); the noise GAN's two stages update the right networks; runs resume exactly; the
image pool's semantics."""

import lightning as L
import pytest
import torch

from astroi2i.config import packaged_recipes
from astroi2i.systems.build import build_system
from astroi2i.systems.twoway_base import ImagePool
from astroi2i.workflows.checkpoint import read_checkpoint
from astroi2i.workflows.train import prepare_recipe, train
from tests.conftest import TWOWAY_TINY

TWOWAY = sorted(n for n in packaged_recipes() if n.startswith("twoway/"))
EXTRA = {
    "twoway/augcgan": ["model.e_a.base_channels=2", "model.e_b.base_channels=2"],
    "twoway/noise_gan": ["model.ae_a.base_channels=2", "model.ae_b.base_channels=2",
                         "model.ne_a.base_channels=2", "model.ne_b.base_channels=2"],
    "twoway/noise_gan_one_step": ["model.ne_a.base_channels=2", "model.ne_b.base_channels=2"],
    "twoway/cyclegan_6blocks": ["model.g_ab.n_blocks=1", "model.g_ba.n_blocks=1"],
}  # fmt: skip


def _sets(name, manifest, *more):
    return [f"data.manifest={manifest}", *TWOWAY_TINY, *EXTRA.get(name, []), *more]


def _initial_state(name, sets):
    cfg = prepare_recipe(name, sets)
    L.seed_everything(cfg["seed"], verbose=False)
    return {k: v.clone() for k, v in build_system(cfg["model"], 5, 5).state_dict().items()}


def _changed(before, after, prefix):
    keys = [k for k in before if k.startswith(prefix) and before[k].is_floating_point()]
    assert keys, prefix
    return any(not torch.equal(before[k], after[k]) for k in keys)


def test_there_is_one_recipe_per_method():
    assert [n.split("/")[1] for n in TWOWAY] == sorted([
        "pix2pix_adapted", "cyclegan_adapted", "cyclegan_pid", "cyclegan_id", "cyclegan_id_ps",
        "noise_gan_one_step", "cyclegan_6blocks", "augcgan", "noise_gan"])  # fmt: skip


@pytest.mark.parametrize("name", TWOWAY)
@pytest.mark.slow
def test_every_method_trains(name, twoway_pairs, tmp_path):
    more = ["model.system.noise_batches=1"] if name == "twoway/noise_gan" else []
    sets = _sets(name, twoway_pairs, "trainer.max_batches=3", *more)
    result = train(name, overrides=sets, workdir=tmp_path / "run")
    ckpt = read_checkpoint(result.checkpoint)
    assert ckpt["global_step"] == 2 * 3  # generator side + discriminators, per batch
    state = ckpt["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    before = _initial_state(name, sets)
    for prefix in ("g_ab.", "g_ba.", "d_a.", "d_b."):
        assert _changed(before, state, prefix), prefix
    assert int(state["batches_seen"]) == 3
    meta = ckpt["hyper_parameters"]["astroi2i"]
    assert meta["two_way"]["a"]["size"] == [16, 16] and meta["two_way"]["b"]["size"] == [34, 34]
    assert meta["two_way"]["b"]["name"] == "cfht" and meta["target_units"] == ["adu"] * 5
    assert {"train/gan", "train/loss_d", "val/l1"} <= set(result.metrics)
    if name == "twoway/pix2pix_adapted":
        assert "train/cycle" not in result.metrics and "train/identity" in result.metrics


@pytest.mark.slow
def test_noise_gan_stages_update_the_right_networks(twoway_pairs, tmp_path):
    name = "twoway/noise_gan"
    sets = _sets(name, twoway_pairs, "model.system.noise_batches=2", "trainer.deterministic=true",
                 "trainer.loggers=[]")  # fmt: skip
    before = _initial_state(name, sets)
    first = train(name, overrides=[*sets, "trainer.max_batches=2"], workdir=tmp_path / "r")
    stage1 = read_checkpoint(first.checkpoint)["state_dict"]
    for prefix in ("ae_a.", "ae_b.", "ne_a.", "ne_b.", "d_a."):
        assert _changed(before, stage1, prefix), prefix
    assert not _changed(before, stage1, "g_ab.") and not _changed(before, stage1, "g_ba.")
    # stage translate, resumed: generators move, autoencoders and emulators stay frozen
    second = train(name, overrides=[*sets, "trainer.max_batches=4"], workdir=tmp_path / "r",
                   resume="last")  # fmt: skip
    stage2 = read_checkpoint(second.checkpoint)["state_dict"]
    for prefix in ("ae_a.", "ae_b.", "ne_a.", "ne_b."):
        assert not _changed(stage1, stage2, prefix), prefix
    assert _changed(stage1, stage2, "g_ab.") and _changed(stage1, stage2, "g_ba.")
    assert {"train/identity", "train/cycle", "train/pseudo_identity"} <= set(second.metrics)
    # and the interrupted run equals an uninterrupted one, bit for bit (pools, stage, RNG)
    whole = train(name, overrides=[*sets, "trainer.max_batches=4"], workdir=tmp_path / "w")
    straight = read_checkpoint(whole.checkpoint)["state_dict"]
    assert all(torch.equal(straight[k], stage2[k]) for k in straight)
    # what was measured on the training data when the run started travels with the resume
    from astroi2i.workflows.model import describe

    for side in ("a", "b"):
        kept, fresh = (
            describe(second.checkpoint).two_way[side],
            describe(whole.checkpoint).two_way[side],
        )
        assert (
            kept["regrid_filter"] == fresh["regrid_filter"] and kept["regrid_filter"]["n_pairs"] > 0
        )
        assert kept["noise_sigma"] == fresh["noise_sigma"]


def test_image_pool_mixes_old_fakes_and_round_trips():
    torch.manual_seed(0)
    pool = ImagePool(3)
    first = torch.arange(3.0).view(3, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: the fakes themselves
    seen = pool.query(torch.full((40, 1, 1, 1), 9.0)).flatten()
    assert set(seen.tolist()) <= {0.0, 1.0, 2.0, 9.0} and (seen < 9).any() and (seen == 9).any()
    again = ImagePool(3)
    again.load(pool.state(), "cpu")
    assert torch.equal(torch.stack(again.images), torch.stack(pool.images))
    assert torch.equal(ImagePool(0).query(first), first)


@pytest.mark.slow
def test_domains_with_different_band_sets(tmp_path, rng):
    """Two bands in A (16²), three in B (34²): channel counts come from each domain's data;
    the generators need ``residual: false`` (a skip needs equal band counts)."""
    import numpy as np

    from astroi2i.io import write_image, write_manifest
    from astroi2i.io.image import SkyImage
    from tests.conftest import make_wcs

    rows = []
    for i, kind in enumerate(["pair", "pair", "a", "b", "pair"]):
        row = {"split": "val" if i == 4 else "train", "id": f"s{i}", "x": "", "y": ""}
        for col, (bands, size) in (("x", (("g", "r"), 16)), ("y", (("g", "r", "i"), 34))):
            if kind in ("pair", "a" if col == "x" else "b"):
                data = rng.normal(0, 1, (len(bands), size, size)).astype(np.float32)
                image = SkyImage(data, make_wcs("tan", (size, size)), "adu", bands=bands)
                write_image(image, tmp_path / f"{col}{i}.fits")
                row[col] = f"{col}{i}.fits"
        rows.append(row)
    manifest = write_manifest(rows, tmp_path / "m.csv")
    sets = [f"data.manifest={manifest}", "data.inputs=[x]", "data.targets=[y]", *TWOWAY_TINY,
            "model.g_ab.residual=false", "model.g_ba.residual=false", "trainer.max_batches=2",
            "data.streams={unpaired_a: 1, unpaired_b: 1, paired: 1}"]  # fmt: skip
    result = train("twoway/cyclegan_id", overrides=sets, workdir=tmp_path / "run")
    meta = read_checkpoint(result.checkpoint)["hyper_parameters"]["astroi2i"]
    assert meta["input_bands"] == ["g", "r"] and meta["target_bands"] == ["g", "r", "i"]
    from astroi2i.workflows.twoway import load_twoway, predict_twoway

    system, meta = load_twoway(result.checkpoint)
    out = predict_twoway(system, meta, rng.normal(0, 1, (2, 16, 16)).astype(np.float32), "b")
    assert out.shape == (3, 34, 34) and np.isfinite(out).all()
