"""Decisions off the web thread: submit answers 202 at once, workers decide, a worker killed
mid-decision leaves the decision to another (taken exactly once), and a vendor outage delays
the SMS, never the decision or the answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.db import Application, DecisionRecord
from chedaitong.db.origination import Notification
from chedaitong.db.outbox import OutboxMessage
from decisioning.container import build_decision_service
from decisioning.queue import DecisionQueue, Runtime, make_broker
from webapp.database import EXTENSION as DATABASE
from webapp.services import EXTENSION

from .conftest import ROOT, new_application, register_customer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/2")


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL} (TEST_REDIS_URL)")


def _until(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _counts(engine, app_id: int) -> tuple[str, int, int]:
    with Session(engine) as s:
        state = s.get(Application, app_id).state
        records = s.scalar(select(func.count()).select_from(DecisionRecord).where(
            DecisionRecord.application_id == app_id))
        sms = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.application_id == app_id))
    return state, records, sms


def test_submit_answers_202_deciding_with_a_location_then_the_decision(api, staff):
    client = api.test_client()
    _, idn = register_customer(client, "async", 40)
    draft = new_application(client, staff, "c1", idn, submit=False)
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 202, r.json
    assert r.json["state"] in ("deciding", "approved")  # the worker may already be done
    assert r.headers["Location"].endswith(f"/applications/{draft['id']}")
    done = client.get(f"{r.headers['Location']}?wait=20", headers=staff.h("c1")).json
    assert done["state"] == "approved" and done["decision"]["outcome"] == "approve"
    assert client.post(f"/applications/{draft['id']}/submit",
                       headers=staff.h("c1")).status_code == 409
    assert client.get(f"/applications/{draft['id']}?wait=31",
                      headers=staff.h("c1")).status_code == 422  # the wait is bounded


def test_worker_killed_mid_decision_is_retried_and_decided_exactly_once(
        api, staff, sandbox, settings, engine, tmp_path):
    """Two `chedaitong worker` processes on Redis: the first is SIGKILLed while it waits on
    the bureau; the second takes the message over once the first's heartbeat stops."""
    _redis_or_skip()
    namespace = f"cdt-test-{uuid.uuid4().hex[:8]}"
    svc = api.extensions[EXTENSION]
    svc.queue.stop()
    svc.queue = DecisionQueue(make_broker(REDIS_URL, namespace=namespace),
                              Runtime(svc, api.extensions[DATABASE]["sessions"]))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CHEDAITONG_") and k != "DATABASE_URL"}
    env.update(CHEDAITONG_ENV="test", DATABASE_URL=settings.database_url,
               CHEDAITONG_VAR_DIR=str(tmp_path / "worker-var"),
               CHEDAITONG_RULES_DIR=str(ROOT / "rules"),
               CHEDAITONG_MODEL_DIR=str(tmp_path / "no-models"),  # no champion: it refers
               CHEDAITONG_VENDOR_URL=sandbox.base_url, CHEDAITONG_QUEUE_URL=REDIS_URL)
    argv = [sys.executable, "-m", "chedaitong.cli", "worker", "--threads", "2",
            "--namespace", namespace, "--heartbeat-ms", "1500",
            "--maintenance-chance", "1000000"]

    def start_worker() -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:  # services built, consuming
            if "worker ready" in line:
                return proc
        raise AssertionError(f"worker did not start (exit {proc.wait()})")

    client = api.test_client()
    _, idn = register_customer(client, "killed", 41)
    draft = new_application(client, staff, "c1", idn, submit=False)
    first = start_worker()
    second = None
    sandbox.configure("pboc", latency_ms=4000, latency_sigma=0.0)
    try:
        r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
        assert r.status_code == 202 and r.json["state"] == "deciding"
        _until(lambda: [c for c in sandbox.calls("pboc") if c["status"] is None], 30,
               "the first worker to call the bureau")
        first.send_signal(signal.SIGKILL)  # mid-decision: inside the bureau call
        first.wait(10)
        assert _counts(engine, draft["id"]) == ("deciding", 0, 0)  # nothing half-written
        sandbox.configure("pboc", latency_ms=1)
        second = start_worker()
        state = _until(lambda: _counts(engine, draft["id"])[0] != "deciding" and
                       _counts(engine, draft["id"]), 60, "the second worker's decision")
        assert state == ("referred", 1, 1)
        time.sleep(1.0)  # a duplicate message, if any, would have landed by now
        assert _counts(engine, draft["id"]) == ("referred", 1, 1)
        r = client.get(f"/applications/{draft['id']}", headers=staff.h("c1"))
        assert r.json["decision"]["outcome"] == "refer"
    finally:
        sandbox.configure("pboc", latency_ms=1, latency_sigma=0.5)
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)


