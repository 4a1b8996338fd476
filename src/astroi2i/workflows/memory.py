"""Inference without page faults: keep the memory that large tensors free inside the process.

glibc's ``malloc`` gives every block larger than its mmap threshold (at most 32 MiB however it
adapts) its own mapping and returns it to the system when freed, so the next tensor of that
size touches fresh pages again (a page fault, a few µs, every 4 KiB). A U-Net on a 656² tile
has activations of 27–55 MB, allocated and freed dozens of times a tile: translating a 2048²
quickstart field with σ took 300,000–500,000 page faults and 3.0 s, against 5,000 and
2.0–2.3 s once freed blocks stay in the heap (``benchmarks/sigma_cost.py --translate``; the
same model without σ, whose smaller tiles stay under the threshold, took ~5,000 either way).
Raising both thresholds keeps them: the process's resident memory stays at its peak instead
of falling back between tiles, which is what the streamed translation's memory bound is
about anyway.

Only ``translate`` (one file or many) raises them, and they stay raised for the rest of the
process; training does not (a pinned threshold slowed a training step, ``docs/scale.md``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_MMAP_THRESHOLD = 512 << 20  # blocks up to this size come from the heap
_TRIM_THRESHOLD = 1 << 30  # free memory kept at the heap's top before it is returned
_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process (inference only). Returns
    whether they are raised: False off Linux or without glibc, where nothing changes."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
    return _done
