"""The seed's story over HTTP against the vendor sandbox, told once per role: admin onboards a
dealer → the customer uploads ID photos, confirms the identity with liveness, completes the
profile → its consultant files and the customer consents to that application → decision →
plan → contract → liveness → review → voucher → payout paid → pickup → documents → booked →
repayments by API → a missed payment → the collector works the case → the promise to pay is
honoured.

`Story` walks the steps; each test runs it to the end and asserts what its role did and saw.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from chedaitong.clock import LENDER_TIMEZONE, lender_today
from chedaitong.db import Customer, FeatureFact, Role, User
from chedaitong.db.origination import Voucher
from decisioning.origination.applications import CHECKLIST

from .conftest import APPLICATION, JPEG, PDF, add_admin, file, id_number

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
DEALER = {"code": "BJ4S01", "name": "北京望京奔驰4S店", "city": "北京", "province": "北京",
          "lat": 40.0, "lon": 116.47, "agreement_ref": "CDT-AGR-2026-001",
          "effective_from": "2026-01-01", "effective_to": None, "bank_name": "招商银行北京分行",
          "account_name": "北京望京汽车销售有限公司", "account_number": "6214830012345678"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def status_file(*rows: tuple[str, str, str, str]):
    body = "payout_ref,status,bank_ref,reason\n" + "".join(",".join(r) + "\n" for r in rows)
    return {"file": (io.BytesIO(body.encode()), "status.csv")}


def age_loan(engine, loan_ref: str, days: int) -> None:
    """Move a booked loan ``days`` into the past, as if that much time had gone by."""
    with engine.begin() as conn:
        loan_id = conn.execute(text("SELECT id FROM loans WHERE ref = :r"),
                               {"r": loan_ref}).scalar_one()
        for table, cols in (("loans", ("disbursed_on", "last_closed_date", "accrued_through")),
                            ("loan_installments", ("period_start", "due_date"))):
            key = "id" if table == "loans" else "loan_id"
            rows = conn.execute(text(f"SELECT id, {', '.join(cols)} FROM {table} "
                                     f"WHERE {key} = :l"), {"l": loan_id}).all()
            for row in rows:
                values = {c: date.fromisoformat(str(v)) - timedelta(days=days)
                          for c, v in zip(cols, row[1:], strict=True)}
                sets = ", ".join(f"{c} = :{c}" for c in cols)
                conn.execute(text(f"UPDATE {table} SET {sets} WHERE id = :id"),
                             {**values, "id": row[0]})


def _this_morning() -> str:
    """Today 07:30 lender time, or a second ago when the lender's day is younger than that (a
    tracker's fix is never in the future: the ingest refuses it)."""
    now = datetime.now(LENDER_TIMEZONE)
    return min(now.replace(hour=7, minute=30, second=0, microsecond=0),
               now - timedelta(seconds=1)).isoformat()


