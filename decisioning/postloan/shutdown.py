"""SIGTERM/SIGINT as a request to stop at the next chunk boundary, not mid-transaction.

`stop_on_signals()` installs handlers that only record the signal; the job calls `check()`
after each committed chunk (and between days), which raises `Interrupted`. The run is then
marked ``interrupted``, the lock released and the CLI exits 128 + the signal number (143 for
SIGTERM, 130 for SIGINT), as a shell reports a process ended by that signal. A second SIGINT
gets Python's default behaviour back (KeyboardInterrupt) for an impatient operator.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

_requested: int | None = None


class Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum: int, frame: object) -> None:
    global _requested
    _requested = signum
    if signum == signal.SIGINT:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Record SIGTERM/SIGINT for `check` while the block runs (main thread only)."""
    global _requested
    _requested = None
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def requested() -> int | None:
    return _requested


def check() -> None:
    """Raise `Interrupted` if a stop was requested (call only between committed units)."""
    if _requested is not None:
        raise Interrupted(_requested)
