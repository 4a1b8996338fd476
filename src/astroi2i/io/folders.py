"""Output folders: one rule for every workflow that writes a folder of results."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from astroi2i.errors import InputError

__all__ = ["require_empty_folder", "write_atomic", "require_not_an_input", "require_new_output"]


@functools.cache
def _umask() -> int:
    """The process's umask, read once (reading it means setting it, briefly)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it into place: the
    file at ``path`` is the old one or the complete new one, never a partial one. It gets the
    permissions a plain ``open`` would give (0666 less the umask), also where ``write`` made
    it private (safetensors writes 0600)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def require_empty_folder(
    path, *, overwrite: bool, what: str = "", hint: str = "pass --overwrite"
) -> Path:
    """Refuse a non-empty output folder unless ``overwrite``: never mix a new result with an
    old one. Raises InputError ``"<path>: <what>exists and is not empty; <hint>"``."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise InputError(f"{path}: {what}exists and is not empty; {hint}")
    return path


def require_not_an_input(output, inputs) -> None:
    """Refuse an output file that is one of the inputs (``path`` or ``path:HDU``), even with
    --overwrite: the prediction would replace the data it was made from, and a rerun would
    translate the prediction again."""
    output = Path(output)
    if not output.exists():
        return
    for given in inputs:
        path = Path(str(given))
        if not path.exists():
            head, sep, _ = str(given).rpartition(":")
            path = Path(head) if sep and head else path
        if path.exists() and os.path.samefile(path, output):
            raise InputError(f"{output}: is also an input ({given}); write the output elsewhere, "
                             "so the data it is made from stay as they are")  # fmt: skip


def require_new_output(output, inputs, *, overwrite: bool) -> None:
    """An output file may be written: it is none of the inputs, and it does not exist unless
    ``overwrite``."""
    require_not_an_input(output, inputs)
    if Path(output).exists() and not overwrite:
        raise FileExistsError(f"{output}: exists; pass --overwrite to replace it")
