"""Test-only: make a `postloan run` process signal itself after N committed chunks.

Imported by the subprocess a test starts (``python -c "import tests.servicing_db.chunk_hook;
…"``) with ``POSTLOAN_TEST_SIGNAL=<chunks>:<signal number>``; production code knows nothing of
it. The progress callback runs right after a chunk's commit, so the signal lands between chunks
(SIGKILL: a crash there; SIGTERM: the job's own stop-after-this-chunk path).
"""

from __future__ import annotations

import os
import signal

from decisioning.postloan import run as job

_real_close_day = job.close_day


def _close_day(*args, progress=None, **kwargs):
    chunks, _, signum = os.environ["POSTLOAN_TEST_SIGNAL"].partition(":")
    seen = 0

    def hooked(done: int, total: int) -> None:
        nonlocal seen
        if progress:
            progress(done, total)
        seen += 1
        if seen == int(chunks):
            os.kill(os.getpid(), int(signum or signal.SIGKILL))

    return _real_close_day(*args, progress=hooked, **kwargs)


job.close_day = _close_day
