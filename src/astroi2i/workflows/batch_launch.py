"""A batch translation sharded over processes: one process per GPU with Lightning Fabric's
launcher, started by Fabric itself for ``devices=N``, or by torchrun/SLURM (Fabric reads their
environment and starts nothing); CPU processes on one machine are forked from this one
(:func:`run_forked`).

Rank r translates every world-th job from r and writes its own files; the ranks then gather
their counts and failures, so every rank returns the same :class:`BatchResult` and rank 0
writes ``failures.csv``. Each process runs the same code on its files as a single process
would, so the files are the same bit for bit (tested with two gloo processes)."""

from __future__ import annotations

import os
import queue as queue_module

__all__ = ["launcher", "launched_world", "run_sharded", "run_forked"]


def launched_world() -> int:
    """Processes started for us by torchrun or SLURM (1 when run on its own)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def launcher(devices: int, device: str | None) -> str | None:
    """How a batch run of ``devices`` processes starts: None (this process alone), "fork"
    (CPU processes forked from this one, on Linux, when no launcher started us) or "fabric"
    (Fabric's launcher: GPUs, or the processes torchrun/SLURM started)."""
    import sys

    from astroi2i.workflows.translate_checks import resolve_device

    world = launched_world()
    if devices <= 1 and world <= 1:
        return None
    if world <= 1 and sys.platform == "linux" and resolve_device(device).startswith("cpu"):
        return "fork"
    return "fabric"


def run_forked(run, *, processes: int, kwargs: dict):
    """``run(**kwargs, device="cpu", rank=r, world=processes)`` in ``processes`` processes
    forked from this one, the cores split between them; the merged result.

    Forked, not launched: Fabric's launcher starts each CPU process as a new interpreter that
    imports torch and Lightning again and joins a gloo group, ~12 s before the first file on
    this project's 2-core machine (measured: 1,000 STIX maps in 23 s of work, 35.5 s of wall
    time), which for an archive run on one machine buys nothing: the processes share no
    tensors, only their counts at the end, which come back through a queue."""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    threads = max(1, (os.cpu_count() or 1) // processes)
    queue = ctx.Queue()
    children = [ctx.Process(target=_forked_rank,
                            args=(run, kwargs, r, processes, threads, queue))
                for r in range(processes)]  # fmt: skip
    for child in children:
        child.start()
    parts, error, reported = {}, None, set()
    while len(reported) < processes:
        try:
            rank, outcome = queue.get(timeout=1.0)
        except queue_module.Empty:  # a process killed (out of memory, a signal) never reports
            dead = [(r, c.exitcode) for r, c in enumerate(children)
                    if r not in reported and c.exitcode is not None]  # fmt: skip
            if dead and _settled(queue):
                for child in children:
                    child.kill()
                from astroi2i.errors import ProcessDied

                rank, code = dead[0]
                raise ProcessDied(f"translation process {rank} of {processes} ended without a "
                                  f"result (exit code {code}); outputs written so far are "
                                  "complete, and a rerun skips them") from None  # fmt: skip
            continue
        reported.add(rank)
        if isinstance(outcome, BaseException):
            error = error or outcome
        else:
            parts[rank] = outcome
    for child in children:
        child.join()
    if error is not None:
        raise error
    return _merge([parts[r] for r in range(processes)], rank=0)


def _settled(queue) -> bool:
    """No result is still on its way (a process that reported and then exited is not dead)."""
    import time

    time.sleep(0.2)
    return queue.empty()


def _forked_rank(run, kwargs, rank, world, threads, queue) -> None:
    import torch

    torch.set_num_threads(threads)
    try:
        result = run(**kwargs, device="cpu", rank=rank, world=world, record_failures=False)
    except BaseException as exc:  # noqa: BLE001 - handed to the parent, which raises it
        queue.put((rank, exc))
        return
    queue.put((rank, result))


def _merge(parts, *, rank: int):
    """One result from every rank's: counts summed, failures joined, the longest time; the
    failure list written (once: by rank 0 or the forking parent)."""
    from astroi2i.workflows.batch_translate import write_failures

    merged = parts[0]
    for part in parts[1:]:
        merged.written += part.written
        merged.skipped += part.skipped
        merged.failed.update(part.failed)
        merged.failed_inputs.update(part.failed_inputs)
        merged.seconds = max(merged.seconds, part.seconds)
    merged.rank = rank
    if rank == 0:
        write_failures(merged)
    return merged


def _fabric(devices: int, device: str | None):
    from lightning.fabric import Fabric

    from astroi2i.workflows.translate_checks import resolve_device

    accelerator = "cpu" if resolve_device(device).startswith("cpu") else "cuda"
    world = launched_world()
    if world > 1 and devices <= 1:  # started by torchrun/SLURM: take their layout
        local = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("SLURM_NTASKS_PER_NODE",
                                                                      world)))  # fmt: skip
        devices, nodes = local, max(world // max(local, 1), 1)
    else:
        nodes = 1
    fabric = Fabric(accelerator=accelerator, devices=devices, num_nodes=nodes, strategy="ddp")
    return fabric, accelerator, nodes


def run_sharded(run, *, devices: int, device: str | None, kwargs: dict):
    """``run(**kwargs, device=…, rank=r, world=n)`` on every process; the gathered result."""
    import torch
    import torch.distributed as dist

    fabric, accelerator, nodes = _fabric(devices, device)
    fabric.launch()
    rank, world = fabric.global_rank, fabric.world_size
    if accelerator == "cpu":  # the cores are shared between the processes on a node
        local = max(fabric.world_size // nodes, 1)
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local))
        device = "cpu"
    else:
        device = f"cuda:{fabric.local_rank}"
    try:
        result = run(**kwargs, device=device, rank=rank, world=world, record_failures=False)
        parts = [None] * world
        dist.all_gather_object(parts, result)
        merged = _merge(parts, rank=rank)
        dist.barrier()
    finally:  # gloo's threads left to the interpreter's exit can abort it (SIGABRT)
        if dist.is_initialized():
            dist.destroy_process_group()
    return merged
