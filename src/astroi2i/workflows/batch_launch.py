"""A batch translation sharded over processes with Lightning Fabric's launcher: one process
per GPU (or CPU processes sharing the cores, over gloo), started by Fabric itself for
``devices=N``, or by torchrun/SLURM (Fabric reads their environment and starts nothing).

Rank r translates every world-th job from r and writes its own files; the ranks then gather
their counts and failures, so every rank returns the same :class:`BatchResult` and rank 0
writes ``failures.csv``. Each process runs the same code on its files as a single process
would, so the files are the same bit for bit (tested with two gloo processes)."""

from __future__ import annotations

import os

__all__ = ["run_sharded"]


def _fabric(devices: int, device: str | None):
    from lightning.fabric import Fabric

    from astroi2i.workflows.translate_checks import resolve_device

    accelerator = "cpu" if resolve_device(device).startswith("cpu") else "cuda"
    world = int(os.environ.get("WORLD_SIZE", "1"))
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
    result = run(**kwargs, device=device, rank=rank, world=world, record_failures=False)
    parts = [None] * world
    dist.all_gather_object(parts, result)
    merged = parts[0]
    for part in parts[1:]:
        merged.written += part.written
        merged.skipped += part.skipped
        merged.failed.update(part.failed)
        merged.failed_inputs.update(part.failed_inputs)
        merged.seconds = max(merged.seconds, part.seconds)
    merged.rank = rank
    if rank == 0:
        from astroi2i.workflows.batch_translate import write_failures

        write_failures(merged)
    dist.barrier()
    return merged
