"""Keep a nightly worker's big arrays in the heap instead of handing them back to the OS.

glibc serves blocks above its mmap threshold (dynamic, at most 32 MiB) with fresh mappings and
unmaps them on free, so every partition's arrays of millions of rows fault in new zeroed pages
again: on a 100k-loan night partition that was 0.2 s of system time and as much user time
(caches refilled) out of ~2.3 s of CPU. Fixing the thresholds keeps those blocks for reuse:
CPU per partition ~11 % lower in two measured pairs, at the cost of up to `TRIM_THRESHOLD` of
freed memory kept by the process. Linux/glibc only; an operator's own ``MALLOC_*`` settings win.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's largest (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 256 << 20


@functools.cache
def keep_big_blocks() -> bool:
    """Set the thresholds once per process; True when glibc took them."""
    if not sys.platform.startswith("linux") or any(
            k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt  # (musl has neither the name nor mallopt)
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
