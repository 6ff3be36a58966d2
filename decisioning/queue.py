"""The decision queue: Dramatiq actors for deciding submitted applications and delivering the
outbox, on Redis (``CHEDAITONG_QUEUE_URL``, workers started by `chedaitong worker`) or, where
none is configured (`make demo`, SQLite), on Dramatiq's in-process broker with an in-process
worker running the same task code.

Why Dramatiq on Redis: a maintained queue with acknowledgements (a message is removed only
once its task returned; a worker process that dies leaves its unacknowledged messages to be
requeued when its heartbeat stops), retries with backoff, and workers that are plain
processes, so a lender adds capacity by starting workers on more machines against the same
PostgreSQL and Redis. The tasks are idempotent (`deciding.decide_submitted`,
`outbox.deliver_batch`), so a message delivered twice — a requeue after a worker died, a
sweep — changes nothing twice.
"""

from __future__ import annotations

import logging
import queue as queues
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from chedaitong.db import Application
from decisioning.decided import DecidedSignal
from decisioning.origination import deciding, outbox

log = logging.getLogger(__name__)

DECISIONS, OUTBOX = "decisions", "outbox"
#: a message of a worker silent this long is requeued to another (decisions take ~1 s)
HEARTBEAT_TIMEOUT_MS = 15_000
#: out of a million queue commands, how many also requeue dead workers' messages
MAINTENANCE_CHANCE = 20_000
#: an idle worker polls Redis this often (ms): the most a new message waits for pickup
POLL_MS = 50
#: an outbox message whose first delivery (the batch thread's) failed waits this long
RETRY_DELAY_MS = 1_000
#: an application still deciding, or a message still pending, this long is sent again
SWEEP_AFTER = timedelta(seconds=30)
#: the decision SMS of the decisions a process commits within this window go out in one
#: vendor call (`outbox.deliver_batch`): at most this much later, never holding a decision
BATCH_WINDOW_S = 0.2
#: messages in one batch delivery (one vendor call each `vendors.interfaces.SMS_BATCH_MAX`)
BATCH_MOST = 100


@dataclass
class Runtime:
    """What the tasks run with: the process's services and a session factory."""

    services: Any  # decisioning.container.Services
    sessions: sessionmaker[Session]


