"""``astroi2i translate MODEL --manifest M --out-dir DIR`` (or ``MODEL IN… --out-dir DIR``):
many files through one loaded model in one process, or sharded over several.

Each output is what a single-file ``translate`` of the same inputs writes (the same code writes
it: :func:`~astroi2i.workflows.translate.write_prediction`), so the pixels are identical bit
for bit with the default ``batch_size=1``. The work is split so that nothing waits:

- a DataLoader's worker processes read and check the next files (FITS parsing is the slow part
  of a small file) while the network runs on the current one;
- the main process stretches, runs the network and writes; images larger than one tile are
  not read ahead but streamed strip by strip, exactly as a single ``translate`` does;
- ``batch_size > 1`` runs up to that many same-shape images through the network at once
  (faster on a GPU). The convolution libraries pick other kernels for other batch sizes, so
  such outputs differ from single-file ones by float32 rounding (~1e-6 relative), not more.

A run is resumable: outputs are written under a temporary name and renamed when complete, an
existing output written by the same model (its SHA-256 in HISTORY) and complete is skipped, a
truncated or unreadable one is redone, and ``overwrite`` redoes everything. A file that fails
(unreadable, wrong bands, all NaN …) is recorded with its one-line reason and the run goes on;
``failures.csv`` in the output folder lists them.
"""

from __future__ import annotations

import csv
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from astroi2i.description import ModelDescription
from astroi2i.errors import InputError
from astroi2i.io.fits_config import fits_config_fixed
from astroi2i.io.folders import require_not_an_input
from astroi2i.io.manifest import parse_cell, read_manifest
from astroi2i.workflows.batch_stream import FILE_ERRORS, progress_bar, run_read_ahead
from astroi2i.workflows.memory import keep_freed_memory
from astroi2i.workflows.model import load
from astroi2i.workflows.translate_checks import (
    check_one_way_options,
    check_tiling,
    resolve_device,
    tiling_for,
)

__all__ = ["Job", "BatchResult", "batch_translate", "jobs_from_manifest", "jobs_from_files",
           "output_is_complete", "FAILURES_NAME"]  # fmt: skip

log = logging.getLogger(__name__)

FAILURES_NAME = "failures.csv"


@dataclass(frozen=True)
class Job:
    """One output: its id, the input cells in the model's band order, and the output path."""

    key: str
    inputs: tuple[str, ...]
    output: Path


@dataclass
class BatchResult:
    """What a batch run did: counts, the failed ids with their reasons, and where."""

    out_dir: Path
    total: int = 0
    written: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    failed_inputs: dict[str, tuple] = field(default_factory=dict)
    seconds: float = 0.0
    #: this process's rank in a sharded run (only rank 0 reports)
    rank: int = 0

    def fail(self, job: Job, reason) -> None:
        self.failed[job.key] = " ".join(str(reason).split())  # one line
        self.failed_inputs[job.key] = job.inputs

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def failures_csv(self) -> Path | None:
        return self.out_dir / FAILURES_NAME if self.failed else None


# ---- the list of jobs ---------------------------------------------------------------------
def jobs_from_manifest(manifest, desc: ModelDescription, out_dir: Path, split=None) -> list[Job]:
    """One job per manifest row (of ``split``): the model's input columns, ``ID.fits``."""
    table = read_manifest(manifest)
    columns = list(desc.data.get("inputs") or [])
    if not columns:
        raise InputError(f"{desc.path}: the model's recipe names no manifest input columns")
    table.require_columns(columns)
    rows = table.rows(split)
    if split is not None and len(rows) == 0:
        splits = sorted({str(s) for s in table.table["split"]})
        raise InputError(f"{manifest}: no row has split {split!r} (splits: {', '.join(splits)})")
    jobs = []
    for row in rows:
        cells = [table.cell(row, c) for c in columns]
        inputs = tuple(f"{p}:{h}" if h is not None else str(p) for p, h in cells)
        key = str(row["id"])
        jobs.append(Job(key, inputs, out_dir / f"{_safe(key, manifest)}.fits"))
    return jobs


#: what a folder given as input contributes
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fits.fz")


def _expand(files: Sequence) -> list[str]:
    """Folders become their FITS files (sorted by name): an archive is one argument, not
    more names than the shell can pass."""
    out = []
    for cell in files:
        path = Path(str(cell))
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.name.lower().endswith(FITS_SUFFIXES))  # fmt: skip
            if not found:
                raise InputError(f"{path}: a folder with no FITS file ({', '.join(FITS_SUFFIXES)})")
            out.extend(map(str, found))
        else:
            out.append(str(cell))
    return out


def jobs_from_files(files: Sequence, out_dir: Path) -> list[Job]:
    """One job per input file (single-input models, or one cube holding every band; a folder
    stands for its FITS files): the output keeps the file's name."""
    jobs, seen = [], {}
    for cell in _expand(files):
        name = parse_cell(cell, Path("."))[0].name  # "path:HDU" names the file at path
        for suffix in (".gz", ".fz"):
            name = name.removesuffix(suffix)
        stem = name.rsplit(".", 1)[0] if "." in name else name
        if stem in seen:
            raise InputError(f"{cell}: has the output name {stem}.fits of {seen[stem]} too; "
                             "give files with distinct names, or a manifest with ids")  # fmt: skip
        seen[stem] = cell
        jobs.append(Job(stem, (str(cell),), out_dir / f"{stem}.fits"))
    return jobs


