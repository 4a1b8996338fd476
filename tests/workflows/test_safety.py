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
