"""``?wait=`` blocks on the decided signal instead of polling the database: a decision committed
by a worker in another process (here: another signal on the same Redis channel) wakes the
waiter at once, a waiter reads the state a handful of times however long it waits, and a lost
message costs at most the recheck interval, never a wrong answer."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from sqlalchemy import event, update
from sqlalchemy.orm import Session

from chedaitong.db import Application
from decisioning import decided
from decisioning.decided import DecidedSignal
from decisioning.origination import deciding

from .conftest import new_application, register_customer
from .test_queue import REDIS_URL, _redis_or_skip


@pytest.fixture
def redis_signals():
    """Two processes' signals on one channel: a web process's and a worker's."""
    _redis_or_skip()
    import redis

    channel = f"test-{uuid.uuid4().hex[:8]}:decided"
    clients = [redis.Redis.from_url(REDIS_URL) for _ in range(2)]
    signals = [DecidedSignal(c, channel=channel) for c in clients]
    yield signals
    for s, c in zip(signals, clients, strict=True):
        s.stop()
        c.close()


def _decide_later(engine, app_id: int, signal: DecidedSignal | None, after: float,
                  once: list[int] | None = None):
    """Decide ``app_id`` ``after`` seconds from now — or, given ``once`` (a read counter),
    that long after the waiter's first read (so a loaded machine cannot decide it first)."""
    def run():
        deadline = time.monotonic() + 10
        while once is not None and not once[0] and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(after)
        with Session(engine) as s:
            s.execute(update(Application).where(Application.id == app_id)
                      .values(state="approved"))
            s.commit()
        if signal is not None:
            signal.notify(app_id)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _state_reads(engine) -> list[int]:
    """Reads of one application's row by id (its state, alone or with the rest of it; not the
    embedded queue's sweep, which looks for undecided ones)."""
    reads = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(_conn, _cursor, statement, *_a):
        words = " ".join(statement.split()).upper()
        if words.startswith("SELECT APPLICATIONS.") and "FROM APPLICATIONS" in words \
                and "WHERE APPLICATIONS.ID =" in words:
            reads[0] += 1

    return reads


def _wait(engine, app_id: int, seconds: float, signal) -> tuple[bool, float]:
    with Session(engine) as s:
        app = s.get(Application, app_id)
        t0 = time.monotonic()
        done = deciding.wait_for_decision(session=s, application=app, seconds=seconds,
                                          signal=signal)
        assert not done or app.state == "approved"  # refreshed in place
        return done, time.monotonic() - t0


def test_a_decision_in_another_process_wakes_the_waiter_at_once(engine, deciding_app,
                                                                redis_signals):
    web, worker = redis_signals
    with web.watching(deciding_app):  # subscribe the web process's listener first
        deadline = time.monotonic() + 5
        while web.recheck_s != decided.RECHECK_LIVE_S and time.monotonic() < deadline:
            time.sleep(0.02)
    assert web.recheck_s == decided.RECHECK_LIVE_S, "the listener never subscribed"
    reads = _state_reads(engine)
    thread = _decide_later(engine, deciding_app, worker, after=0.3)
    done, took = _wait(engine, deciding_app, 10, web)
    thread.join()
    assert done
    # woken by the message, not by the 1 s recheck, and with a couple of reads, not a poll
    assert took < 0.3 + decided.RECHECK_LIVE_S * 0.6, took
    assert reads[0] <= 3, reads[0]


def test_a_long_wait_reads_the_state_a_few_times_not_twenty_a_second(engine, deciding_app,
                                                                      redis_signals):
    web, _ = redis_signals
    with web.watching(deciding_app):  # subscribed: the slow recheck is the one in force
        deadline = time.monotonic() + 5
        while web.recheck_s != decided.RECHECK_LIVE_S and time.monotonic() < deadline:
            time.sleep(0.02)
    assert web.recheck_s == decided.RECHECK_LIVE_S, "the listener never subscribed"
    reads = _state_reads(engine)
    done, took = _wait(engine, deciding_app, 2.0, web)
    assert not done and took >= 2.0
    assert reads[0] <= 2.0 / decided.RECHECK_LIVE_S + 2, reads[0]