@dataclass
class Story:
    client: object
    staff: object
    engine: object
    sandbox: object
    seen: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def h(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who]) if who in self.tokens else self.staff.h(who)

    def partner(self, name: str, role: Role) -> None:
        """The admin requests the partner's account, a second admin activates it and is
        handed the token; the partner's server keeps it."""
        r = self.client.post("/admin/users", headers=self.h("ad"), json={
            "username": name, "display_name": name, "role": role.value})
        assert r.status_code == 201 and r.json["role"] == role.value, r.json
        assert r.json["activation"] == "pending" and "token" not in r.json
        checker = "ad-checker"
        if checker not in self.staff.tokens:
            add_admin(self.engine, self.staff, checker)
        r = self.client.post(f"/admin/users/{r.json['user_id']}/activation",
                             headers=self.h(checker), json={"decision": "approve"})
        assert r.status_code == 200 and r.json["activation"] == "activated", r.json
        self.tokens[name] = r.json["token"]

    # ---- admin ----------------------------------------------------------------------------
    def onboard(self) -> None:
        c = self.client
        r = c.post("/admin/dealers", headers=self.h("ad"), json=DEALER)
        assert r.status_code == 201, r.json
        dealer = r.json
        # the first payout account waits for a second admin: none is approved yet
        change = dealer["pending_account_change"]
        assert dealer["status"] == "active" and dealer["account_masked"] is None
        assert change["kind"] == "first" and change["account_masked"].endswith("5678")
        assert DEALER["account_number"] not in r.get_data(as_text=True)
        worklist = c.get("/admin/dealers/account-changes", headers=self.h("ad")).json
        assert [(w["id"], w["dealer_id"]) for w in worklist] == [(change["id"], dealer["id"])]
        assert DEALER["account_number"] not in str(worklist)
        decide = f"/admin/dealers/{dealer['id']}/account-changes/{change['id']}/decision"
        r = c.post(decide, headers=self.h("ad"), json={"decision": "approve"})
        assert r.status_code == 403 and "four eyes" in r.json["message"], r.json
        r = c.post(decide, headers=self.h(add_admin(self.engine, self.staff)),
                   json={"decision": "approve", "note": "agreement checked"})
        assert r.status_code == 200 and r.json["status"] == "approved", r.json
        dealer = c.get(f"/admin/dealers/{dealer['id']}", headers=self.h("ad")).json
        assert dealer["account_masked"].endswith("5678") and not dealer["pending_account_change"]
        r = c.post(f"/admin/dealers/{dealer['id']}/consultants", headers=self.h("ad"),
                   json={"username": "wangfang", "display_name": "王芳"})
        assert r.status_code == 201, r.json
        self.tokens["consultant"] = r.json["token"]
        self.seen.update(dealer=dealer, consultant_id=r.json["id"])

    # ---- customer -------------------------------------------------------------------------
    def customer_prepares(self) -> None:
        c = self.client
        r = c.post("/customers/register", json={"username": "zhangwei", "display_name": "张伟"})
        assert r.status_code == 201
        self.tokens["customer"] = r.json["token"]
        me = self.h("customer")
        idn = id_number(21)
        r = c.put("/customers/me/profile", headers=me, json={
            "name": "张伟", "id_number": idn, "phone": "13800138021",
            "birth_date": f"{idn[6:10]}-{idn[10:12]}-{idn[12:14]}",
            "home_lat": 39.99, "home_lon": 116.48, "home_city": "北京", "home_province": "北京",
            "device_id": "dev-21"})
        assert r.status_code == 201, r.json
        r = c.post("/customers/me/id-card", headers=me, content_type="multipart/form-data",
                   data={"front": (io.BytesIO(JPEG + b"front"), "front.jpg"),
                         "back": (io.BytesIO(PNG + b"back"), "back.png")})
        assert r.status_code == 201, r.json
        assert r.json["kind"] == "id_card" and r.json["passed"], r.json
        # the ID number is the customer's once the photos' check and a liveness both passed
        assert self.identity_status() == "pending"
        for attempt in range(12):
            r = c.post("/customers/me/liveness", headers=me, content_type="multipart/form-data",
                       data={"selfie": file(JPEG + b"register" + bytes([attempt]), "me.jpg")})
            assert r.status_code == 201, r.json
            if r.json["passed"]:
                break
        assert self.identity_status() == "verified"
        # the first profile skipped income and contacts: completed before the application
        r = c.patch("/customers/me/profile", headers=me, json={
            "monthly_income": 22000, "emergency_contacts": [
                {"relation": "spouse", "name": "李娜", "phone": "13900139021"}]})
        assert r.status_code == 200, r.json
        assert set(r.json["changed"]) == {"monthly_income", "emergency_contacts"}
        assert "13900139021" not in r.get_data(as_text=True)
        self.seen.update(id_number=idn)

    def identity_status(self) -> str:
        with Session(self.engine) as s:
            return s.scalars(select(Customer.identity_status).join(
                User, User.id == Customer.user_id).where(User.username == "zhangwei")).one()

    # ---- consultant -----------------------------------------------------------------------
    def consultant_files(self) -> None:
        c, h = self.client, self.h("consultant")
        r = c.post("/applications", headers=h, json={**APPLICATION,
                                                     "id_number": self.seen["id_number"]})
        assert r.status_code == 201, r.json
        app_id = r.json["id"]
        # the customer confirms the order in the user app and consents to the credit inquiries
        r = c.post(f"/applications/{app_id}/consent", headers=self.h("customer"),
                   json={"text_version": "v1"})
        assert r.status_code == 201, r.json
        mine = c.get("/applications", headers=self.h("customer")).json["items"]
        assert [(o["id"], o["customer_confirmed"]) for o in mine] == [(app_id, True)]
        assert c.post(f"/applications/{app_id}/authorization", headers=h, data={"file": file()},
                      content_type="multipart/form-data").status_code == 201
        r = c.post(f"/applications/{app_id}/submit?wait=20", headers=h)
        assert r.status_code == 200 and r.json["state"] == "approved", r.json
        self.seen["app_id"] = app_id

    def plan_contract_liveness(self) -> None:
        c, me, h, app_id = self.client, self.h("customer"), self.h("consultant"), \
            self.seen["app_id"]
        assert c.post(f"/applications/{app_id}/plan", headers=me, json={}).status_code == 200
        assert c.post(f"/applications/{app_id}/contract", headers=h).status_code == 201
        r = c.post(f"/applications/{app_id}/contract/sign", headers=me,
                   json={"verification_code": "123456"})
        assert r.status_code == 200 and r.json["status"] == "signed"
        for attempt in range(12):
            r = c.post(f"/applications/{app_id}/liveness", headers=me,
                       content_type="multipart/form-data",
                       data={"selfie": file(JPEG + bytes([attempt]), "me.jpg")})
            assert r.status_code == 201, r.json
            if r.json["passed"]:
                break
        assert c.get(f"/applications/{app_id}", headers=me).json["state"] == \
            "disbursement_review"

    # ---- reviewer and admin: voucher and payout --------------------------------------------
    def review_and_pay(self) -> None:
        c, app_id = self.client, self.seen["app_id"]
        r = c.post(f"/reviews/{app_id}", headers=self.h("r1"),
                   json={"decision": "approve", "notes": "资料齐全 documents in order"})
        assert r.status_code == 201 and r.json["state"] == "disbursed", r.json
        voucher = c.get(f"/applications/{app_id}/voucher", headers=self.h("consultant")).json
        pending = c.get("/payouts?status=pending", headers=self.h("r1")).json
        assert [p["application_id"] for p in pending] == [app_id]
        payout = pending[0]
        assert payout["amount"] == voucher["amount"] == "150000.00"
        assert payout["dealer_code"] == DEALER["code"]
        r = c.post("/payouts/export", headers=self.h("ad"), json={})
        assert r.status_code == 201 and r.json["count"] == 1, r.json
        bank_file = r.json["content"]
        assert payout["ref"] in bank_file and DEALER["account_number"] in bank_file
        r = c.post("/payouts/reconcile", headers=self.h("ad"), content_type="multipart/form-data",
                   data=status_file((payout["ref"], "paid", "CMB20261202001", "")))
        assert r.status_code == 200 and r.json["paid"] == 1, r.json
        self.seen.update(voucher=voucher, payout=c.get(f"/payouts/{payout['id']}",
                                                       headers=self.h("r1")).json)

    # ---- consultant: pickup and documents ---------------------------------------------------
    def pickup_and_documents(self) -> None:
        c, h, app_id = self.client, self.h("consultant"), self.seen["app_id"]
        assert c.post(f"/applications/{app_id}/pickup", headers=h).json["state"] == "picked_up"
        for kind in CHECKLIST:
            r = c.post(f"/applications/{app_id}/documents/{kind}", headers=h,
                       data={"file": file(PDF + kind.encode())},
                       content_type="multipart/form-data")
            assert r.status_code == 201, r.json
        final = c.get(f"/applications/{app_id}", headers=h).json
        assert final["state"] == "booked" and final["loan_ref"], final
        self.seen["loan_ref"] = final["loan_ref"]

    # ---- time passes: repayments by API and a missed payment -------------------------------
    def repayments_and_missed_payment(self) -> None:
        c = self.client
        self.partner("unionpay", Role.PAYMENT_CHANNEL)
        self.partner("tracker", Role.VEHICLE_TRACKER)
        age_loan(self.engine, self.seen["loan_ref"], 70)  # installment 2 fell due ~10 days ago
        loan = self.collector_case_by_ref()
        first = loan["schedule"][0]
        notice = {"reference": "UP-0001", "loan_ref": self.seen["loan_ref"],
                  "amount": first["due"], "paid_on": first["due_date"]}
        r = c.post("/ingest/repayments", headers=self.h("unionpay"),
                   json={"notifications": [notice]})
        assert r.status_code == 200 and r.json["results"][0]["status"] == "posted", r.json
        again = c.post("/ingest/repayments", headers=self.h("unionpay"),
                       json={"notifications": [notice]})
        assert again.json["results"][0]["status"] == "already_posted"
        today = lender_today()
        r = c.post("/ingest/vehicle-positions", headers=self.h("tracker"), json={"positions": [
            {"loan_ref": self.seen["loan_ref"], "event_time": f"{today - timedelta(days=1)}"
             "T08:00:00+08:00", "lat": 39.98, "lon": 116.47, "province": "北京"},
            {"loan_ref": self.seen["loan_ref"], "event_time": _this_morning(),
             "lat": 31.23, "lon": 121.47, "province": "上海", "speed_kmh": 88.0}]})
        assert r.status_code == 201 and r.json == {"stored": 2, "duplicates": 0, "loans": 1}

    def collector_case_by_ref(self) -> dict:
        with self.engine.connect() as conn:
            loan_id = conn.execute(text("SELECT id FROM loans WHERE ref = :r"),
                                   {"r": self.seen["loan_ref"]}).scalar_one()
        self.seen["loan_id"] = loan_id
        return self.client.get(f"/collections/cases/{loan_id}", headers=self.h("co")).json

    # ---- collector ------------------------------------------------------------------------
    def collector_works_the_case(self) -> None:
        c, h = self.client, self.h("co")
        work = c.get("/collections/cases", headers=h).json
        assert [w["loan_ref"] for w in work] == [self.seen["loan_ref"]]
        item = work[0]
        assert 5 <= item["dpd"] <= 15 and Decimal(item["overdue"]) > 0
        case = c.get(f"/collections/cases/{item['loan_id']}", headers=h)
        body = case.get_data(as_text=True)
        assert self.seen["id_number"] not in body and "13800138021" not in body
        assert "13900139021" not in body and case.json["customer"]["emergency_contacts"][0][
            "relation"] == "spouse"
        r = c.post(f"/collections/cases/{item['loan_id']}/call", headers=h)
        assert r.status_code == 201 and r.json["outcome"] == "reached", r.json
        promised = lender_today() + timedelta(days=3)
        r = c.post(f"/collections/cases/{item['loan_id']}/outcomes", headers=h, json={
            "outcome": "promise_to_pay", "promise_date": promised.isoformat(),
            "promise_amount": item["overdue"], "note": "工资周五到账 salary arrives Friday"})
        assert r.status_code == 201, r.json
        work = c.get("/collections/cases", headers=h).json
        assert work[0]["promise"]["status"] == "open"
        self.seen["overdue"] = item["overdue"]

    def promise_honoured(self) -> None:
        c = self.client
        r = c.post("/ingest/repayments", headers=self.h("unionpay"), json={"notifications": [
            {"reference": "UP-0002", "loan_ref": self.seen["loan_ref"],
             "amount": self.seen["overdue"], "paid_on": lender_today().isoformat()}]})
        assert r.json["results"][0]["status"] == "posted", r.json
        case = c.get(f"/collections/cases/{self.seen['loan_id']}", headers=self.h("co")).json
        assert case["promises"][0]["status"] == "kept" and case["dpd"] == 0
        assert c.get("/collections/cases", headers=self.h("co")).json == []

    def tell(self) -> Story:
        for step in (self.onboard, self.customer_prepares, self.consultant_files,
                     self.plan_contract_liveness, self.review_and_pay, self.pickup_and_documents,
                     self.repayments_and_missed_payment, self.collector_works_the_case,
                     self.promise_honoured):
            step()
        return self