class DecisionQueue:
    """The actors of one broker. ``decide(id)`` and ``deliver(ids)`` send; `start_workers`
    consumes in this process (the embedded default, and each `chedaitong worker` process)."""

    def __init__(self, broker: dramatiq.Broker, runtime: Runtime):
        self.broker = broker
        self.runtime = runtime
        self.embedded = isinstance(broker, StubBroker)
        #: what a ``?wait=`` blocks on: set when a decision is committed (on Redis: anywhere)
        self.decided = DecidedSignal(getattr(broker, "client", None),
                                     channel=f"{getattr(broker, 'namespace', 'local')}:decided")
        self.created_at = datetime.now(UTC)
        self._worker: dramatiq.Worker | None = None
        self._sweeper: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._batcher = _Batcher(self._deliver_batch, BATCH_WINDOW_S, BATCH_MOST)
        #: failed tries at one decision before it is referred (`deciding.refer_failed`)
        self.max_attempts = deciding.MAX_ATTEMPTS
        self._decide = dramatiq.actor(
            self._run_decide, broker=broker, actor_name="decide_application",
            queue_name=DECISIONS, max_retries=20, min_backoff=200, max_backoff=30_000,
            time_limit=300_000)
        self._deliver = dramatiq.actor(
            self._run_deliver, broker=broker, actor_name="deliver_outbox",
            queue_name=OUTBOX, max_retries=outbox.MAX_ATTEMPTS, min_backoff=1_000,
            max_backoff=300_000, time_limit=120_000)

    # ---- sending -------------------------------------------------------------------------
    def decide(self, application_id: int) -> None:
        """Queue the decision of a submitted application (committed in ``deciding``)."""
        self._ensure_embedded_worker()
        self._decide.send(application_id)

    def deliver(self, message_ids: list[int]) -> None:
        """Queue the delivery of committed outbox messages."""
        self._ensure_embedded_worker()
        for message_id in message_ids:
            self._deliver.send(message_id)

    # ---- the tasks -----------------------------------------------------------------------
    @contextmanager
    def _task_session(self) -> Iterator[Session]:
        """A session on one pooled connection for the whole task: one checkout (one pre-ping
        round trip, in a worker) instead of one per transaction — the attempt, the decision and
        the SMS's delivery each commit on it, as before. Between them this thread keeps the
        connection, idle (a worker's pool has one per thread: `worker.run_worker_process`)."""
        bind = self.runtime.sessions.kw.get("bind")
        if not isinstance(bind, Engine):  # a factory bound otherwise: as it is
            with self.runtime.sessions() as session:
                yield session
            return
        with bind.connect() as conn, self.runtime.sessions(bind=conn) as session:
            yield session

    def _run_decide(self, application_id: int) -> None:
        with self._task_session() as session:
            done = deciding.decide_submitted(session=session, services=self.runtime.services,
                                             application_id=application_id,
                                             max_attempts=self.max_attempts)
            if done.record is not None:  # committed: whoever waits for it reads it now
                self.decided.notify(application_id)
        # the SMS it owes: first tried with the other decisions' of the next moment, in one
        # vendor call, by this process's batch thread (the decision is committed whatever
        # happens to it, and this thread takes the next message at once)
        self._batcher.add(done.deliver)

    def _deliver_batch(self, message_ids: list[int]) -> None:
        """First try at a batch of committed messages (the batch thread); what the vendor
        failed goes to the outbox queue (its retries and backoff), what cannot be queued to
        the sweep."""
        with self.runtime.sessions() as session:
            left = outbox.deliver_batch(session=session, services=self.runtime.services,
                                        message_ids=message_ids)
        try:
            for message_id in left:
                self._deliver.send_with_options(args=(message_id,), delay=RETRY_DELAY_MS)
        except Exception:  # noqa: BLE001 - the sweep delivers what could not be queued
            log.exception("could not queue outbox %s; the sweep will", left)

    def _run_deliver(self, message_id: int) -> None:
        """A retry of one message: through the batch call as its first try was (the vendor
        knows its idempotency key there), raising for the queue's backoff while it fails."""
        with self.runtime.sessions() as session:
            if outbox.deliver_batch(session=session, services=self.runtime.services,
                                    message_ids=[message_id]):
                raise outbox.DeliveryFailed(f"outbox {message_id}: the vendor failed it")

    # ---- consuming -----------------------------------------------------------------------
    def start_workers(self, threads: int = 4, sweep: bool = True) -> None:
        """Consume both queues in this process with ``threads`` worker threads (and, with
        ``sweep``, resend what a lost message left waiting)."""
        with self._lock:
            if self._worker is not None or self._stopping.is_set():
                return
            self._worker = dramatiq.Worker(self.broker, worker_threads=threads,
                                           worker_timeout=POLL_MS)
            self._worker.start()
            if sweep:
                self._sweeper = threading.Thread(target=self._sweep_loop, daemon=True,
                                                 name="decision-queue-sweep")
                self._sweeper.start()

    def _ensure_embedded_worker(self) -> None:
        if self.embedded and self._worker is None and not self._stopping.is_set():
            self.start_workers(threads=4)

    def sweep(self, cutoff: datetime | None = None) -> tuple[int, int]:
        """Resend decisions submitted, and deliveries due, before ``cutoff`` (default: longer
        ago than `SWEEP_AFTER`) — lost when a process died between its commit and its send, or
        when the embedded queue's process restarted. Returns (decisions, deliveries) sent."""
        cutoff = cutoff or datetime.now(UTC) - SWEEP_AFTER
        with self.runtime.sessions() as session:
            stale = list(session.scalars(select(Application.id).where(
                Application.state.in_(deciding.UNDECIDED),
                Application.submitted_at <= cutoff).limit(500)))
            due = outbox.due(session, older_than=datetime.now(UTC) - cutoff)
        for application_id in stale:
            self._decide.send(application_id)
        for message_id in due:
            self._deliver.send(message_id)
        if stale or due:
            log.warning("sweep resent %s decisions and %s deliveries", len(stale), len(due))
        return len(stale), len(due)

    def _sweep_loop(self) -> None:
        # first what a previous process left waiting (anything from before this one started)
        cutoff: datetime | None = self.created_at if self.embedded else None
        while not self._stopping.wait(0.5 if cutoff else 10):
            try:
                self.sweep(cutoff)
            except Exception:  # noqa: BLE001 - a sweep that fails is tried again later
                log.exception("queue sweep failed")
            cutoff = None

    def join(self, timeout_ms: int = 10_000) -> None:
        """Wait until both queues are empty (the embedded broker; for tests and scripts)."""
        if isinstance(self.broker, StubBroker):
            self.broker.join(DECISIONS, timeout=timeout_ms, fail_fast=False)
            self._batcher.flush(timeout_ms / 1000)
            self.broker.join(OUTBOX, timeout=timeout_ms, fail_fast=False)
        else:
            self._batcher.flush(timeout_ms / 1000)
        if self._worker is not None:
            self._worker.join()

    def stop(self) -> None:
        self._stopping.set()
        self.decided.stop()
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop(timeout=10_000)
        self._batcher.stop(timeout_s=10)  # what it holds is sent (or left to the sweep)
        self.broker.close()