def test_vendor_outage_during_submit_gives_202_a_referral_and_the_sms_after_recovery(
        api, staff, sandbox, settings, engine):
    """Both bureaus and SMS down: the answer is still 202, the decision refers for the
    missing bureau reports, and the SMS waits in the outbox until the SMS vendor is back."""
    svc = api.extensions[EXTENSION]
    svc.decisions = build_decision_service(settings, store=svc.store, vendors=svc.vendors)
    client = api.test_client()
    _, idn = register_customer(client, "outage", 42)
    draft = new_application(client, staff, "c1", idn, submit=False)
    for vendor in ("pboc", "third_party", "sms"):
        sandbox.outage(vendor)
    try:
        started = time.perf_counter()
        r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
        assert r.status_code == 202 and time.perf_counter() - started < 2.0
        done = client.get(f"/applications/{draft['id']}?wait=20", headers=staff.h("c1")).json
        assert done["state"] == "referred", done["decision"]["reasons"]
        with Session(engine) as s:
            record = s.scalar(select(DecisionRecord).where(
                DecisionRecord.application_id == draft["id"]))
            assert {"pboc_unavailable", "thirdparty_unavailable"} <= set(record.evidence_gaps)
        with Session(engine) as s:
            failed = _until(lambda: s.scalar(select(OutboxMessage).where(
                OutboxMessage.application_id == draft["id"],
                OutboxMessage.attempts >= 1).execution_options(populate_existing=True)),
                20, "a failed SMS attempt")
            assert failed.status == "pending" and failed.last_error
    finally:
        for vendor in ("pboc", "third_party", "sms"):
            sandbox.outage(vendor, down=False)

    def delivered():
        with Session(engine) as s:
            message = s.scalar(select(OutboxMessage).where(
                OutboxMessage.application_id == draft["id"]))
            note = s.get(Notification, message.payload["notification_id"])
            return message.status == "delivered" and note.status == "accepted" and message
    message = _until(delivered, 30, "the SMS after recovery")
    sent = [m for m in sandbox.records("messages")
            if m.get("template") == "DECISION_READY" and m["params"]["ref"] == done["ref"]]
    assert len(sent) == 1 and sent[0]["params"]["outcome"] == "refer"
    assert message.attempts >= 2


class _Failing:
    """A decision service whose every decision fails (a bug, a broken model file...)."""

    rules = None

    def __init__(self):
        self.calls = 0

    def decide(self, *args, **kwargs):
        self.calls += 1
        raise RuntimeError("the decision blew up")


def test_a_decision_that_keeps_failing_is_referred_with_the_reason_not_left_deciding(
        api, staff, engine):
    svc = api.extensions[EXTENSION]
    failing = svc.decisions = _Failing()
    client = api.test_client()
    _, idn = register_customer(client, "unlucky", 41)
    draft = new_application(client, staff, "c1", idn, submit=False)
    queue = svc.queue
    queue.max_attempts = 2  # retried twice (200 ms, 400 ms backoff), then referred
    r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
    assert r.status_code == 202, r.json

    def referred():
        return _counts(engine, draft["id"])[0] == "referred"

    _until(referred, 20, "the referral after the failed attempts")
    assert failing.calls == 2  # tried max_attempts times, not forever
    state, records, sms = _counts(engine, draft["id"])
    assert (records, sms) == (1, 1)  # one record, and the customer is told
    view = client.get(f"/applications/{draft['id']}", headers=staff.h("r1")).json
    assert view["state"] == "referred"
    assert [r["code"] for r in view["decision"]["reasons"]] == ["DECISION_FAILED"]
    assert view["decision"]["evidence_gaps"] == ["decision_failed"]
    with Session(engine) as s:
        assert s.get(Application, draft["id"]).decision_attempts == 3
    # a late retry changes nothing: the decision stands
    queue.decide(draft["id"])
    queue.join()
    assert _counts(engine, draft["id"]) == (state, 1, 1) and failing.calls == 2