@pytest.fixture
def story(api, staff, engine, sandbox) -> Story:
    return Story(api.test_client(), staff, engine, sandbox).tell()


def test_admin_onboards_the_dealer_suspends_it_and_sees_the_audit_trail(story):
    c, ad = story.client, story.h("ad")
    dealer_id = story.seen["dealer"]["id"]
    assert c.get(f"/admin/dealers/{dealer_id}", headers=ad).json["consultants"][0][
        "username"] == "wangfang"
    r = c.patch(f"/admin/dealers/{dealer_id}", headers=ad,
                json={"status": "suspended", "reason": "agreement under review"})
    assert r.status_code == 200 and r.json["status"] == "suspended"
    r = c.post("/applications", headers=story.h("consultant"),
               json={**APPLICATION, "id_number": story.seen["id_number"]})
    assert r.status_code == 409 and r.json["dealer_status"] == "suspended"
    assert c.patch(f"/admin/dealers/{dealer_id}", headers=ad,
                   json={"status": "active"}).json["status"] == "active"
    assert c.patch(f"/admin/dealers/{dealer_id}", headers=ad,
                   json={"effective_to": "2025-12-31"}).status_code == 422
    ended = (lender_today() - timedelta(days=1)).isoformat()
    assert c.patch(f"/admin/dealers/{dealer_id}", headers=ad,
                   json={"effective_to": ended}).json["status"] == "expired"
    r = c.post("/applications", headers=story.h("consultant"),
               json={**APPLICATION, "id_number": story.seen["id_number"]})
    assert r.status_code == 409 and r.json["dealer_status"] == "expired"
    assert c.patch(f"/admin/dealers/{dealer_id}", headers=ad,
                   json={"effective_to": None}).json["status"] == "active"
    r = c.patch(f"/admin/consultants/{story.seen['consultant_id']}", headers=ad,
                json={"active": False})
    assert r.status_code == 200 and not r.json["active"]
    assert c.get("/applications", headers=story.h("consultant")).status_code == 401
    actions = [e["action"] for e in c.get("/admin/audit", headers=ad).json]
    assert {"dealer.onboard", "consultant.invite", "dealer.update", "consultant.deactivate",
            "payout.export", "payout.paid"} <= set(actions)
    assert c.post("/admin/dealers", headers=ad, json=DEALER).status_code == 409
    assert c.post("/admin/dealers", headers=story.h("r1"), json=DEALER).status_code == 403


