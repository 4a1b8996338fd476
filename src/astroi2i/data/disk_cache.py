"""Training samples cached on disk, for data sets larger than memory (``data.cache: disk``).

The stretched arrays of every sample (inputs, target, mask — exactly what
:class:`~astroi2i.data.datasets.PairedDataset` holds in memory) are written once, one after the
other, into shard files of at most ``shard_bytes``, plus an ``index.json`` naming each array's
shard, byte offset, shape and dtype. The format is plain raw little-endian arrays: any numpy
reads it, it needs no extra dependency, and a crop touches only the rows it needs.

Reading: a crop reads the rows it needs, one ``preadv`` per band, into a fresh array (other
index patterns map the array's bytes, copy the slice and unmap again). Nothing stays mapped, so
the pages read do not stay in the process's resident memory (a long-lived ``np.memmap`` over
20 GB would count every page ever touched in its RSS); the operating system's page cache still
makes repeated reads fast.

A cache is valid for one ``fingerprint`` (the manifest rows, stretches, baseline and options
that made it). It is built under a temporary name and renamed into place when complete, so a
killed build leaves no cache that looks whole, and several processes (DDP ranks) building the
same cache end with one.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["DiskArray", "build_cache", "open_cache", "INDEX_NAME"]

INDEX_NAME = "index.json"
_ALIGN = 64  # bytes: every array starts on a cache line


_FDS: dict[tuple, int] = {}


def _shard_fd(path: str) -> int:
    """A read-only descriptor of a shard, opened once per process and file (``preadv`` needs
    no file position; the inode in the key means a cache rebuilt under the same name is
    opened afresh, never read through a descriptor of the old file)."""
    key = (os.getpid(), path, os.stat(path).st_ino)
    if key not in _FDS:
        for old in [k for k in _FDS if k[:2] == key[:2]]:
            os.close(_FDS.pop(old))
        _FDS[key] = os.open(path, os.O_RDONLY)
    return _FDS[key]


class DiskArray:
    """One cached array: ``shape`` without reading; ``array[index]`` reads only that slice
    (a new ndarray)."""

    __slots__ = ("path", "offset", "shape", "dtype")

    def __init__(self, path, offset: int, shape, dtype) -> None:
        self.path, self.offset = str(path), int(offset)
        self.shape, self.dtype = tuple(int(n) for n in shape), np.dtype(dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, index) -> np.ndarray:
        full = (index if isinstance(index, tuple) else (index,)) + (slice(None),) * self.ndim
        full = full[: self.ndim]
        if self.ndim in (2, 3) and all(isinstance(i, slice) and i.step in (None, 1) for i in full):
            return self._rows(full)
        mapped = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset,
                           shape=self.shape)  # fmt: skip
        out = np.array(mapped[index])
        del mapped  # the last reference: unmapped now, its pages leave this process's RSS
        return out

    def _rows(self, full: tuple) -> np.ndarray:
        """A block of whole rows per leading index, read with one ``preadv`` each (no memory
        map to set up), then the columns cut from it."""
        *lead, rows, cols = full
        height, width = self.shape[-2:]
        r0, r1, _ = rows.indices(height)
        c0, c1, _ = lead[0].indices(self.shape[0]) if lead else (0, 1, 1)
        out = np.empty((max(c1 - c0, 0), max(r1 - r0, 0), width), self.dtype)
        row_bytes = width * self.dtype.itemsize
        fd = _shard_fd(self.path)
        for k, c in enumerate(range(c0, c1)):
            start = self.offset + (c * height + r0) * row_bytes
            if out[k].nbytes and os.preadv(fd, [memoryview(out[k]).cast("B")], start) != \
                    out[k].nbytes:  # fmt: skip
                raise OSError(f"{self.path}: cache shard shorter than its index says")
        out = out[:, :, cols]
        return out if lead else out[0]


class _ShardWriter:
    def __init__(self, folder: Path, shard_bytes: int) -> None:
        self.folder, self.shard_bytes = folder, shard_bytes
        self.number, self.file, self.size = -1, None, 0

    def write(self, array: np.ndarray) -> list:
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        if self.file is None or self.size + array.nbytes > self.shard_bytes and self.size:
            self._next()
        offset = self.size
        self.file.write(array.tobytes())
        self.size += array.nbytes
        pad = (-self.size) % _ALIGN
        self.file.write(b"\0" * pad)
        self.size += pad
        return [self.number, offset, list(array.shape), array.dtype.str]

    def _next(self) -> None:
        self.close()
        self.number += 1
        self.file = open(self.folder / f"shard-{self.number:05d}.bin", "wb")  # noqa: SIM115
        self.size = 0

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


def build_cache(samples: Iterable, folder, fingerprint: str, *, shard_bytes: int = 1 << 30):
    """Write ``(key, x, y or None, mask)`` samples into ``folder`` and return them as
    :func:`open_cache` does. Only one sample is in memory at a time."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    writer, entries = _ShardWriter(tmp, shard_bytes), []
    try:
        for key, x, y, mask in samples:
            entry = {"key": str(key), "x": writer.write(x), "mask": writer.write(mask)}
            entry["y"] = None if y is None else writer.write(y)
            entries.append(entry)
        writer.close()
        index = {"format": 1, "fingerprint": fingerprint, "samples": entries}
        (tmp / INDEX_NAME).write_text(json.dumps(index))
        if folder.exists():  # an older cache of other data, or another rank's of the same
            old = open_cache(folder, fingerprint)
            if old is not None:
                shutil.rmtree(tmp)
                return old
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        writer.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return open_cache(folder, fingerprint)


def open_cache(folder, fingerprint: str):
    """``[(key, x, y or None, mask)]`` of :class:`DiskArray` s, or None when ``folder`` holds
    no complete cache with this fingerprint."""
    folder = Path(folder)
    try:
        index = json.loads((folder / INDEX_NAME).read_text())
    except (OSError, ValueError):
        return None
    if index.get("format") != 1 or index.get("fingerprint") != fingerprint:
        return None

    def array(spec):
        if spec is None:
            return None
        shard, offset, shape, dtype = spec
        return DiskArray(folder / f"shard-{shard:05d}.bin", offset, shape, dtype)

    return [(e["key"], array(e["x"]), array(e["y"]), array(e["mask"])) for e in index["samples"]]