def test_an_esign_outage_delays_the_contract_never_fails_it_and_one_contract_is_made(
        api, staff, sandbox, engine):
    """The contract step answers 201 while the e-signature vendor is down (the contract is
    `sending`), signing waits with a 409 naming why, and once the vendor is back the worker
    creates exactly one contract at it, which the customer signs."""
    client = api.test_client()
    token, idn = register_customer(client, "contract", 43)
    me = {"Authorization": f"Bearer {token}"}
    app_id = new_application(client, staff, "c1", idn)["id"]
    assert client.post(f"/applications/{app_id}/plan", headers=me,
                       json={}).status_code == 200
    sandbox.outage("esign")
    try:
        started = time.perf_counter()
        r = client.post(f"/applications/{app_id}/contract", headers=staff.h("c1"))
        assert r.status_code == 201 and time.perf_counter() - started < 2.0, r.json
        assert r.json["status"] == "sending" and r.json["vendor_contract_id"] is None
        assert "Repayment schedule" in r.json["document_text"]
        r = client.post(f"/applications/{app_id}/contract/sign", headers=me,
                        json={"verification_code": "123456"})
        assert r.status_code == 409 and "still being sent" in str(r.json), r.json
    finally:
        sandbox.outage("esign", down=False)

    def created():
        c = client.get(f"/applications/{app_id}/contract", headers=staff.h("c1")).json
        return c["vendor_contract_id"] and c
    contract = _until(created, 30, "the contract created after recovery")
    assert contract["status"] != "sending"
    ref = client.get(f"/applications/{app_id}", headers=staff.h("c1")).json["ref"]
    made = [c for c in sandbox.records("contracts") if c["application_id"] == ref]
    assert [c["contract_id"] for c in made] == [contract["vendor_contract_id"]]  # one only
    r = client.post(f"/applications/{app_id}/contract/sign", headers=me,
                    json={"verification_code": "123456"})
    assert r.status_code == 200 and r.json["status"] == "signed", r.json
    assert r.json["vendor_contract_id"] == contract["vendor_contract_id"]
    with Session(engine) as s:
        message = s.scalar(select(OutboxMessage).where(
            OutboxMessage.application_id == app_id, OutboxMessage.kind == "esign_contract"))
        assert message.status == "delivered" and message.attempts >= 2
        assert "id_number" not in str(message.payload) and idn not in str(message.payload)


class _Holding:
    """A queue that takes the submission and decides nothing (the test runs the task)."""

    def decide(self, application_id: int) -> None:
        pass


def _submitted_not_decided(api, staff, sandbox, settings, engine, name: str, seq: int):
    """A fresh decision service and an application submitted to a queue that holds it (no
    worker took it): the submit's 202 answer and a task that decides it as a worker would,
    on ``engine``."""
    from chedaitong.db import make_session_factory

    sandbox.reset()  # earlier tests' stored answers: consent ids repeat in each fresh database
    svc = api.extensions[EXTENSION]
    svc.decisions = build_decision_service(settings, store=svc.store, vendors=svc.vendors)
    client = api.test_client()
    _, idn = register_customer(client, name, seq)
    draft = new_application(client, staff, "c1", idn, submit=False)
    embedded, svc.queue = svc.queue, _Holding()
    try:
        r = client.post(f"/applications/{draft['id']}/submit", headers=staff.h("c1"))
        assert r.status_code == 202 and r.json["state"] == "deciding"
    finally:
        svc.queue = embedded
    return r, DecisionQueue(make_broker(None), Runtime(svc, make_session_factory(engine)))


