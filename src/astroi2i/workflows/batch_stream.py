"""The single-model loop of a batch translation: DataLoader workers read the next files and
build their output headers while the main process runs the network and writes; same-shape
images may share one forward pass (``batch_size > 1``). See
:mod:`astroi2i.workflows.batch_translate`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.workflows.translate import open_inputs, output_layout, write_prediction

__all__ = ["run_read_ahead", "progress_bar", "FILE_ERRORS"]

#: errors that mean "this file cannot be translated" (recorded, the run goes on); anything
#: else is a bug and stops the run
FILE_ERRORS = (InputError, FileNotFoundError, FileExistsError, IsADirectoryError, OSError,
               ValueError)  # fmt: skip


# ---- reading ahead ------------------------------------------------------------------------
class _Prepared(NamedTuple):
    """One image read ahead: its opened inputs (``(rows, first, exposure, shape)``) and the
    output file's headers (building them is a good part of a small file's cost)."""

    opened: tuple
    layout: list


class _Reader:
    """A map-style dataset over jobs: each item is ``(index, _Prepared | "stream" | failure
    text)``. Runs in DataLoader workers: it reads and builds headers, it runs no network."""

    def __init__(self, jobs, desc: ModelDescription, tile: int, options: dict) -> None:
        self.jobs, self.desc, self.tile = jobs, desc, tile
        self.align, self.reference = options["align"], options["reference"]
        self.command, self.calibrated = options["command"], options["calibrated"]

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, index: int):
        job = self.jobs[index][0]
        try:
            opened = open_inputs(job.inputs, self.desc, align=self.align,
                                 reference=self.reference, max_side=self.tile)  # fmt: skip
            if opened is None:
                return index, "stream"
            _, first, _, shape = opened
            layout = output_layout(self.desc, first, shape, list(job.inputs), self.command,
                                   self.calibrated)  # fmt: skip
        except FILE_ERRORS as exc:
            return index, " ".join(str(exc).split())
        return index, _Prepared(opened, layout)


def _first(batch):
    return batch[0]


def _loader(reader: _Reader, workers: int):
    from torch.utils.data import DataLoader

    return DataLoader(reader, batch_size=1, shuffle=False, num_workers=workers,
                      collate_fn=_first, prefetch_factor=4 if workers else None,
                      persistent_workers=False)  # fmt: skip


def run_read_ahead(network, desc, todo, options, result, batch_size, workers, progress):
    """Read ahead in workers, run the network (in same-shape batches), write in order."""
    tile = -(-options["tiling"][0] // max(desc.stride, 1)) * max(desc.stride, 1)
    reader = _Reader(todo, desc, tile, options)
    pending: list[tuple] = []  # (job, replace, _Prepared) of one shape, waiting for a batch
    with progress_bar(len(todo), progress) as bar:
        for index, item in _loader(reader, workers):
            job, replace = todo[index]
            if isinstance(item, str) and item != "stream":
                result.fail(job, item)
                bar.update()
                continue
            shape = None if item == "stream" else item.opened[3]
            if pending and shape != pending[0][2].opened[3]:
                _flush(network, desc, pending, options, result, bar)
            if item == "stream":
                _write_one(network, desc, job, replace, None, options, result)
                bar.update()
                continue
            pending.append((job, replace, item))
            if len(pending) == batch_size:
                _flush(network, desc, pending, options, result, bar)
        _flush(network, desc, pending, options, result, bar)


def _write_one(network, desc, job, replace, prepared, options, result, network_rows=None):
    from astroi2i.workflows.translate import _predict_to_file

    tile, overlap, margin = options["tiling"]
    common = dict(tile=tile, overlap=overlap, margin=margin, overwrite=replace,
                  device=options["device"], command=options["command"],
                  calibrated=options["calibrated"])  # fmt: skip
    try:
        if prepared is None:  # larger than a tile: streamed from the files
            _predict_to_file(network, desc, list(job.inputs), job.output, align=False,
                             reference=None, mask=None, **common)  # fmt: skip
        else:
            write_prediction(network, desc, prepared.opened, list(job.inputs), job.output,
                             network_rows=network_rows, layout=prepared.layout,
                             **common)  # fmt: skip
        result.written += 1
    except FILE_ERRORS as exc:
        result.fail(job, exc)


def _flush(network, desc, pending, options, result, bar) -> None:
    """Write the pending images: one by one, or, for several, from one batched forward."""
    if len(pending) == 1:
        job, replace, prepared = pending[0]
        _write_one(network, desc, job, replace, prepared, options, result)
    elif pending:
        outputs = _batched(network, desc, pending, options)
        for (job, replace, prepared), (x, y) in zip(pending, outputs):
            _write_one(_Cached(y), desc, job, replace, prepared, options, result,
                       network_rows=_Fixed(x))  # fmt: skip
    bar.update(len(pending))
    pending.clear()


class _Fixed:
    """The stretched, padded network input already computed for an image (one tile)."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __call__(self, y0: int, y1: int) -> np.ndarray:
        return self.x


class _Cached:
    """A 'network' that returns one image's slice of a batched forward pass."""

    def __init__(self, y) -> None:
        self.y = y

    def __call__(self, chunk):
        if tuple(chunk.shape[-2:]) != tuple(self.y.shape[-2:]) or chunk.shape[0] != 1:
            raise AssertionError("batched output used for another tile")  # an internal bug
        return self.y[None]


def _batched(network, desc, pending, options) -> list[tuple]:
    """Stretched inputs of same-shape one-tile images → one forward pass → per image
    (padded input, output). Padding is what ``predict_streaming`` does for one tile."""
    import torch

    from astroi2i.data.stretches import build_stretch
    from astroi2i.data.tiling import pad_to_multiple
    from astroi2i.workflows.translate import _InputStrips

    stretch = build_stretch(desc.stretches["inputs"])
    xs = []
    for job, _, prepared in pending:
        rows, _, exposure, shape = prepared.opened
        strips = _InputStrips(rows, desc, stretch, exposure, job.inputs[0], None)
        xs.append(pad_to_multiple(strips.network_rows(0, shape[0]), max(desc.stride, 1))[0])
    with torch.no_grad():
        batch = torch.from_numpy(np.stack(xs)).to(options["device"])
        out = network(batch).float().cpu()
    return [(x, out[i]) for i, x in enumerate(xs)]


def progress_bar(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="file", disable=not enabled or total == 0, dynamic_ncols=True,
                smoothing=0.05, desc="translate")  # fmt: skip
