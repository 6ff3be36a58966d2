"""How many of a process's request threads a ``?wait=`` long-poll may hold.

A long-poll holds its thread for as long as the decision takes (a PBOC pull alone is about a
second), and a threaded WSGI server has a fixed number of threads: with every thread waiting,
a dealer's next page or a reviewer's click queues behind the decisions. So at most ``size``
requests of a process wait at once — the server's threads less `RESERVED` — and a request
that finds every slot taken is answered at once, still undecided, with ``Retry-After``:
the client polls again instead of taking the last threads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app

EXTENSION = "chedaitong.longpoll"
#: threads of a process never held by a long-poll: the other endpoints' share
RESERVED = 2
#: slots where the server's thread count is not known (the development server starts a
#: thread per request; the test client serves one at a time)
DEFAULT_SLOTS = 32
#: seconds a client is told to wait before it asks again, on an undecided answer
RETRY_AFTER_S = 1


class WaitSlots:
    """A counting semaphore over the process's long-polls; never blocks to take a slot."""

    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._free = threading.BoundedSemaphore(self.size) if self.size else None

    @contextmanager
    def granted(self, seconds: float) -> Iterator[float]:
        """The seconds this request may wait: ``seconds`` with a slot, 0 without one."""
        got = seconds > 0 and self._free is not None and self._free.acquire(blocking=False)
        try:
            yield seconds if got else 0.0
        finally:
            if got:
                self._free.release()


def init_app(app: Flask, threads: int | None = None) -> None:
    """Slots for a server of ``threads`` request threads per process (`RESERVED` fewer), or
    `DEFAULT_SLOTS` when the server does not say (gunicorn's hook does: `webapp.gunicorn_conf`)."""
    app.extensions[EXTENSION] = WaitSlots(DEFAULT_SLOTS if threads is None
                                          else threads - RESERVED)


def slots() -> WaitSlots:
    return current_app.extensions[EXTENSION]


def retry_after() -> dict[str, str]:
    """The header of an answer that is still undecided."""
    return {"Retry-After": str(RETRY_AFTER_S)}