def test_a_decision_is_one_transaction_and_its_sms_goes_out_after_it(
        api, staff, sandbox, settings, engine):
    """The worker's task for one submission: the attempt counted on its own, then the bureau
    evidence, the one record, the state step and the SMS it owes in one commit — and nothing
    more in the deciding thread: the SMS goes out after it, from the process's batch thread."""
    import threading

    from sqlalchemy import event

    from chedaitong.db import RawEvent

    r, task = _submitted_not_decided(api, staff, sandbox, settings, engine,
                                     "roundtrips", 43)
    draft = r.json
    here = threading.get_ident()
    sent: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, statement, *_: sent.append(
        statement.split()[0:3]) if threading.get_ident() == here else None)
    event.listen(engine, "commit", lambda _c: sent.append(["COMMIT"])
                 if threading.get_ident() == here else None)
    task._run_decide(draft["id"])  # noqa: SLF001 - what a worker thread runs per message
    commits = [i for i, s in enumerate(sent) if s == ["COMMIT"]]
    assert len(commits) == 2, sent  # the attempt; the decision (the SMS it owes with it)
    assert commits[-1] == len(sent) - 1, sent[commits[-1]:]  # no vendor send waited for here
    decision = sent[commits[0] + 1:commits[1]]
    inserts = [s[2] for s in decision if s[0] == "INSERT"]
    assert inserts.count("decision_records") == 1 and inserts.count("outbox") == 1
    assert inserts.count("raw_events") >= 1  # the bureau reports, with the record
    assert task._batcher.flush(10)  # noqa: SLF001 - the batch thread has sent it
    with Session(engine) as s:
        record = s.scalar(select(DecisionRecord).where(
            DecisionRecord.application_id == draft["id"]))
        assert s.get(Application, draft["id"]).state == {
            "approve": "approved", "decline": "declined", "refer": "referred"}[record.outcome]
        assert not {"pboc_unavailable", "thirdparty_unavailable"} & set(record.evidence_gaps)
        assert s.scalar(select(func.count()).select_from(RawEvent).where(
            RawEvent.source.in_(("pboc", "thirdparty")))) == 2
        message = s.scalar(select(OutboxMessage).where(
            OutboxMessage.application_id == draft["id"]))
        assert message.status == "delivered"
        assert s.get(Notification, message.payload["notification_id"]).status == "accepted"
    assert [m for m in sandbox.records("messages") if m.get("template") == "DECISION_READY"
            and m["params"]["ref"] == r.json["ref"]]
    task.stop()


def test_a_decision_task_checks_out_one_connection_for_its_two_commits(
        api, staff, sandbox, settings, engine):
    """The worker's task keeps one pooled connection for the attempt and the decision (a
    worker pre-pings each checkout: one round trip, not two), and decides as before: one
    record, the state step, the SMS delivered (by the batch thread, on its own)."""
    import threading

    from sqlalchemy import event

    r, task = _submitted_not_decided(api, staff, sandbox, settings, engine,
                                     "one-checkout", 44)
    draft = r.json
    here = threading.get_ident()
    checkouts, commits = [], []
    event.listen(engine, "checkout", lambda *_: checkouts.append(1)
                 if threading.get_ident() == here else None)
    event.listen(engine, "commit", lambda _c: commits.append(1)
                 if threading.get_ident() == here else None)
    task._run_decide(draft["id"])  # noqa: SLF001 - what a worker thread runs per message
    assert len(commits) == 2 and len(checkouts) == 1, (commits, checkouts)
    state, records, sms = _counts(engine, draft["id"])
    assert state in ("approved", "declined", "referred") and records == 1 and sms == 1
    assert task._batcher.flush(10)  # noqa: SLF001
    with Session(engine) as s:
        assert s.scalar(select(OutboxMessage.status).where(
            OutboxMessage.application_id == draft["id"])) == "delivered"
    task.stop()