def test_customer_completed_the_file_with_photos_and_contacts_kept_encrypted(story, settings):
    c, me = story.client, story.h("customer")
    history = c.get("/customers/me/profile/history", headers=me).json
    assert [set(h["fields"]) for h in history] == [{"monthly_income", "emergency_contacts"}]
    r = c.patch("/customers/me/profile", headers=me, json={"monthly_income": 30000})
    assert r.status_code == 200  # booked: nothing is being decided on the profile any more
    # the photos are on disk encrypted: neither image's bytes appear anywhere in the store
    stored = b"".join(p.read_bytes() for p in (settings.var_dir / "uploads").rglob("*")
                      if p.is_file())
    assert JPEG + b"front" not in stored and PNG + b"back" not in stored
    checks = c.get("/customers/me", headers=me).json["checks"]
    assert checks["id_card"] is True


def test_consultant_files_for_the_onboarded_dealer_and_completes_the_file(story):
    c, h = story.client, story.h("consultant")
    orders = c.get("/applications", headers=h).json
    assert [o["id"] for o in orders["items"]] == [story.seen["app_id"]]
    assert orders["items"][0]["state"] == "booked"
    assert c.get(f"/applications/{story.seen['app_id']}", headers=story.h("c1")).status_code \
        == 404  # another dealer's consultant


