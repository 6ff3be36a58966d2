"""Third attack round: a step that asks a vendor holds no database lock while it waits (the
claim of `chedaitong.db.claims` instead), a double tap still reaches the vendor once, and a
caller that died mid-call is taken over with the same idempotency key (charged once)."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from chedaitong.db.base import utcnow
from chedaitong.db.claims import VendorClaim, claim, fingerprint
from chedaitong.db.origination import Verification
from vendors.interfaces import LivenessResult
from webapp.services import EXTENSION

from .conftest import JPEG, file, new_application, register_customer
from .test_step_races import _signed_application


class GatedLiveness:
    """A liveness vendor that answers only once ``release`` is set (or after ``limit`` s),
    counting its calls; ``waiting`` is set while a call is in flight."""

    def __init__(self, limit: float = 8.0):
        self.limit, self.calls = limit, 0
        self.waiting, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def compare(self, request):
        with self._lock:
            self.calls += 1
            n = self.calls
        self.waiting.set()
        self.release.wait(self.limit)
        return LivenessResult(request_id=f"lv-{n}", passed=True, score=0.97, threshold=0.8,
                              code="PASS", message="ok")


def _selfie(client, app_id: int, me: dict, content: bytes = JPEG):
    return client.post(f"/applications/{app_id}/liveness", headers=me,
                       content_type="multipart/form-data",
                       data={"selfie": file(content, "me.jpg")})


def test_a_liveness_check_in_flight_holds_up_no_other_write(api, staff, engine):
    """While the liveness vendor answered one customer's selfie, the application's row was
    held — on SQLite the database's write lock — so another customer's profile update and the
    store's next application waited for the vendor (seconds; up to the 30 s busy timeout).
    Now the check is claimed in a short transaction and the vendor is asked with nothing held:
    the other writes are answered while the call is in flight, a double tap is still refused
    without a vendor call, and the check is recorded once."""
    app_id, me = _signed_application(api, staff, engine, 71)
    client = api.test_client()
    other_token, other_idn = register_customer(client, "claims-other", 72)
    vendor = GatedLiveness()
    svc = api.extensions[EXTENSION]
    svc.vendors = dataclasses.replace(svc.vendors, liveness=vendor)
    first: dict = {}
    uploader = threading.Thread(
        target=lambda: first.update(r=_selfie(api.test_client(), app_id, me)))
    uploader.start()
    try:
        assert vendor.waiting.wait(10)
        started = time.monotonic()
        patched = client.patch("/customers/me/profile",
                               headers={"Authorization": f"Bearer {other_token}"},
                               json={"monthly_income": 31000})
        filed = new_application(client, staff, "c2", other_idn, submit=False)
        tap = _selfie(client, app_id, me, JPEG + b"again")
        in_flight = not vendor.release.is_set() and uploader.is_alive()
        took = time.monotonic() - started
    finally:
        vendor.release.set()
        uploader.join(30)
    assert patched.status_code == 200, patched.json
    assert filed["id"] != app_id  # filed, its consent and authorisation uploaded
    assert tap.status_code == 409 and "in progress" in tap.json["message"], tap.json
    assert in_flight and took < 5, took  # answered while the vendor still had the selfie
    assert first["r"].status_code == 201 and first["r"].json["passed"]
    assert vendor.calls == 1
    with Session(engine) as s:
        kept = s.scalars(select(Verification.vendor_request_id).where(
            Verification.application_id == app_id)).all()
        assert kept == ["lv-1"]
    again = _selfie(client, app_id, me)  # the step is taken: its state, no vendor call
    assert again.status_code == 409 and again.json["current_state"] == "disbursement_review"
    assert vendor.calls == 1


def test_a_check_whose_caller_died_is_taken_over_with_the_same_key(api, staff, engine,
                                                                  sandbox):
    """A server that died while the liveness vendor answered left its claim standing: the
    customer's retry is refused while the claim could still be in flight, and once it is
    stale it is taken over with the same idempotency key — the vendor replays its first
    answer (one charged check) and the step advances once."""
    app_id, me = _signed_application(api, staff, engine, 73)
    svc = api.extensions[EXTENSION]
    selfie = JPEG + b"crash"
    with Session(engine) as s:  # the dead caller: claimed, asked the vendor, never finished
        from chedaitong.db import Application, Customer
        from decisioning.origination.identity import ask_liveness
        app = s.get(Application, app_id)
        customer = s.get(Customer, app.customer_id)
        dead = claim(s, f"pass_liveness:application:{app_id}", digest=fingerprint(selfie))
        ask_liveness(svc, customer, selfie, dead.idempotency_key)
    client = api.test_client()
    busy = _selfie(client, app_id, me, selfie)
    assert busy.status_code == 409 and "in progress" in busy.json["message"], busy.json
    with Session(engine) as s:  # a minute later
        s.execute(update(VendorClaim).where(VendorClaim.intent.like(f"%:{app_id}"))
                  .values(busy_until=utcnow() - timedelta(seconds=1)))
        s.commit()
    retried = _selfie(client, app_id, me, selfie)
    assert retried.status_code == 201, retried.json
    calls = [c for c in sandbox.calls("liveness") if c["idempotency_key"] == dead.idempotency_key]
    assert [c["replayed"] for c in calls] == [False, True]
    with Session(engine) as s:
        assert len(s.scalars(select(Verification).where(
            Verification.application_id == app_id)).all()) == 1


class Gated:
    """Wraps a sandbox adapter: counts ``verify`` calls and holds each until ``release``."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.waiting, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def verify(self, request):
        with self._lock:
            self.calls += 1
        self.waiting.set()
        self.release.wait(8)
        return self.inner.verify(request)


def _double_tap(api, vendor_name: str, path: str, token: str, **kw):
    svc = api.extensions[EXTENSION]
    gated = Gated(getattr(svc.vendors, vendor_name))
    svc.vendors = dataclasses.replace(svc.vendors, **{vendor_name: gated})
    h = {"Authorization": f"Bearer {token}"}
    first: dict = {}
    t = threading.Thread(target=lambda: first.update(
        r=api.test_client().post(path, headers=h, **kw)))
    t.start()
    try:
        assert gated.waiting.wait(10)
        second = api.test_client().post(path, headers=h, **kw)
    finally:
        gated.release.set()
        t.join(30)
    return gated, first["r"], second


def test_a_double_id_check_asks_the_id_vendor_once(api, engine):
    """Two ID checks sent at once both reached the (charged) ID vendor; now the second is
    refused while the first is answered, and one check is recorded."""
    token, _ = register_customer(api.test_client(), "claims-id", 74, verify=False)
    gated, first, second = _double_tap(api, "id_check", "/customers/me/id-check", token)
    assert first.status_code == 201 and second.status_code == 409, (first.json, second.json)
    assert gated.calls == 1
    again = api.test_client().post("/customers/me/id-check",
                                   headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 201 and gated.calls == 2  # asked again on purpose: a new check


def test_a_double_four_element_check_asks_the_vendor_once(api, engine):
    token, idn = register_customer(api.test_client(), "claims-4e", 75)
    body = {"card_number": "6222020200112233445", "phone": "13800138075"}
    gated, first, second = _double_tap(api, "four_element", "/customers/me/four-element",
                                       token, json=body)
    assert first.status_code == 201 and second.status_code == 409, (first.json, second.json)
    assert gated.calls == 1
    with Session(engine) as s:
        assert len(s.scalars(select(Verification).where(
            Verification.kind == "four_element")).all()) == 1