def _safe(key: str, source) -> str:
    if not key or key in (".", "..") or "/" in key or "\\" in key or "\0" in key:
        raise InputError(f"{source}: id {key!r} cannot be a file name")
    return key


# ---- resuming --------------------------------------------------------------------------
def output_is_complete(path: Path, sha256: str, extensions: Sequence[str] = ()) -> bool | None:
    """True: a complete output of the model with this SHA-256, holding the ``extensions``
    (skip it); False: truncated or unreadable (redo it); None: a complete FITS file that this
    model did not write. The HDUs are walked header by header (no pixel is read)."""
    from astropy.io import fits

    size, names, first = path.stat().st_size, set(), None
    try:
        with open(path, "rb") as f:
            while f.tell() < size:
                header = fits.Header.fromfile(f)
                first = header if first is None else first
                names.add(str(header.get("EXTNAME", "")).strip().upper())
                n = int(np.prod([header[f"NAXIS{i + 1}"] for i in range(header["NAXIS"])]))
                n = (n * abs(header["BITPIX"]) // 8 + header.get("PCOUNT", 0)) * header.get(
                    "GCOUNT", 1) if header["NAXIS"] else 0  # fmt: skip
                f.seek(f.tell() + n + (-n) % 2880)
            complete = f.tell() == size
    except Exception:  # noqa: BLE001 - any failure to parse means "not a complete output"
        return False
    if first is None or not complete:
        return False
    # a long HISTORY entry is cut across cards: join them to find the SHA-256
    history = "".join(str(c) for c in first.get("HISTORY", []))
    if f"checkpoint_sha256: {sha256}" not in history:
        return None
    return set(extensions) <= names


def _plan(jobs: list[Job], desc: ModelDescription, overwrite: bool, result: BatchResult):
    """(jobs to run, with the outputs they may replace), counting skips and conflicts."""
    todo = []
    for job in jobs:
        if overwrite or not job.output.exists():
            todo.append((job, overwrite))
            continue
        state = output_is_complete(job.output, desc.sha256, _extensions(desc))
        if state is True:
            result.skipped += 1
        elif state is False:
            log.info("%s: incomplete output, redoing it", job.output)
            todo.append((job, True))
        else:
            result.fail(job, f"{job.output}: exists and was not written by this model; pass "
                             "--overwrite to replace it")  # fmt: skip
    return todo


def _extensions(desc: ModelDescription) -> tuple[str, ...]:
    """The extensions a complete one-way output of this model has."""
    if desc.is_two_way:
        return ()
    return ("UNCERT",) * desc.has_uncertainty + ("MASK",) * desc.fills_invalid


# ---- the run -------------------------------------------------------------------------------
def batch_translate(
    model,
    *,
    inputs: Sequence = (),
    manifest=None,
    split: str | None = None,
    out_dir,
    overwrite: bool = False,
    device: str | None = None,
    devices: int = 1,
    workers: int | None = None,
    batch_size: int = 1,
    tile: int | None = None,
    overlap: int | None = None,
    align: bool = False,
    reference=None,
    calibrated: bool = True,
    sigma: bool = True,
    to: str | None = None,
    seed: int = 0,
    noise: bool = True,
    background: bool = True,
    flux_anchor: bool | None = None,
    command: str | None = None,
    progress: bool = True,
) -> BatchResult:
    """Translate many files with one model loaded once; see the module docstring.

    Parameters
    ----------
    model : path or name
        Any model form (checkpoint, export, packaged name).
    inputs : sequence of paths
        One output per file (single-input models, or cubes holding every input band).
    manifest, split
        Instead of ``inputs``: one output per manifest row (of ``split``), the inputs from
        the model's input columns, named ``ID.fits``.
    out_dir : path
        Created if missing; must not be a file.
    devices : int
        Processes to shard the files over (one per GPU, or CPU processes sharing the cores);
        see :func:`astroi2i.workflows.batch_launch.run_sharded`.
    workers : int, optional
        DataLoader worker processes reading ahead (default: none on a CPU of ≤ 4 cores,
        where they would take cores from the network; else up to 4).
    batch_size : int
        Same-shape images per network call (1: outputs bit for bit a single translate's).

    Returns
    -------
    BatchResult
        ``failed`` maps ids to one-line reasons (also in ``out_dir/failures.csv``).
    """
    options = dict(model=model, inputs=inputs, manifest=manifest, split=split,
                   out_dir=out_dir, overwrite=overwrite, workers=workers, batch_size=batch_size,
                   tile=tile, overlap=overlap, align=align, reference=reference,
                   calibrated=calibrated, sigma=sigma, to=to, seed=seed, noise=noise,
                   background=background, flux_anchor=flux_anchor, command=command,
                   progress=progress)  # fmt: skip
    from astroi2i.workflows.batch_launch import launcher, run_forked, run_sharded

    how = launcher(devices, device)
    if how == "fork":
        return run_forked(_batch_run, processes=devices, kwargs=options)
    if how == "fabric":
        return run_sharded(_batch_run, devices=devices, device=device, kwargs=options)
    return _batch_run(**options, device=device)