def test_reviewer_sees_the_payout_paid_and_a_failed_one_never_reissues_the_voucher(story):
    c = story.client
    payout = story.seen["payout"]
    assert payout["status"] == "paid" and payout["bank_ref"] == "CMB20261202001"
    assert c.get("/payouts?status=paid", headers=story.h("r1")).json[0]["id"] == payout["id"]
    # replaying the status file changes nothing; a contradicting line is refused
    r = c.post("/payouts/reconcile", headers=story.h("ad"), content_type="multipart/form-data",
               data=status_file((payout["ref"], "paid", "CMB20261202001", ""),
                                (payout["ref"], "failed", "", "account closed")))
    assert r.json["unchanged"] == 1 and r.json["paid"] == 0 and len(r.json["errors"]) == 1
    assert c.post(f"/payouts/{payout['id']}/retry", headers=story.h("ad")).status_code == 409
    with Session(story.engine) as s:
        assert s.query(Voucher).count() == 1


def test_payment_channel_and_tracker_can_only_ingest(story):
    c = story.client
    for who in ("unionpay", "tracker"):
        assert c.get("/applications", headers=story.h(who)).status_code == 403
        assert c.get("/collections/cases", headers=story.h(who)).status_code == 403
    assert c.post("/ingest/vehicle-positions", headers=story.h("unionpay"),
                  json={"positions": [{}]}).status_code == 403
    r = c.post("/ingest/vehicle-positions", headers=story.h("tracker"), json={"positions": [
        {"loan_ref": story.seen["loan_ref"], "event_time": "2026-11-01T08:00:00+08:00",
         "lat": 39.9, "lon": 116.4, "province": "北京"},
        {"loan_ref": "LN-NOPE", "event_time": "2026-11-01T08:00:00+08:00", "lat": 95,
         "lon": 116.4, "province": "北京"}]})
    assert r.status_code == 422
    errors = r.json["errors"]["json"]["positions"]
    assert set(errors["1"]) == {"lat", "loan_ref"} and "0" not in errors
    r = c.post("/ingest/repayments", headers=story.h("unionpay"), json={"notifications": [
        {"reference": "UP-9", "loan_ref": "LN-NOPE", "amount": "10.00",
         "paid_on": "2026-11-01"},
        {"reference": "UP-10", "loan_ref": story.seen["loan_ref"], "amount": "10.001",
         "paid_on": "2026-11-01"}]})
    assert r.status_code == 422 and "amount" in str(r.json["errors"])
    r = c.post("/ingest/repayments", headers=story.h("unionpay"), json={"notifications": [
        {"reference": "UP-9", "loan_ref": "LN-NOPE", "amount": "10.00",
         "paid_on": "2026-11-01"},
        {"reference": "UP-11", "loan_ref": story.seen["loan_ref"], "amount": "10.00",
         "paid_on": (lender_today() + timedelta(days=2)).isoformat()}]})
    assert [(x["status"], x["reason"]) for x in r.json["results"]] == [
        ("rejected", "unknown loan"), ("rejected", "paid_on is in the future")]


