"""The "decided" signal a ``?wait=`` long-poll blocks on, instead of reading the database in a
loop: the worker that commits a decision announces the application's id (Redis pub/sub on the
queue's Redis, and always to this process's own waiters), and each waiting request wakes on it
and reads the state once.

A signal is a hint, never the truth: a message can be lost (published while a listener was
reconnecting, a Redis outage) and the decider may be another process without Redis (several
web processes on the embedded queue). So a waiter also re-reads the state every
`recheck_s` seconds — `RECHECK_LIVE_S` while this process is subscribed, `RECHECK_LOCAL_S`
otherwise — and a lost message costs at most that much latency, never a wrong answer.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

log = logging.getLogger(__name__)

#: re-read the state this often while subscribed (a lost message costs at most this)
RECHECK_LIVE_S = 1.0
#: ... and without a subscription (no Redis, or reconnecting): the decider may be elsewhere
RECHECK_LOCAL_S = 0.25


class DecidedSignal:
    """Waiters by application id, woken by `notify` here or, with ``redis``, in any process
    publishing on ``channel``. The listener thread starts with the first waiter."""

    def __init__(self, redis: Any = None, channel: str = "chedaitong:decided"):
        self._redis = redis
        self.channel = channel
        self._lock = threading.Lock()
        self._waiters: dict[int, set[threading.Event]] = {}
        self._listener: threading.Thread | None = None
        self._live = threading.Event()
        self._stopping = threading.Event()

    @property
    def recheck_s(self) -> float:
        return RECHECK_LIVE_S if self._live.is_set() else RECHECK_LOCAL_S

    def notify(self, application_id: int) -> None:
        """The application's decision is committed: wake its waiters everywhere."""
        self._wake(application_id)
        if self._redis is not None:
            try:
                self._redis.publish(self.channel, str(application_id))
            except Exception:  # noqa: BLE001 - waiters re-read the state anyway
                log.warning("could not publish the decision of %s", application_id,
                            exc_info=True)

    @contextmanager
    def watching(self, application_id: int) -> Iterator[threading.Event]:
        """An event set when the application is (perhaps) decided; register before reading
        the state, so a decision landing between the read and the wait is not missed."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(application_id, set()).add(event)
            if self._redis is not None and self._listener is None \
                    and not self._stopping.is_set():
                self._listener = threading.Thread(target=self._listen, daemon=True,
                                                  name="decided-signal")
                self._listener.start()
        try:
            yield event
        finally:
            with self._lock:
                waiting = self._waiters.get(application_id)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[application_id]

    def _wake(self, application_id: int) -> None:
        with self._lock:
            events = list(self._waiters.get(application_id, ()))
        for event in events:
            event.set()

    def _listen(self) -> None:
        while not self._stopping.is_set():
            pubsub = None
            try:
                pubsub = self._redis.pubsub()
                pubsub.subscribe(self.channel)
                while not self._stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        self._live.set()
                    elif message["type"] == "message":
                        try:
                            application_id = int(message["data"])
                        except (TypeError, ValueError):  # not ours: keep the subscription
                            log.warning("decided-signal message ignored: not an id")
                            continue
                        self._wake(application_id)
            except Exception:  # noqa: BLE001 - waiters re-read meanwhile; reconnect
                log.warning("decided-signal listener lost Redis; reconnecting", exc_info=True)
                self._stopping.wait(1.0)
            finally:
                self._live.clear()
                if pubsub is not None:
                    with suppress(Exception):  # closing a broken connection
                        pubsub.close()

    def stop(self) -> None:
        self._stopping.set()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=3)
