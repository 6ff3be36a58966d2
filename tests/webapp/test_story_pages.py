"""The back-office pages of the story: an admin onboards and suspends a dealer and invites its
consultant, reconciles a payout, and a collector records a promise to pay — each through the
same domain functions as the API, with CSRF and masking."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from chedaitong.clock import lender_today

from .conftest import add_admin
from .test_story import DEALER, Story


def csrf(client, path: str) -> str:
    body = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', body).group(1)


def signed_in(api, staff, who: str):
    client = api.test_client()
    r = client.post("/pages/login", data={"username": who, "token": staff.tokens[who],
                                          "csrf": csrf(client, "/pages/login")})
    assert r.status_code == 302
    return client


def test_admin_onboards_suspends_and_invites_through_the_pages(api, staff):
    ad = signed_in(api, staff, "ad")
    form = {**{k: v for k, v in DEALER.items() if v is not None and k not in ("lat", "lon")},
            "csrf": csrf(ad, "/pages/dealers")}
    assert ad.post("/pages/dealers", data={**form, "csrf": "forged"}).status_code == 400
    r = ad.post("/pages/dealers", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)[:400]
    page = ad.get(r.location).get_data(as_text=True)
    assert "CDT-AGR-2026-001" in page and DEALER["account_number"] not in page
    assert "5678" in page
    token = csrf(ad, r.location)
    ad.post(r.location, data={"csrf": token, "action": "invite", "username": "lihua",
                              "display_name": "李华"})
    ad.post(r.location, data={"csrf": token, "action": "suspend", "reason": "review"})
    page = ad.get(r.location).get_data(as_text=True)
    assert 'id="status">suspended' in page and "lihua" in page and "dealer.update" in page
    legacy = f"/pages/dealers/{staff.dealers['DA']}"  # a dealer from before onboarding
    r = ad.post(legacy, data={"csrf": token, "action": "agreement", "agreement_ref": "AGR-DA",
                              "effective_from": "2026-01-01", "bank_name": "工商银行",
                              "account_name": "4S DA", "account_number": "6222000011112222"})
    assert r.status_code == 302
    page = ad.get(legacy).get_data(as_text=True)
    assert "AGR-DA" in page and "2222" in page and "6222000011112222" not in page
    r1 = signed_in(api, staff, "r1")
    assert r1.post(r.location, data={"csrf": csrf(r1, r.location),
                                     "action": "activate"}).status_code == 403


def _to_a_missed_payment(api, staff, engine, sandbox) -> Story:
    """The story from onboarding through a booked loan's first missed payment."""
    story = Story(api.test_client(), staff, engine, sandbox)
    for step in (story.onboard, story.customer_prepares, story.consultant_files,
                 story.plan_contract_liveness, story.review_and_pay, story.pickup_and_documents,
                 story.repayments_and_missed_payment):
        step()
    return story


def test_payouts_and_the_collectors_case_through_the_pages(api, staff, engine, sandbox):
    story = _to_a_missed_payment(api, staff, engine, sandbox)
    ad = signed_in(api, staff, "ad")
    page = ad.get("/pages/payouts").get_data(as_text=True)
    assert story.seen["payout"]["ref"] in page and "paid 1" in page
    page = ad.get(f"/pages/vouchers?number={story.seen['voucher']['number']}").get_data(
        as_text=True)
    assert story.seen["payout"]["ref"] in page and ">paid<" in page
    r = ad.post("/pages/payouts", data={"csrf": csrf(ad, "/pages/payouts"),
                                        "action": "export"})
    assert r.status_code == 200 and r.mimetype == "text/csv"  # nothing pending: header only
    bad = ad.post("/pages/payouts", content_type="multipart/form-data", data={
        "csrf": csrf(ad, "/pages/payouts"), "action": "reconcile",
        "file": (io.BytesIO(b"payout_ref,status\nPO-NOPE,paid\n"), "s.csv")})
    assert bad.status_code == 302
    assert "1 errors" in ad.get("/pages/payouts").get_data(as_text=True)
    r = ad.post("/pages/payouts", data={"csrf": csrf(ad, "/pages/payouts"), "action": "sync"})
    assert r.status_code == 302
    assert "0 sent, 0 paid, 0 failed, 0 errors" in ad.get("/pages/payouts").get_data(
        as_text=True)

    co = signed_in(api, staff, "co")
    work = co.get("/pages/collections").get_data(as_text=True)
    assert story.seen["loan_ref"] in work and story.seen["id_number"] not in work
    case_url = f"/pages/collections/{story.seen['loan_id']}"
    page = co.get(case_url).get_data(as_text=True)
    assert "13800138021" not in page and "13900139021" not in page and "spouse" in page
    promised = (lender_today() + timedelta(days=2)).isoformat()
    r = co.post(case_url, data={"csrf": csrf(co, case_url), "action": "outcome",
                                "outcome": "promise_to_pay", "promise_date": promised,
                                "promise_amount": "100.00", "note": "周五"})
    assert r.status_code == 302
    page = co.get(case_url).get_data(as_text=True)
    assert f"承诺 {promised}: open" in page
    assert signed_in(api, staff, "r1").get(case_url).status_code == 403