def test_a_channel_reference_reused_for_another_payment_is_rejected_not_already_posted(story):
    """The first posting won whatever came next: the same reference with another amount (or
    loan, or date) answered already_posted, so the channel took a payment nobody posted."""
    c, loan_ref = story.client, story.seen["loan_ref"]
    first = c.post("/ingest/repayments", headers=story.h("unionpay"), json={"notifications": [
        {"reference": "UP-0001", "loan_ref": loan_ref, "amount": "1.00",
         "paid_on": lender_today().isoformat()}]}).json["results"][0]
    assert first["status"] == "rejected", first
    assert "UP-0001" in first["reason"] and "another payment" in first["reason"]
    assert "1.00" not in [r["amount"] for r in story.collector_case_by_ref()["repayments"]]


def test_collector_worked_the_case_and_the_promise_was_kept(story):
    c, h = story.client, story.h("co")
    case = c.get(f"/collections/cases/{story.seen['loan_id']}", headers=h).json
    outcomes = [(x["channel"], x["outcome"]) for x in case["contacts"]]
    assert outcomes == [("outbound_call", "reached"), ("call", "promise_to_pay")]
    assert [r["source"] for r in case["repayments"]] == ["channel:unionpay"] * 2
    calls = httpx.get(f"{story.sandbox.base_url}/_admin/records/phone_calls").json()
    assert calls and calls[-1]["case_ref"] == story.seen["loan_ref"]
    assert "13800138021" not in str(calls)  # the sandbox's record is masked too
    with Session(story.engine) as s:  # what the next night's rules read (promise_to_pay_open)
        promised = s.scalars(select(FeatureFact).where(
            FeatureFact.source == "collections")).all()
        assert [f.kind for f in promised] == ["promise_to_pay"]
    for who in ("c1", "r1", "an", "customer"):
        assert c.get("/collections/cases", headers=story.h(who)).status_code == 403