def test_a_lost_message_costs_at_most_the_recheck_not_the_answer(engine, deciding_app):
    signal = DecidedSignal()  # nobody notifies it: the decider is elsewhere, without Redis
    thread = _decide_later(engine, deciding_app, None, after=0.2)
    done, took = _wait(engine, deciding_app, 10, signal)
    thread.join()
    assert done
    assert took < 0.2 + decided.RECHECK_LOCAL_S + 0.3, took


def test_the_embedded_queue_wakes_a_submit_wait_when_its_worker_decides(api, staff,
                                                                         monkeypatch):
    notified: list[int] = []
    notify = DecidedSignal.notify
    monkeypatch.setattr(DecidedSignal, "notify",
                        lambda self, app_id: (notified.append(app_id), notify(self, app_id))[1])
    client = api.test_client()
    _, idn = register_customer(client, "wait-embedded", 42)
    draft = new_application(client, staff, "c1", idn, submit=False)
    t0 = time.monotonic()
    r = client.post(f"/applications/{draft['id']}/submit?wait=10", headers=staff.h("c1"))
    assert r.status_code == 200 and r.json["state"] == "approved", r.json
    assert time.monotonic() - t0 < 5
    assert notified == [draft["id"]]  # woken by its worker, not only by the recheck


def test_a_get_wait_reads_the_application_once_before_the_wait_and_once_after(
        api, staff, deciding_app, monkeypatch):
    """``GET …?wait=`` watches before it reads the application, so a decision landing after
    that read wakes it: the row is read once before the wait and once on the wake (it was
    four reads: the request's, the state again before sleeping, the state on the wake, the
    refresh), and the answer is the decided application."""
    from webapp.database import EXTENSION as DATABASE
    from webapp.services import EXTENSION

    monkeypatch.setattr(decided, "RECHECK_LOCAL_S", 5.0)  # no recheck: the wake alone
    signal = api.extensions[EXTENSION].queue.decided
    engine = api.extensions[DATABASE]["engine"]
    reads = _state_reads(engine)
    thread = _decide_later(engine, deciding_app, signal, after=0.2, once=reads)
    t0 = time.monotonic()
    r = api.test_client().get(f"/applications/{deciding_app}?wait=10", headers=staff.h("c1"))
    took = time.monotonic() - t0
    thread.join()
    assert r.status_code == 200 and r.json["state"] == "approved", r.json
    assert took < 2.0, took  # woken by the signal, not by a recheck
    assert reads[0] == 2, reads[0]


def test_a_get_wait_sees_a_decision_committed_before_its_read(api, staff, deciding_app,
                                                              engine):
    """Decided before the request: answered at once, without waiting for a signal."""
    with Session(engine) as s:
        s.execute(update(Application).where(Application.id == deciding_app)
                  .values(state="approved"))
        s.commit()
    t0 = time.monotonic()
    r = api.test_client().get(f"/applications/{deciding_app}?wait=10", headers=staff.h("c1"))
    assert r.status_code == 200 and r.json["state"] == "approved", r.json
    assert time.monotonic() - t0 < 1.0


def test_a_poll_rereads_the_state_and_the_whole_row_only_once_decided(engine, deciding_app):
    """Without a signal the wait polls up to 20 times a second: each poll reads the state
    column alone, and the whole row (the answer) is read once, when it is decided."""
    rows = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def count(_conn, _cursor, statement, *_a):
        words = " ".join(statement.split()).upper()
        if words.startswith("SELECT APPLICATIONS.") and "WHERE APPLICATIONS.ID =" in words \
                and not words.startswith("SELECT APPLICATIONS.STATE FROM"):
            rows[0] += 1

    polls = _state_reads(engine)
    thread = _decide_later(engine, deciding_app, None, after=0.6)
    done, _ = _wait(engine, deciding_app, 10, None)
    thread.join()
    assert done
    assert polls[0] >= 5, polls[0]  # it did poll
    assert rows[0] == 2, rows[0]  # the caller's own read before the wait, and the answer
