"""Second attack round: steps raced by the same caller (a double tap in the app, a retrying
client) — a step that asks a vendor is asked once, a profile and a submission are one after
the other."""

from __future__ import annotations

import dataclasses
import threading
import time

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from chedaitong.db import Application, Customer
from chedaitong.db.origination import Verification
from vendors.interfaces import LivenessResult
from webapp.services import EXTENSION

from .conftest import CUSTOMER_TOKENS, JPEG, file, new_application, register_customer


class SlowLiveness:
    """A liveness vendor that passes every selfie after ``delay`` seconds and counts calls
    (each one is charged by the real vendor)."""

    def __init__(self, delay: float):
        self.delay, self.calls = delay, 0
        self._lock = threading.Lock()

    def compare(self, request):
        with self._lock:
            self.calls += 1
            n = self.calls
        time.sleep(self.delay)
        return LivenessResult(request_id=f"lv-{n}", passed=True, score=0.97, threshold=0.8,
                              code="PASS", message="ok")


def _use(api, liveness) -> None:
    svc = api.extensions[EXTENSION]
    svc.vendors = dataclasses.replace(svc.vendors, liveness=liveness)


def _signed_application(api, staff, engine, seq: int) -> tuple[int, dict]:
    client = api.test_client()
    _, idn = register_customer(client, f"race-live-{seq}", seq)
    app_id = new_application(client, staff, "c1", idn)["id"]
    with Session(engine) as s:  # fast-forward plan → contract → signature (journey walks it)
        s.execute(update(Application).where(Application.id == app_id)
                  .values(state="contract_signed"))
        s.commit()
    return app_id, {"Authorization": f"Bearer {CUSTOMER_TOKENS[idn]}"}


def test_two_liveness_uploads_at_once_reach_the_vendor_once(api, staff, engine):
    """The app sends the selfie twice (a double tap): both passed the state check and both
    were charged by the liveness vendor; the loser's check was then rolled back with its 409.
    Now one upload holds the application while the vendor answers; the other is refused
    without a vendor call, and the one check made is the one stored."""
    app_id, me = _signed_application(api, staff, engine, 61)
    vendor = SlowLiveness(delay=0.5)
    _use(api, vendor)
    barrier = threading.Barrier(2)
    answers: list = []

    def upload(n: int) -> None:
        client = api.test_client()
        barrier.wait()
        r = client.post(f"/applications/{app_id}/liveness", headers=me,
                        content_type="multipart/form-data",
                        data={"selfie": file(JPEG + bytes([n]), "me.jpg")})
        answers.append((r.status_code, r.json))

    threads = [threading.Thread(target=upload, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    codes = sorted(code for code, _ in answers)
    assert codes == [201, 409], answers
    assert vendor.calls == 1
    with Session(engine) as s:
        kept = s.scalars(select(Verification).where(
            Verification.application_id == app_id, Verification.kind == "liveness")).all()
        assert [v.vendor_request_id for v in kept] == ["lv-1"]
        assert s.get(Application, app_id).state == "disbursement_review"
    loser = next(body for code, body in answers if code == 409)
    assert loser["current_state"] in ("contract_signed", "disbursement_review"), loser


def test_liveness_after_the_pass_is_409_without_a_vendor_call(api, staff, engine):
    app_id, me = _signed_application(api, staff, engine, 62)
    vendor = SlowLiveness(delay=0)
    _use(api, vendor)
    client = api.test_client()
    first = client.post(f"/applications/{app_id}/liveness", headers=me,
                        content_type="multipart/form-data",
                        data={"selfie": file(JPEG, "me.jpg")})
    assert first.status_code == 201 and first.json["passed"]
    again = client.post(f"/applications/{app_id}/liveness", headers=me,
                        content_type="multipart/form-data",
                        data={"selfie": file(JPEG, "me.jpg")})
    assert again.status_code == 409 and again.json["current_state"] == "disbursement_review"
    assert vendor.calls == 1
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Verification).where(
            Verification.application_id == app_id)) == 1