def test_the_nightly_phone_tasks_are_rung_by_the_worker_unless_a_promise_is_open(story, api):
    from chedaitong.db.servicing import PostloanAction
    from decisioning.collections import dispatch_phone_tasks
    from webapp.services import EXTENSION

    today, loan_id = lender_today(), story.seen["loan_id"]
    with Session(story.engine) as s:
        s.add(PostloanAction(loan_id=loan_id, as_of=today - timedelta(days=1),
                             action="phone_task", rule_ids=["PL_OVERDUE_CALL"], dpd=9,
                             bucket="M1", status="queued"))
        s.commit()
        services = api.extensions[EXTENSION]
        assert dispatch_phone_tasks(session=s, services=services, as_of=today) == {
            "called": 1, "skipped_promise": 0, "failed": 0}
        assert dispatch_phone_tasks(session=s, services=services, as_of=today)["called"] == 0
    r = story.client.post(f"/collections/cases/{loan_id}/outcomes", headers=story.h("co"),
                          json={"outcome": "promise_to_pay", "promise_amount": "500.00",
                                "promise_date": (today + timedelta(days=5)).isoformat()})
    assert r.status_code == 201
    with Session(story.engine) as s:
        s.add(PostloanAction(loan_id=loan_id, as_of=today, action="phone_task",
                             rule_ids=["PL_HIGH_PD_OVERDUE"], dpd=1, bucket="M1",
                             status="queued"))
        s.commit()
        # recording the outcome closed nothing new; tonight's task meets an open promise
        assert dispatch_phone_tasks(session=s, services=api.extensions[EXTENSION],
                                    as_of=today) == {"called": 0, "skipped_promise": 1,
                                                     "failed": 0}
    case = story.client.get(f"/collections/cases/{loan_id}", headers=story.h("co")).json
    assert [c["channel"] for c in case["contacts"]].count("outbound_call") == 2
    assert case["open_tasks"] == []


def test_a_gps_alert_on_a_current_loan_reaches_the_collector(story):
    from chedaitong.db.servicing import PostloanAction

    c, h, loan_id = story.client, story.h("co"), story.seen["loan_id"]
    assert c.get("/collections/cases", headers=h).json == []  # current again
    with Session(story.engine) as s:
        s.add(PostloanAction(loan_id=loan_id, as_of=lender_today(), action="gps_alert",
                             rule_ids=["PL_OUT_OF_PROVINCE"], dpd=0, bucket="M0",
                             status="queued"))
        s.commit()
    work = c.get("/collections/cases", headers=h).json
    assert [(w["loan_id"], w["open_tasks"], w["dpd"]) for w in work] == [
        (loan_id, ["gps_alert"], 0)]
    r = c.post(f"/collections/cases/{loan_id}/outcomes", headers=h,
               json={"outcome": "reached", "note": "出差上海 on a business trip"})
    assert r.status_code == 201
    assert c.get("/collections/cases", headers=h).json == []