class _Batcher:
    """Message ids collected for `BATCH_WINDOW_S` after the first (or until `BATCH_MOST`),
    then handed together to ``deliver`` on this object's own thread (started with the first
    id). Ids it never delivers — the process ended — are still pending in the outbox, which
    the sweep resends."""

    def __init__(self, deliver: Callable[[list[int]], None], window_s: float,
                 most: int) -> None:
        self._deliver = deliver
        self.window_s, self.most = window_s, most
        self._ids: queues.SimpleQueue[int | None] = queues.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._outstanding = 0  # added, not yet through ``deliver``

    def add(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._outstanding += len(ids)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="outbox-batch")
                self._thread.start()
        for message_id in ids:
            self._ids.put(message_id)

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything added has been through ``deliver`` (tests, scripts)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._outstanding == 0, timeout_s)

    def stop(self, timeout_s: float) -> None:
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._ids.put(None)
            thread.join(timeout_s)

    def _loop(self) -> None:
        ending = False
        while not ending:
            first = self._ids.get()
            if first is None:
                return
            batch, deadline = [first], time.monotonic() + self.window_s
            while len(batch) < self.most:
                try:
                    more = self._ids.get(timeout=max(0.0, deadline - time.monotonic()))
                except queues.Empty:
                    break
                if more is None:
                    ending = True
                    break
                batch.append(more)
            try:
                self._deliver(batch)
            except Exception:  # noqa: BLE001 - still pending in the outbox: the sweep resends
                log.exception("outbox batch %s could not be delivered; the sweep will", batch)
            with self._lock:
                self._outstanding -= len(batch)
                self._lock.notify_all()


def make_broker(queue_url: str | None, *, namespace: str = "chedaitong",
                heartbeat_timeout_ms: int = HEARTBEAT_TIMEOUT_MS,
                maintenance_chance: int = MAINTENANCE_CHANCE) -> dramatiq.Broker:
    """Redis when ``queue_url`` is set, else the in-process broker."""
    if not queue_url:
        return StubBroker()
    return RedisBroker(url=queue_url, namespace=namespace,
                       heartbeat_timeout=heartbeat_timeout_ms,
                       maintenance_chance=maintenance_chance)


def build_queue(settings: Any, services: Any, sessions: sessionmaker[Session],
                **broker_options: Any) -> DecisionQueue:
    """The process's queue for ``settings.queue_url``; assigned to ``services.queue``."""
    queue = DecisionQueue(make_broker(settings.queue_url, **broker_options),
                          Runtime(services, sessions))
    services.queue = queue
    return queue
