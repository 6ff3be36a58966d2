"""The one lock per process under which durable-rules' C core is called.

Measured (``shared/notes/durable-rules.md``): the stock ``Host`` starts timer threads that
dispatch actions on their own — results go missing, and with several caller threads the process
segfaults inside ``Ruleset.dispatch``. So:

* :class:`QuietHost` is a ``Host`` whose ``_run`` starts nothing; it only keeps the directory
  of registered rulesets (and refuses a name twice, like durable).
* :class:`Engine` holds one lock per process; **every** durable call — create, assert,
  actions, delete_state, delete_ruleset — runs in the caller with it held, so calls never
  overlap (the notes' other measured-safe pattern; a dedicated engine thread fed by a queue
  cost a hand-off per call). Every C call holds the GIL anyway: scale with processes, not
  threads.
* :class:`SidPool` hands out session ids from a small pool checked in advance not to collide
  under durable's 32-bit FNV-1a hashing of sids (colliding sids share one session).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

import durable_rules_engine
from durable.engine import Host, Ruleset

from ruleengine.errors import EngineError

log = logging.getLogger(__name__)
T = TypeVar("T")


def fnv1a_32(text: str) -> int:
    """durable's session key: 32-bit FNV-1a of the sid's UTF-8 bytes."""
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


class SidPool:
    """A bounded pool of session ids with pairwise-distinct FNV-1a hashes.

    Used only with the engine lock held, so it needs no lock of its own. A sid whose state
    could not be deleted is quarantined rather than reused (its session might still hold a fact).
    """

    def __init__(self, size: int = 64, prefix: str = "ev"):
        taken = {fnv1a_32("0")}  # durable's default sid
        names: list[str] = []
        for i in itertools.count():
            if len(names) == size:
                break
            name = f"{prefix}{i}"
            h = fnv1a_32(name)
            if h not in taken:
                taken.add(h)
                names.append(name)
        self.names = tuple(names)
        self._free = deque(names)

    def acquire(self) -> str:
        if not self._free:
            raise EngineError("no free durable session id (all in use or quarantined)")
        return self._free.popleft()

    def release(self, sid: str) -> None:
        self._free.append(sid)

    def quarantine(self, sid: str) -> None:
        log.error("durable session %s could not be deleted; not reused", sid)

    @property
    def free(self) -> int:
        return len(self._free)


def _record(c: Any) -> None:
    """The only action a rule has: nothing. Fired rule names are read from the engine's
    action messages; no logic runs inside durable, so no exception can be swallowed there."""


class QuietHost(Host):
    """``Host`` without timer / dispatch threads; registers rulesets from our JSON text."""

    def _run(self) -> None:  # the stock Host starts two self-rescheduling timer threads here
        return None

    def get_action(self, action_name: str) -> Callable[[Any], None]:
        return _record

    def add_ruleset(self, name: str, document: str) -> int:
        """Create a durable ruleset from JSON text and return its C handle.

        Bypasses ``Ruleset.__init__``, which would re-serialise the document with
        ``json.dumps`` — whose ``1e-05`` style floats durable's parser rejects (error 204).
        """
        if name in self._ruleset_directory:
            raise EngineError(f"ruleset {name} already registered")
        ruleset = Ruleset.__new__(Ruleset)
        ruleset._actions = {}
        ruleset._name = name
        ruleset._host = self
        ruleset._definition = None
        ruleset._handle = durable_rules_engine.create_ruleset(name, document)
        self._ruleset_directory[name] = ruleset
        self._ruleset_list.append(ruleset)
        return ruleset._handle

    def remove_ruleset(self, name: str) -> None:
        ruleset = self._ruleset_directory.pop(name)
        self._ruleset_list.remove(ruleset)
        durable_rules_engine.delete_ruleset(ruleset._handle)

    def names(self) -> list[str]:
        return list(self._ruleset_directory)


_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


class Engine:
    """durable-rules for this process: a host, a sid pool and the lock every call holds.

    A call runs on the calling thread with the process's one engine lock held, so no two
    durable calls (nor two evaluations' sequences of calls) ever overlap. The C core keeps no
    per-thread state and starts no threads; what crashed it was the stock ``Host``'s timer
    threads dispatching on their own, which `QuietHost` never starts. Running in the caller
    saves the hand-off to a dedicated engine thread — a queue put, a wake-up and a wait for
    the scheduler, twice — which on a busy 2-core machine cost more than the ~0.1 ms of
    durable work (measured: `underwrite_many` p50 3.4 ms at load 7 against 0.1 ms of work)."""

    def __init__(self, sid_pool_size: int = 64):
        self.host = QuietHost()
        self.sids = SidPool(sid_pool_size)
        self._names = itertools.count(1)
        self._lock = threading.RLock()  # re-entrant: a job may call the engine again
        _ENGINES.add(self)

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` holding the engine lock and return its result (or raise)."""
        with self._lock:
            return fn(*args)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` like `call`, its errors logged rather than raised (clean-up:
        a retired ruleset's deletion must not fail the decision that released it)."""
        try:
            self.call(fn, *args)
        except Exception:
            log.exception("durable engine job failed")

    def drain(self) -> None:
        """Wait until the call in progress, if any, is done."""
        self.call(lambda: None)

    def unique_name(self, base: str) -> str:
        """A ruleset name never used before in this process (durable names are immutable)."""
        return f"{base}__{next(self._names)}"

    def registered(self) -> list[str]:
        return self.call(self.host.names)

    def close(self) -> None:
        """Nothing runs in the background: kept for callers that close what they opened."""

    def _after_fork(self) -> None:
        # a lock held by another thread at the fork would never be released in the child
        self._lock = threading.RLock()


def _reset_after_fork() -> None:
    for engine in list(_ENGINES):
        engine._after_fork()


os.register_at_fork(after_in_child=_reset_after_fork)

_default: Engine | None = None
_default_lock = threading.Lock()


def default_engine() -> Engine:
    """The process-wide engine (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Engine()
        return _default
