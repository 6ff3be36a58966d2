"""A ``?wait=`` long-poll holds a request thread; at most the server's threads less a reserve
wait at once, so the other endpoints always find a thread. A request that finds every slot
taken is answered at once — undecided, with ``Retry-After`` — instead of waiting."""

from __future__ import annotations

import threading
import time

from webapp import longpoll
from webapp.gunicorn_conf import post_worker_init

from .conftest import new_application, register_customer


def _take_every_slot(api) -> threading.Event:
    """Hold every long-poll slot of ``api``'s process until the returned event is set."""
    slots = api.extensions[longpoll.EXTENSION]
    release, held = threading.Event(), threading.Barrier(slots.size + 1)

    def hold():
        with slots.granted(60) as granted:
            assert granted == 60
            held.wait()
            release.wait(30)

    for _ in range(slots.size):
        threading.Thread(target=hold, daemon=True).start()
    held.wait(10)
    return release


def test_with_every_slot_taken_a_wait_is_answered_at_once_and_told_when_to_ask(
        api, staff, deciding_app):
    release = _take_every_slot(api)
    try:
        t0 = time.monotonic()
        r = api.test_client().get(f"/applications/{deciding_app}?wait=10",
                                  headers=staff.h("c1"))
        took = time.monotonic() - t0
    finally:
        release.set()
    assert r.status_code == 200 and r.json["state"] == "deciding", r.json
    assert r.headers["Retry-After"] == str(longpoll.RETRY_AFTER_S)
    assert took < 5, took  # not the 10 s it asked for


def test_a_free_slot_waits_and_is_given_back(api, staff, deciding_app):
    slots = api.extensions[longpoll.EXTENSION]
    t0 = time.monotonic()
    r = api.test_client().get(f"/applications/{deciding_app}?wait=1", headers=staff.h("c1"))
    assert time.monotonic() - t0 >= 1.0  # it waited (nobody decides it)
    assert r.status_code == 200 and r.headers["Retry-After"]
    with slots.granted(5) as again:  # the request gave its slot back
        assert again == 5


def test_a_submit_that_finds_no_slot_answers_202_with_retry_after(api, staff):
    client = api.test_client()
    _, idn = register_customer(client, "longpoll-submit", 43)
    draft = new_application(client, staff, "c1", idn, submit=False)
    release = _take_every_slot(api)
    try:
        r = client.post(f"/applications/{draft['id']}/submit?wait=10", headers=staff.h("c1"))
    finally:
        release.set()
    assert r.status_code in (200, 202), r.json
    if r.status_code == 202:  # the embedded worker may decide before the answer is read
        assert r.json["state"] == "deciding"
        assert r.headers["Location"].endswith(f"/applications/{draft['id']}")
        assert r.headers["Retry-After"] == str(longpoll.RETRY_AFTER_S)


def test_a_gunicorn_worker_keeps_threads_for_the_other_endpoints(api, monkeypatch):
    from webapp import services

    # the hook's other work (a SIGHUP handler, the embedded worker) is not this test's
    monkeypatch.setattr(services, "install_rules_reload", lambda app: None)
    monkeypatch.setattr(services, "start_embedded_worker", lambda app: None)

    class Cfg:
        threads = 8

    class Worker:
        wsgi, cfg, pid = api, Cfg(), 0

        class log:  # noqa: N801 - gunicorn's attribute name
            @staticmethod
            def info(*_a):
                pass

    post_worker_init(Worker())
    assert api.extensions[longpoll.EXTENSION].size == 8 - longpoll.RESERVED
    Cfg.threads = 1  # a sync worker: a long-poll would hold its only thread
    post_worker_init(Worker())
    slots = api.extensions[longpoll.EXTENSION]
    assert slots.size == 0
    with slots.granted(10) as granted:
        assert granted == 0