def test_the_sms_of_decisions_taken_together_go_out_in_one_vendor_call(
        api, staff, sandbox, settings, engine):
    """Three decisions taken within the batch window: their three SMS reach the gateway in
    one request (a request each before), each delivered with its own vendor message id and
    to its own customer; a message the gateway refuses for now stays pending and goes out
    on its retry."""
    from decisioning.origination import outbox

    tasks = [_submitted_not_decided(api, staff, sandbox, settings, engine, f"batch-{i}",
                                    47 + i) for i in range(3)]
    task = tasks[0][1]
    task._batcher.window_s = 30  # noqa: SLF001 - all three inside one window
    task._batcher.most = 3  # noqa: SLF001 - sent once the third is in
    before = len(sandbox.calls("sms"))
    for r, _ in tasks:
        task._run_decide(r.json["id"])  # noqa: SLF001
    assert task._batcher.flush(20)  # noqa: SLF001
    calls = sandbox.calls("sms")[before:]
    assert len(calls) == 1, calls
    with Session(engine) as s:
        notes = []
        for r, _ in tasks:
            message = s.scalar(select(OutboxMessage).where(
                OutboxMessage.application_id == r.json["id"]))
            assert message.status == "delivered" and message.attempts == 1
            notes.append(s.get(Notification, message.payload["notification_id"]))
        assert all(n.status == "accepted" for n in notes)
        assert len({n.vendor_message_id for n in notes}) == 3
    sent = {m["params"]["ref"]: m for m in sandbox.records("messages")
            if m.get("template") == "DECISION_READY"}
    assert {r.json["ref"] for r, _ in tasks} <= set(sent)
    assert len({sent[r.json["ref"]]["phone"] for r, _ in tasks}) == 3
    task.stop()
    # a temporary refusal of the item: pending with its error, delivered on the retry
    r, task = _submitted_not_decided(api, staff, sandbox, settings, engine, "batch-refused", 50)
    task._batcher.window_s = 0  # noqa: SLF001
    sandbox.configure("sms", item_error_rate=1.0)
    try:
        task._run_decide(r.json["id"])  # noqa: SLF001
        assert task._batcher.flush(20)  # noqa: SLF001
        with Session(engine) as s:
            message = s.scalar(select(OutboxMessage).where(
                OutboxMessage.application_id == r.json["id"]))
            assert message.status == "pending" and "TEMPORARY_FAILURE" in message.last_error
    finally:
        sandbox.configure("sms", item_error_rate=0.0)
    with Session(engine) as s:
        assert outbox.deliver_batch(session=s, services=api.extensions[EXTENSION],
                                    message_ids=[message.id]) == []
    with Session(engine) as s:
        message = s.get(OutboxMessage, message.id)
        assert message.status == "delivered" and message.attempts == 2
        assert s.get(Notification, message.payload["notification_id"]).status == "accepted"
    task.stop()



def test_the_decision_sms_costs_the_decision_one_flush(api, staff, sandbox, settings, engine):
    """The decision's transaction flushes the unit of work three times — the bureau
    reports, the state step's transition, the outbox message (the notification it delivers
    is one plain INSERT) — four on the old code (a flush for the notification, then one for
    the message); the notification is still written with the message, and delivered."""
    import threading

    from sqlalchemy import event

    r, task = _submitted_not_decided(api, staff, sandbox, settings, engine, "one-flush", 44)
    here = threading.get_ident()
    flushes: list[list[str]] = []

    def flushed(session, _context, _instances):
        if threading.get_ident() == here:
            flushes.append(sorted(type(o).__name__ for o in session.new))

    event.listen(Session, "before_flush", flushed)
    try:
        task._run_decide(r.json["id"])  # noqa: SLF001 - what a worker thread runs per message
    finally:
        event.remove(Session, "before_flush", flushed)
    writing = [f for f in flushes if f]
    assert writing == [["RawEvent"], ["StateTransition"], ["OutboxMessage"]], flushes
    assert task._batcher.flush(10)  # noqa: SLF001 - the batch thread has sent it
    with Session(engine) as s:
        message = s.scalar(select(OutboxMessage).where(
            OutboxMessage.application_id == r.json["id"]))
        note = s.get(Notification, message.payload["notification_id"])
        assert (note.application_id, note.template, note.channel, note.status) == (
            r.json["id"], "DECISION_READY", "sms", "accepted")
        assert note.customer_id is not None and note.at is not None
    task.stop()