def test_an_outbound_call_outage_fails_the_task_and_the_next_run_rings(story, api):
    from chedaitong.db.servicing import PostloanAction
    from decisioning.collections import dispatch_phone_tasks
    from webapp.services import EXTENSION

    today, loan_id = lender_today(), story.seen["loan_id"]
    admin = f"{story.sandbox.base_url}/_admin/outage"
    with Session(story.engine) as s:
        task = PostloanAction(loan_id=loan_id, as_of=today, action="phone_task",
                              rule_ids=["PL_OVERDUE_CALL"], dpd=9, bucket="M1",
                              status="queued")
        s.add(task)
        s.commit()
        services = api.extensions[EXTENSION]
        httpx.post(admin, json={"vendor": "outbound_call", "down": True})
        try:
            assert dispatch_phone_tasks(session=s, services=services, as_of=today)[
                "failed"] == 1
            r = story.client.post(f"/collections/cases/{loan_id}/call", headers=story.h("co"))
            assert r.status_code == 502
        finally:
            httpx.post(admin, json={"vendor": "outbound_call", "down": False})
        s.refresh(task)
        assert task.status == "failed"
        for _ in range(25):  # the test adapters' breaker stays open 0.4 s, then probes
            time.sleep(0.2)
            if dispatch_phone_tasks(session=s, services=services, as_of=today)["called"]:
                break
        s.refresh(task)
        assert task.status == "sent" and task.vendor_ref


class GatedCalls:
    """The sandbox outbound-call adapter, counting its calls and holding each until
    ``release`` (a ringing phone takes a while to answer)."""

    def __init__(self, inner):
        self.inner, self.places = inner, 0
        self.ringing, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()

    def place(self, request):
        with self._lock:
            self.places += 1
        self.ringing.set()
        self.release.wait(8)
        return self.inner.place(request)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_one_case_called_twice_at_once_rings_the_borrower_once(story, api):
    """A collector's double click (or two collectors on one case): both requests counted the
    loan's contacts, so both asked the call vendor — two calls to the borrower, the second's
    key either a replay or a second ring. Now the loan's call is claimed first: the second
    request is refused (409) while the first rings, and one contact is logged."""
    import dataclasses

    from chedaitong.db.partners import CollectionContact
    from webapp.services import EXTENSION

    loan_id = story.seen["loan_id"]
    svc = api.extensions[EXTENSION]
    calls = GatedCalls(svc.vendors.outbound_call)
    svc.vendors = dataclasses.replace(svc.vendors, outbound_call=calls)
    with Session(story.engine) as s:
        before = len(s.scalars(select(CollectionContact).where(
            CollectionContact.loan_id == loan_id)).all())
    first: dict = {}
    caller = threading.Thread(target=lambda: first.update(r=api.test_client().post(
        f"/collections/cases/{loan_id}/call", headers=story.h("co"))))
    caller.start()
    try:
        assert calls.ringing.wait(10)
        second = story.client.post(f"/collections/cases/{loan_id}/call", headers=story.h("ad"))
    finally:
        calls.release.set()
        caller.join(30)
    assert second.status_code == 409 and "in progress" in second.json["message"], second.json
    assert first["r"].status_code == 201, first["r"].json
    assert calls.places == 1
    with Session(story.engine) as s:
        assert len(s.scalars(select(CollectionContact).where(
            CollectionContact.loan_id == loan_id)).all()) == before + 1
    again = story.client.post(f"/collections/cases/{loan_id}/call", headers=story.h("co"))
    assert again.status_code == 201 and calls.places == 2  # the next call is a new one
