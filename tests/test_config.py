import re

import pytest

from astroi2i.config import apply_overrides, load_recipe, packaged_recipes, resolve_recipe
from astroi2i.errors import InputError


@pytest.mark.parametrize("name", sorted(packaged_recipes()))
def test_packaged_recipes_resolve(name):
    from astroi2i.archs import ARCHS
    from astroi2i.registry import signature_defaults
    from astroi2i.systems import SYSTEMS

    recipe = resolve_recipe(load_recipe(name))
    assert recipe["model"]["system"]["type"] in SYSTEMS.names()
    assert recipe["trainer"]["max_batches"] > 0
    # every default is filled in: the resolved recipe says everything
    networks = [
        v for k, v in recipe["model"].items() if k != "system" and v["type"] in ARCHS.names()
    ]
    assert networks
    for network in networks:
        expected = set(signature_defaults(ARCHS.get(network["type"]))) - {
            "in_channels",
            "out_channels",
            "channels",
        }
        assert expected <= set(network)
    assert "crops_per_image" in recipe["data"]


def test_overrides_are_typed_and_checked():
    base = load_recipe("pix2pix_quickstart")
    r = resolve_recipe(
        apply_overrides(
            base, ["model.generator.depth=4", "data.batch_size=2", "stretch.inputs.softening=0.3"]
        )
    )
    assert r["model"]["generator"]["depth"] == 4 and r["data"]["batch_size"] == 2
    assert r["stretch"]["inputs"]["softening"] == 0.3
    # exponent floats without a decimal point are floats (YAML 1.1 would make them strings)
    lr = resolve_recipe(apply_overrides(base, ["model.system.lr=3e-5"]))["model"]["system"]["lr"]
    assert lr == 3e-5 and isinstance(lr, float)
    cases = {
        "model.generator.depht=4": "model.generator.depht: unknown key for UNetGenerator",
        "model.generator.depth=four": "model.generator.depth: expected int, got 'four'",
        "data.batch_size=2.5": "data.batch_size: expected int",
        "trainer.max_batchs=3": "trainer.max_batchs: unknown key",
        "data.align_target=diagonal": "data.align_target: expected",
        "data.augment=rot90": "data.augment: expected bool or 'dihedral' or 'rot180'",
        "model.generator.type=Nope": "unknown architecture 'Nope'",
        "optimizer.lr=1": "unknown section 'optimizer'",
        "model.generator.in_channels=3": "model.generator.in_channels: unknown key",
        "stretch.inputs.type=ChainStretch": "stretch.inputs.softening: unknown key for Chain",
        "stretch.targets={type: ChainStretch}": "stretch.targets: ChainStretch needs the key",
        "nonsense": "expected key=value",
        "data.batch_size=0": "data.batch_size: must be at least 1, got 0",
        "data.holes={blok: 32}": "data.holes.blok: unknown key; allowed: block, max_blocks",
        "data.holes={block: 0}": "data.holes.block: must be at least 1",
        "data.holes={block: big}": "data.holes: expected a mapping of str to int",
        "data.streams={paired: two}": "data.streams: expected a mapping of str to int",
        "trainer.max_batches=-5": "trainer.max_batches: must be at least 1",
        "inference.overlap=-4": "inference.overlap: must be at least 0",
        "inference.overlap=300": "inference.overlap: must be smaller than inference.tile",
        "model.system.lr=-1": "model.system.lr: a learning rate is ≥ 0, got -1",
        "model.system.lr=.nan": "model.system.lr: a learning rate is ≥ 0, got nan",
        "model.system.beta1=1.0": "model.system.beta1: Adam's β is in [0, 1), got 1.0",
        "model.system.beta2=-0.1": "model.system.beta2: Adam's β is in [0, 1), got -0.1",
        "data.inputs=[shallow_r,shallow_r]": "data.inputs: 'shallow_r' is named twice",
        "data.targets=[deep_r,deep_r]": "data.targets: 'deep_r' is named twice",
    }
    for override, message in cases.items():
        with pytest.raises(InputError, match=re.escape(message)):
            resolve_recipe(apply_overrides(base, [override]))
    for ok in ("model.system.lr=0.0", "model.system.beta1=0.0"):  # the bounds that are allowed
        resolve_recipe(apply_overrides(base, [ok]))


def test_missing_component_and_bad_recipe(tmp_path):
    base = load_recipe("pix2pix_quickstart")
    del base["model"]["discriminator"]
    with pytest.raises(InputError, match="model.discriminator: Pix2Pix needs this component"):
        resolve_recipe(base)
    (tmp_path / "r.yaml").write_text("data: [1, 2\n")
    with pytest.raises(InputError, match="r.yaml: not valid YAML"):
        load_recipe(str(tmp_path / "r.yaml"))
    with pytest.raises(InputError, match="no such recipe file or packaged recipe"):
        load_recipe("does_not_exist")


def test_nested_hints_are_checked_all_the_way_down():
    """A string is a Sequence but never a list of ints; dict values are checked too."""
    from collections.abc import Mapping, Sequence

    from astroi2i.registry import check_type

    for value, hint, message in [
        ("abc", Sequence[int], "expected a list of (int), got 'abc'"),
        ([1, "2"], Sequence[int], "expected a list of (int)"),
        ({"a": 1.5}, dict[str, int], "expected a mapping of str to int"),
        ({1: 1}, Mapping[str, int], "expected a mapping of str to int"),
    ]:
        with pytest.raises(InputError, match=re.escape(message)):
            check_type(value, hint, "k")
    check_type([1, 2], Sequence[int], "k")
    check_type({"a": 1}, dict[str, int], "k")


def test_a_physical_pixel_loss_is_only_for_systems_that_pass_the_scale():
    from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
    from astroi2i.errors import InputError

    recipe = load_recipe("pix2pix_quickstart")
    resolved = resolve_recipe(apply_overrides(recipe, ["model.pixel_loss.space=both"]))
    assert resolved["model"]["pixel_loss"]["space"] == "both"
    with pytest.raises(InputError, match="model.pixel_loss.space: 'physical' is for"):
        resolve_recipe(apply_overrides(load_recipe("inpaint_small"),
                                       ["model.pixel_loss.space=physical"]))  # fmt: skip