def test_a_profile_update_racing_the_submission_is_before_it_or_refused(api, staff, engine,
                                                                          monkeypatch):
    """The customer changes their income while the consultant submits. The update had
    checked "nothing is being decided" and then written the new income after the submission
    and its decision: 200 for an update the decision never saw. Now the submission waits for
    the update holding the customer (or the update waits and is refused): the decision sees
    the profile as it stands afterwards."""
    from decisioning.origination import profile

    client = api.test_client()
    token, idn = register_customer(client, "race-profile", 63)
    app_id = new_application(client, staff, "c1", idn, submit=False)["id"]
    svc = api.extensions[EXTENSION]
    seen: list[float | None] = []
    decide = svc.decisions.decide

    def decide_and_note(session, application, **kw):
        customer = session.get(Customer, application.customer_id)
        seen.append(svc.store.profile(customer).monthly_income)
        return decide(session, application, **kw)

    monkeypatch.setattr(svc.decisions, "decide", decide_and_note)
    checked, go = threading.Event(), threading.Event()
    original = profile.check_can_update

    def check_then_pause(session, customer):
        original(session, customer)
        checked.set()
        go.wait(10)

    monkeypatch.setattr(profile, "check_can_update", check_then_pause)
    answers: dict[str, object] = {}

    def update_income() -> None:
        r = api.test_client().patch("/customers/me/profile",
                                    headers={"Authorization": f"Bearer {token}"},
                                    json={"monthly_income": 30000})
        answers["update"] = r.status_code

    def submit() -> None:
        r = api.test_client().post(f"/applications/{app_id}/submit?wait=20",
                                   headers=staff.h("c1"))
        answers["submit"] = r.status_code

    updater = threading.Thread(target=update_income)
    updater.start()
    assert checked.wait(10)
    submitter = threading.Thread(target=submit)
    submitter.start()
    submitter.join(1.0)  # the old code submitted and decided here, under the update's feet
    go.set()
    updater.join(30)
    submitter.join(30)
    assert answers == {"update": 200, "submit": 200}, answers
    with Session(engine) as s:
        final = svc.store.profile(s.get(Customer, s.get(Application, app_id).customer_id))
    assert seen == [30000] and final.monthly_income == 30000


class CountingEsign:
    """The sandbox e-signature adapter, counting (and slowing) each signing call."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay, self.signs = inner, delay, 0
        self._lock = threading.Lock()

    def sign(self, request):
        with self._lock:
            self.signs += 1
        time.sleep(self.delay)
        return self.inner.sign(request)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_two_signatures_at_once_reach_the_e_signature_vendor_once(api, staff, engine):
    """A double tap on "sign": both requests passed the state check and both asked the
    e-signature vendor to sign (each signing is charged, and the loser's 409 came after its
    signature); now the second is refused before any vendor call."""
    client = api.test_client()
    _, idn = register_customer(client, "race-sign", 64)
    me = {"Authorization": f"Bearer {CUSTOMER_TOKENS[idn]}"}
    app_id = new_application(client, staff, "c1", idn)["id"]
    assert client.post(f"/applications/{app_id}/plan", headers=me, json={}).status_code == 200
    assert client.post(f"/applications/{app_id}/contract",
                       headers=staff.h("c1")).status_code == 201
    svc = api.extensions[EXTENSION]
    esign = CountingEsign(svc.vendors.esign, delay=0.5)
    svc.vendors = dataclasses.replace(svc.vendors, esign=esign)
    barrier = threading.Barrier(2)
    answers: list = []

    def sign() -> None:
        c = api.test_client()
        barrier.wait()
        r = c.post(f"/applications/{app_id}/contract/sign", headers=me,
                   json={"verification_code": "123456"})
        answers.append((r.status_code, r.json))

    threads = [threading.Thread(target=sign) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(code for code, _ in answers) == [200, 409], answers
    assert esign.signs == 1
    with Session(engine) as s:
        assert s.get(Application, app_id).state == "contract_signed"
