"""Training from the disk cache is the same run as training from memory."""

import pytest
import torch

from tests.conftest import TINY_MODEL


@pytest.mark.slow
def test_training_from_the_disk_cache_gives_the_in_memory_weights(survey_pair, tmp_path):
    from astroi2i.workflows.train import train

    common = [f"data.manifest={survey_pair}", "trainer.max_batches=3", "trainer.deterministic=true",
              "trainer.loggers=[csv]", "trainer.panels=false", *TINY_MODEL]  # fmt: skip
    memory = train("pix2pix_quickstart", overrides=common, workdir=tmp_path / "m")
    cache = tmp_path / "cache"
    disk = train("pix2pix_quickstart", overrides=[*common, "data.cache=disk",
                 f"data.cache_dir={cache}"], workdir=tmp_path / "d")  # fmt: skip
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["train", "val"]
    a = torch.load(memory.checkpoint, weights_only=True)["state_dict"]
    b = torch.load(disk.checkpoint, weights_only=True)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
