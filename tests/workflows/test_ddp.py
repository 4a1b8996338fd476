"""Two CPU processes over gloo (Lightning DDP): every rank must end with the same parameters."""

import json
import subprocess
import sys

import pytest

from tests.conftest import TINY_MODEL


@pytest.mark.slow
def test_two_process_ddp_ends_with_identical_replicas(survey_pair, tmp_path):
    workdir = tmp_path / "ddp"
    sets = [f"data.manifest={survey_pair}", *TINY_MODEL, "trainer.max_batches=4",
            "trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]  # fmt: skip
    cmd = [sys.executable, "-m", "astroi2i", "-q", "train", "pix2pix_quickstart",
           "--workdir", str(workdir), "--set", *sets]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    hashes = json.loads((workdir / "replica_check.json").read_text())["parameters_sha256_by_rank"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]
    assert (workdir / "checkpoints" / "last.ckpt").is_file()
