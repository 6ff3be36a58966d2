"""A nightly worker keeps its partitions' big arrays in the heap (`postloan.allocator`): a
24 MB column (a 100k-loan partition's facts) is not a fresh mapping of zeroed pages."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
if sys.argv[1] == "warm":  # what `inspection.warm` does first in every nightly worker
    from decisioning.postloan.allocator import keep_big_blocks
    assert keep_big_blocks()
column = np.ones(3_000_000)
print(libc.mallinfo2().hblkhd >= column.nbytes)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_warmed_worker_serves_big_arrays_from_the_heap():
    def mapped(how: str) -> bool:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "."}
        out = subprocess.run([sys.executable, "-c", PROBE, how], capture_output=True,
                             text=True, check=True, env=env)
        return out.stdout.strip() == "True"

    assert mapped("cold")  # glibc's default: a fresh mapping, faulted in page by page
    assert not mapped("warm")