def _batch_run(*, model, inputs, manifest, split, out_dir, overwrite, device, workers,
               batch_size, tile, overlap, align, reference, calibrated, sigma, to, seed, noise,
               background, flux_anchor, command, progress, rank: int = 0, world: int = 1,
               record_failures: bool = True) -> BatchResult:  # fmt: skip
    """One process's share (every ``world``-th job from ``rank``) of a batch run."""
    t0 = time.perf_counter()
    out_dir = _check_options(out_dir, inputs, manifest, batch_size, workers)
    keep_freed_memory()  # large tiles without page faults (workflows/memory.py)
    device = resolve_device(device)
    network, desc = load(model, device=device, sigma=sigma)  # read once
    if not desc.is_two_way:  # refused once for the run, not file by file
        check_one_way_options(desc, model, to=None, mask=None, calibrated=calibrated,
                              background=background, flux_anchor=flux_anchor)  # fmt: skip
    jobs = (jobs_from_manifest(manifest, desc, out_dir, split) if manifest is not None
            else jobs_from_files(inputs, out_dir))  # fmt: skip
    for job in jobs:  # refused for the run, before any file is written
        require_not_an_input(job.output, job.inputs)
    result = BatchResult(out_dir, total=len(jobs))
    todo = _plan(jobs[rank::world], desc, overwrite, result)
    check_tiling(tile, overlap)
    tiling = tiling_for(desc, tile, overlap)
    check_tiling(*tiling[:2])
    out_dir.mkdir(parents=True, exist_ok=True)  # only once model, jobs and options are sound
    options = dict(tiling=tiling, device=device, command=command, calibrated=calibrated,
                   to=to, seed=seed, noise=noise, background=background,
                   flux_anchor=flux_anchor, align=align, reference=reference)  # fmt: skip
    with fits_config_fixed():  # ~1 ms a small file in astropy's configuration look-ups
        if desc.is_two_way or to is not None:
            _run_one_by_one(model, network, desc, todo, options, result, progress and rank == 0)
        else:
            workers = _default_workers(device, len(todo)) if workers is None else workers
            run_read_ahead(network, desc, todo, options, result, batch_size, max(workers, 0),
                           progress and rank == 0)  # fmt: skip
    result.seconds = time.perf_counter() - t0
    if record_failures:
        write_failures(result)
    return result


def _default_workers(device: str, n: int) -> int:
    """Reader processes: none on a CPU of ≤ 4 cores (measured on 2: a reader takes a core from
    the network, 44 → 60 ms per 256² STIX map), else up to 4, and none for a single file."""
    cores = os.cpu_count() or 1
    if n <= 1 or (str(device).startswith("cpu") and cores <= 4):
        return 0
    return min(4, cores // 4 if str(device).startswith("cpu") else cores - 1)


def _check_options(out_dir, inputs, manifest, batch_size, workers) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: --out-dir is a file, not a folder")
    if (manifest is None) == (not inputs):
        raise InputError("give either input files or --manifest, not both or neither")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"--batch-size {batch_size}: must be a whole number, at least 1")
    if workers is not None and (not isinstance(workers, int) or workers < 0):
        raise InputError(f"--workers {workers}: must be a whole number, 0 or more")
    return out_dir


def _run_one_by_one(model, network, desc, todo, options, result, progress) -> None:
    """Two-way models: each file through ``translate`` with the loaded system."""
    from astroi2i.workflows.translate import translate

    tile, overlap, _ = options["tiling"]
    with progress_bar(len(todo), progress) as bar:
        for job, replace in todo:
            try:
                translate(model, list(job.inputs), job.output, overwrite=replace,
                          loaded=(network, desc), device=options["device"],
                          command=options["command"], to=options["to"], seed=options["seed"],
                          noise=options["noise"], background=options["background"],
                          flux_anchor=options["flux_anchor"],
                          calibrated=options["calibrated"],
                          align=options["align"], reference=options["reference"],
                          tile=tile, overlap=overlap)  # fmt: skip
                result.written += 1
            except FILE_ERRORS as exc:
                result.fail(job, exc)
            bar.update()


def write_failures(result: BatchResult) -> None:
    """``failures.csv`` (id, inputs, reason) in the output folder, or none when nothing
    failed (an older one is removed: it described an earlier run)."""
    path = result.out_dir / FAILURES_NAME
    if not result.failed:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "inputs", "reason"])
        for key, reason in sorted(result.failed.items()):
            out.writerow([key, " ".join(result.failed_inputs.get(key, ())), reason])
    os.replace(tmp, path)