def test_a_payout_account_changed_on_the_page_waits_for_another_admin(api, staff, engine):
    """The agreement form changed the payout account at once; now it files a pending change
    the page shows masked, which its requester cannot approve and a second admin can."""
    ad, url = signed_in(api, staff, "ad"), f"/pages/dealers/{staff.dealers['DA']}"
    form = {"action": "agreement", "agreement_ref": "AGR-DA", "effective_from": "2026-01-01",
            "bank_name": "工商银行", "account_name": "4S DA", "account_number": "6222000011112222"}
    ad.post(url, data={**form, "csrf": csrf(ad, url)})
    page = ad.get(url).get_data(as_text=True)
    assert 'id="pending-account"' in page and "No payout leaves before approval" in page
    assert "6222000011112222" not in page and "2222" in page
    assert "account to approve" in ad.get("/pages/dealers").get_data(as_text=True)
    change_id = re.search(r'name="change_id" value="(\d+)"', page).group(1)
    decide = {"change_id": change_id, "action": "account_approve"}
    ad.post(url, data={**decide, "csrf": csrf(ad, url)})
    page = ad.get(url).get_data(as_text=True)
    assert "four eyes" in page and 'id="pending-account"' in page
    ad2 = signed_in(api, staff, add_admin(engine, staff))
    ad2.post(url, data={**decide, "csrf": csrf(ad2, url)})
    page = ad2.get(url).get_data(as_text=True)
    assert 'id="pending-account"' not in page and ": approved" in page
    assert "dealer.account_approved" in page and "6222000011112222" not in page
    assert "account to approve" not in ad.get("/pages/dealers").get_data(as_text=True)


def test_the_dealer_pages_refuse_a_payout_account_in_full_width_digits(api, staff):
    """The page checked ``str.isdigit``, true for full-width digits no bank file takes."""
    ad = signed_in(api, staff, "ad")
    wide = "".join(chr(0xFF10 + int(c)) for c in DEALER["account_number"])
    form = {**{k: v for k, v in DEALER.items() if v is not None and k not in ("lat", "lon")},
            "account_number": wide, "csrf": csrf(ad, "/pages/dealers")}
    r = ad.post("/pages/dealers", data=form)
    assert r.status_code == 200 and "account_number: 8-30 digits" in r.get_data(as_text=True)
    legacy = f"/pages/dealers/{staff.dealers['DA']}"
    ad.post(legacy, data={"csrf": form["csrf"], "action": "agreement", "agreement_ref": "A-1",
                          "effective_from": "2026-01-01", "bank_name": "工商银行",
                          "account_name": "4S DA", "account_number": wide})
    assert "account_number: 8-30 digits" in ad.get(legacy).get_data(as_text=True)


def test_an_id_in_a_page_form_beyond_the_databases_range_is_an_error_not_a_500(api, staff):
    """The payout retry and the consultant (de)activation read the id with int(): twenty
    digits overflowed the driver (500) where a path id is 404."""
    ad = signed_in(api, staff, "ad")
    dealer = f"/pages/dealers/{staff.dealers['DA']}"
    for url, form in (("/pages/payouts", {"action": "retry"}),
                      (dealer, {"action": "deactivate"})):
        for value in ("99999999999999999999", "x"):
            field = "payout_id" if url == "/pages/payouts" else "user_id"
            r = ad.post(url, data={**form, field: value, "csrf": csrf(ad, url)})
            assert r.status_code == 302, (url, value, r.status_code)
            assert "error" in ad.get(r.location).get_data(as_text=True)


def test_a_promised_amount_the_page_cannot_store_is_named(api, staff, engine, sandbox):
    """The collector's page passed the typed amount straight on: NaN raised in the
    comparison (500), 1e20 overflowed the column on PostgreSQL, 0.001 was rounded away."""
    story = _to_a_missed_payment(api, staff, engine, sandbox)
    co = signed_in(api, staff, "co")
    case_url = f"/pages/collections/{story.seen['loan_id']}"
    promised = (lender_today() + timedelta(days=2)).isoformat()
    for amount in ("NaN", "1e20", "0.001", "-5"):
        r = co.post(case_url, data={"csrf": csrf(co, case_url), "action": "outcome",
                                    "outcome": "promise_to_pay", "promise_date": promised,
                                    "promise_amount": amount})
        assert r.status_code == 302, (amount, r.status_code)
        page = co.get(case_url).get_data(as_text=True)
        assert "promise_amount" in page and "Outcome recorded" not in page, amount


def test_an_invited_consultants_token_is_shown_in_the_page_never_kept_in_the_cookie(api, staff):
    """The invitation flashed the first token: flashes live in the session cookie, which is
    signed, not encrypted — the bearer token travelled in a cookie until the next page."""
    ad = signed_in(api, staff, "ad")
    url = f"/pages/dealers/{staff.dealers['DA']}"
    r = ad.post(url, data={"csrf": csrf(ad, url), "action": "invite", "username": "wangwu",
                           "display_name": "王五"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="first-token"[^>]*>.*?(cdt_[\w-]+)', r.get_data(as_text=True),
                      re.S).group(1)
    cookie = ad.get_cookie("cdt_session")
    kept = api.session_interface.get_signing_serializer(api).loads(cookie.value)
    assert token not in str(kept)
    assert "wangwu" in ad.get(url).get_data(as_text=True)
