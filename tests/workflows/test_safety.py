"""Checkpoints are read without executing code from them."""

import pytest
import torch

from astroi2i.cli.main import main
from astroi2i.errors import InputError
from astroi2i.workflows.model import load_model


class Payload:
    """Unpickling this object calls ``open(marker, "w")``: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.slow
def test_pickle_payload_is_refused_and_never_runs(tiny_checkpoint, tmp_path, capsys):
    marker = tmp_path / "code_ran"
    ckpt = torch.load(tiny_checkpoint.checkpoint, weights_only=True)
    ckpt["hyper_parameters"]["astroi2i"]["evil"] = Payload(marker)
    crafted = tmp_path / "crafted.ckpt"
    torch.save(ckpt, crafted)
    with pytest.raises(InputError, match="refused to load"):
        load_model(crafted)
    assert not marker.exists()
    code = main(["translate", str(crafted), "a.fits", "b.fits", "-o", str(tmp_path / "o.fits")])
    assert code == 2 and "refused to load" in capsys.readouterr().err
    assert not marker.exists()


def test_atomic_checkpoint_io_leaves_no_partial_file(tmp_path):
    from astroi2i.workflows.checkpoint import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}}, target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="non-finite weights"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("nan")])}}, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.slow
def test_temporaries_of_killed_writers_are_removed_on_the_next_start(survey_pair, tmp_path):
    """A kill during a checkpoint write leaves ``.last.ckpt.PID.tmp``; the next run into the
    folder removes it (and nothing a live process may still be writing)."""
    import os
    import subprocess
    import sys

    from astroi2i.workflows.train import train
    from tests.conftest import TINY_MODEL

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    overrides = [f"data.manifest={survey_pair}", "trainer.max_batches=2", *TINY_MODEL]
    train("pix2pix_quickstart", overrides=overrides, workdir=tmp_path / "run")
    folder = tmp_path / "run" / "checkpoints"
    stale, live = folder / f".last.ckpt.{dead}.tmp", folder / f".x.ckpt.{os.getppid()}.tmp"
    stale.write_bytes(b"half a checkpoint")
    live.write_bytes(b"being written")
    overrides[1] = "trainer.max_batches=4"
    train("pix2pix_quickstart", overrides=overrides, workdir=tmp_path / "run", resume="last")
    assert not stale.exists() and live.exists()
