"""Freed memory kept in the process, so that large tensors reuse pages instead of faulting in fresh ones (glibc).

glibc's ``malloc`` serves a block above its mmap threshold (128 KiB, raised as blocks are freed, never above
32 MiB) with a fresh ``mmap`` and unmaps it on ``free``: every page of the next such block faults in on first touch.
SuperPoint's full-resolution activations (64 channels at 480x640: 79 MB) are always above it, so in PyTorch each
forward pays for faulting in hundreds of megabytes. With both thresholds at 1 GiB, freed blocks stay in the heap
and are reused: on 2 cores of an Intel Xeon, SuperPoint at 480x640 took 195-209 instead of 275-299 ms and labelling
at N = 100 a fifth less time, for about 110 MB more resident memory; the students (smaller activations) and training
did not move (``docs/benchmarks.md``, "Freed memory kept in the process"). ONNX Runtime keeps an arena of its own.

The command line sets it at start, unless the environment sets the allocator (``GLIBC_TUNABLES=`` even empty leaves
glibc as it comes); a program using the API can call :func:`keep_freed_memory`, or set ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment before Python starts.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
KEPT = 1 << 30  # blocks up to 1 GiB come from the heap, and the heap keeps up to 1 GiB of free memory at its top
OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds to 1 GiB for this process. Returns whether both took; False (and
    nothing changed) off Linux, without glibc's ``mallopt``, or when the environment sets the allocator already
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``: the user's choice stands)."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in OWN_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_THRESHOLD, KEPT) == 1 and mallopt(M_TRIM_THRESHOLD, KEPT) == 1
