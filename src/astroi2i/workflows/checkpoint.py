"""Self-describing checkpoints: what a Lightning checkpoint must carry for ``translate`` to need
nothing else, and how it is read back without executing code from the file."""

from __future__ import annotations

import os
import pickle
import platform
import zipfile
from importlib import metadata
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from astroi2i.errors import InputError

__all__ = [
    "MetadataCallback",
    "AtomicCheckpointIO",
    "read_checkpoint",
    "remove_stale_temporaries",
    "package_versions",
    "META_KEY",
]

#: key under the checkpoint's ``hyper_parameters`` that holds astroi2i's metadata
META_KEY = "astroi2i"


def package_versions() -> dict[str, str]:
    """Versions of astroi2i and the libraries a result depends on."""
    from astroi2i import __version__

    versions = {"astroi2i": __version__, "python": platform.python_version()}
    for name in ("torch", "lightning", "numpy", "astropy", "reproject"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


class MetadataCallback(L.Callback):
    """Puts the model description (resolved recipe, fitted stretches, band names/units,
    versions) into every checkpoint Lightning writes
    (``checkpoint["hyper_parameters"]["astroi2i"]``)."""

    def __init__(self, description) -> None:
        self.meta = description.replace(versions=package_versions()).to_dict()

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint.setdefault("hyper_parameters", {})[META_KEY] = self.meta


class FinalCheckpoint(L.Callback):
    """Saves ``path`` (``last.ckpt``) after the run's last training batch, from inside the
    loop: ``last.ckpt`` then holds the final weights even when the run did not end on a
    checkpoint step, and its loop state is the one periodic checkpoints have. (A checkpoint
    saved after ``fit`` returns marks the epoch as finished while the data position still
    points at its end; resuming such a file at an epoch boundary replayed batches in the
    wrong epoch.)"""

    def __init__(self, path) -> None:
        self.path = Path(path)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
            trainer.save_checkpoint(self.path)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a half-written file: the checkpoint goes to a
    temporary file in the same folder, is flushed to disk, then renamed over the target (an
    atomic operation on POSIX). It also refuses to write non-finite weights."""

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        bad = [
            k
            for k, v in checkpoint.get("state_dict", {}).items()
            if torch.is_tensor(v) and v.is_floating_point() and not torch.isfinite(v).all()
        ]
        if bad:
            raise RuntimeError(f"refusing to write {path}: non-finite weights in {bad[:3]}")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


def remove_stale_temporaries(folder) -> list[Path]:
    """Remove the ``.NAME.PID.tmp`` files that a killed writer left in ``folder`` (those of
    processes no longer running); returns what was removed."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
        except (ValueError, IndexError):
            continue
        if pid != os.getpid() and not _alive(pid):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_checkpoint(path, *, mmap: bool = False) -> dict:
    """Read a checkpoint with ``weights_only=True``: tensors and plain containers only, so a file
    carrying a pickled code payload is refused instead of run. ``mmap`` maps the tensors
    instead of reading them (they are read when used)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        if not zipfile.is_zipfile(path):
            raise InputError(f"{path}: not a readable checkpoint (not a PyTorch file)") from None
        raise InputError(
            f"{path}: refused to load: it holds objects other than tensors and plain containers, "
            "and unpickling them could run code"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or META_KEY not in ckpt.get("hyper_parameters", {}):
        raise InputError(f"{path}: not an astroi2i checkpoint (no '{META_KEY}' metadata)")
    return ckpt
