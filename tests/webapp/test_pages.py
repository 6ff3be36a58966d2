"""Server-rendered back-office pages: role gates, CSRF, masking, and a review worked through
the page issuing exactly one voucher (the same flow as the JSON API)."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from chedaitong.config import Settings
from chedaitong.db.origination import Voucher

from .conftest import JPEG, file, new_application, register_customer

ROOT = Path(__file__).resolve().parents[2]
PAGES = {  # path → roles that may open it
    "/pages/reviews": {"r1", "ad"},
    "/pages/reviews/{aid}": {"r1", "ad"},
    "/pages/vouchers?number=NOPE": {"r1", "ad"},
    "/pages/rules": {"an", "ad"},
    "/pages/rules?a=git:HEAD&b=current": {"an", "ad"},
    "/pages/models": {"an", "ad"},
    "/pages/models/{version}": {"an", "ad"},
    "/pages/models/{version}/charts/roc.png": {"an", "ad"},
    "/pages/postloan": {"co", "an", "ad"},
    "/pages/postloan/buckets.png": {"co", "an", "ad"},
    "/pages/postloan/actions.png": {"co", "an", "ad"},
    "/pages/postloan/rollrate.png": {"co", "an", "ad"},
    "/pages/postloan/behaviour.png": {"co", "an", "ad"},
    "/pages/dealers": {"r1", "ad"},
    "/pages/payouts": {"r1", "ad"},
    "/pages/collections": {"co", "ad"},
    "/pages/challenger": {"an", "ad"},
    "/pages/segments": {"an", "ad"},
    "/pages/segments/approval.png?dimension=channel": {"an", "ad"},
}
STAFF = ("c1", "r1", "an", "co", "ad")


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> tuple[Path, str]:
    """A registry with one small champion trained with its report (ROC, calibration, …)."""
    from chedaitong_sim.synthetic.credit_frames import synthetic_frame
    from models.registry import Registry
    from models.train import TrainConfig, train_and_register

    root = tmp_path_factory.mktemp("pages-registry")
    config = TrainConfig(family="lightgbm", learning_rate=0.1, max_rounds=100,
                         early_stopping_rounds=20,
                         baseline=False, num_threads=1)
    version, _ = train_and_register(synthetic_frame(3000, seed=5), Registry(root),
                                    config=config, report=True)
    Registry(root).promote(version, "champion", who="test")
    return root, version


@pytest.fixture
def settings(database_url, tmp_path, model_root) -> Settings:
    """The shared test settings, plus the registry above."""
    return Settings.from_env({}, env="test", database_url=database_url,
                             var_dir=tmp_path / "var", rules_dir=ROOT / "rules",
                             model_dir=model_root[0])


def csrf(client, path: str = "/pages/login") -> str:
    body = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', body).group(1)


def login(client, username: str, token: str):
    return client.post("/pages/login", data={"username": username, "token": token,
                                             "csrf": csrf(client)})


def liveness_until_pass(client, headers, path: str) -> None:
    for attempt in range(12):  # the sandbox scores each selfie; a failure may be retried
        r = client.post(path, headers=headers, content_type="multipart/form-data",
                        data={"selfie": file(JPEG + bytes([attempt]), "me.jpg")})
        assert r.status_code == 201, r.json
        if r.json["passed"]:
            return
    raise AssertionError("liveness never passed")


def disbursement_case(client, staff, seq: int = 40) -> tuple[int, str, str]:
    """An application waiting for the disbursement review: (id, customer token, ID number)."""
    token, idn = register_customer(client, f"pages{seq}", seq)
    me = {"Authorization": f"Bearer {token}"}
    app_id = new_application(client, staff, "c1", idn)["id"]
    assert client.post(f"/applications/{app_id}/plan", headers=me, json={}).status_code == 200
    assert client.post(f"/applications/{app_id}/contract",
                       headers=staff.h("c1")).status_code == 201
    r = client.post(f"/applications/{app_id}/contract/sign", headers=me,
                    json={"verification_code": "123456"})
    assert r.json["status"] == "signed", r.json
    liveness_until_pass(client, me, f"/applications/{app_id}/liveness")
    assert client.get(f"/applications/{app_id}", headers=me).json["state"] == \
        "disbursement_review"
    return app_id, token, idn


@pytest.fixture
def world(api, staff, model_root):
    client = api.test_client()
    aid, token, idn = disbursement_case(client, staff)
    r = client.post("/customers/me/device/sms", headers={"Authorization": f"Bearer {token}"},
                    json={"records": [{"event_time": "2026-11-01T08:00:00+00:00",
                                       "sender": "95588", "text": "逾期提醒 SECRETMARK"}]})
    assert r.status_code == 201
    return {"aid": aid, "idn": idn, "customer": token, "version": model_root[1]}


def test_every_page_opens_for_its_roles_only(api, staff, world):
    for path, allowed in PAGES.items():
        url = path.format(aid=world["aid"], version=world["version"])
        r = api.test_client().get(url)
        assert r.status_code == 302 and "/pages/login" in r.location, (url, r.status_code)
        for who in STAFF:
            client = api.test_client()
            assert login(client, who, staff.tokens[who]).status_code == 302
            r = client.get(url)
            body = r.get_data().decode("utf-8", errors="replace")
            if who in allowed:
                assert r.status_code == 200, (who, url, r.status_code, body[:500])
            else:
                assert r.status_code == 403, (who, url, r.status_code)
                assert "SECRETMARK" not in body and "vehicle" not in body.lower()


def test_customer_token_cannot_sign_in_to_any_page(api, world):
    client = api.test_client()
    # a customer token signs in (it is a real token) but opens nothing
    r = login(client, "pages40", world["customer"])
    assert r.status_code == 302
    assert client.get("/pages/").status_code == 403
    for path in PAGES:
        url = path.format(aid=world["aid"], version=world["version"])
        assert client.get(url).status_code == 403, url


def test_login_rejects_wrong_token_missing_csrf_and_foreign_next(api, staff):
    client = api.test_client()
    assert login(client, "r1", "cdt_wrong").status_code == 401
    assert login(client, "r2", staff.tokens["r1"]).status_code == 401  # someone else's token
    r = client.post("/pages/login", data={"username": "r1", "token": staff.tokens["r1"]})
    assert r.status_code == 400  # no CSRF token
    r = client.post("/pages/login?next=https://evil.example/", data={
        "username": "r1", "token": staff.tokens["r1"], "csrf": csrf(client)})
    assert r.status_code == 302 and r.location.endswith("/pages/")
    for forged in ("forged", "伪造"):  # non-ASCII: hmac.compare_digest raised (500)
        r = client.post("/pages/logout", data={"csrf": forged})
        assert r.status_code == 400, forged
    r = client.post("/pages/logout", data={"csrf": csrf(client, "/pages/reviews")})
    assert r.status_code == 302 and client.get("/pages/reviews").status_code == 302


def test_revoked_token_ends_the_page_session(api, staff, engine):
    from datetime import UTC, datetime

    from chedaitong.db.origination import ApiToken

    client = api.test_client()
    login(client, "r1", staff.tokens["r1"])
    assert client.get("/pages/reviews").status_code == 200
    with Session(engine) as s:
        s.execute(ApiToken.__table__.update().where(ApiToken.user_id == staff.users["r1"])
                  .values(revoked_at=datetime.now(UTC)))
        s.commit()
    assert client.get("/pages/reviews").status_code == 302


def test_no_full_identifier_or_raw_sms_in_any_page(api, staff, world):
    client = api.test_client()
    login(client, "ad", staff.tokens["ad"])
    for path in PAGES:
        body = client.get(path.format(aid=world["aid"], version=world["version"])).get_data()
        text = body.decode("utf-8", errors="replace")
        assert world["idn"] not in text and "SECRETMARK" not in text and "95588" not in text
        assert "13800130040" not in text  # the customer's phone
    case = client.get(f"/pages/reviews/{world['aid']}").get_data(as_text=True)
    assert "*" in case and "disbursement" in case.lower()


def test_approving_through_the_page_issues_exactly_one_voucher(api, staff, world, engine):
    client = api.test_client()
    login(client, "r1", staff.tokens["r1"])
    url = f"/pages/reviews/{world['aid']}"
    token = csrf(client, url)
    r = client.post(url, data={"decision": "approve", "notes": "", "csrf": token})
    assert r.status_code == 422 and "Notes are required" in r.get_data(as_text=True)
    r = client.post(url, data={"decision": "approve", "notes": "docs ok", "csrf": "bad"})
    assert r.status_code == 400
    r = client.post(url, data={"decision": "approve", "notes": "docs ok", "csrf": token})
    assert r.status_code == 302 and "/pages/vouchers?number=DV" in r.location
    page = client.get(r.location).get_data(as_text=True)
    number = re.search(r'id="voucher-number">(DV\w+)<', page).group(1)
    assert "Voucher issued" in page
    # a second approval (a double submit) is refused by the state machine: still one voucher
    r = client.post(url, data={"decision": "approve", "notes": "again", "csrf": token})
    assert r.status_code == 422 and "cannot" in r.get_data(as_text=True)
    with Session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Voucher)
                        .where(Voucher.application_id == world["aid"])) == 1
        code = s.scalar(select(Voucher.verification_code).where(Voucher.number == number))
    assert code not in page  # the dealer's code is never displayed
    r = client.post("/pages/vouchers", data={"number": number, "verification_code": code,
                                             "csrf": token})
    assert 'id="check"' in (text := r.get_data(as_text=True)) and "Valid" in text
    # a code in full-width digits reached hmac.compare_digest, which refuses non-ASCII
    # strings: 500; it is a wrong code
    wide = "".join(chr(0xFF10 + int(c)) for c in code)
    r = client.post("/pages/vouchers", data={"number": number, "verification_code": wide,
                                             "csrf": token})
    assert r.status_code == 200 and 'id="check"' in r.get_data(as_text=True)
    assert "Valid" not in r.get_data(as_text=True).split('id="check"')[1][:200]
    api_state = client.get(f"/applications/{world['aid']}", headers=staff.h("r1")).json
    assert api_state["state"] == "disbursed"


def test_referral_needs_a_rate_when_the_machine_offered_none(api, staff):
    client = api.test_client()
    _, idn = register_customer(client, "refer", 41)
    big = new_application(client, staff, "c1", idn, loan_amount="300000.00",
                          vehicle_price="400000.00", down_payment="50000.00")
    login(client, "r1", staff.tokens["r1"])
    url = f"/pages/reviews/{big['id']}"
    page = client.get(url).get_data(as_text=True)
    assert "stub reason" in page and "测试原因" in page and 'id="annual_rate"' in page
    token = csrf(client, url)
    r = client.post(url, data={"decision": "approve", "notes": "ok", "csrf": token})
    assert r.status_code == 422 and "annual_rate" in r.get_data(as_text=True)
    # NaN raised in the range check (500); full-width digits were read as 0.1 and a fifth
    # decimal was rounded away (half-even) into the plan
    for rate in ("NaN", "sNaN", "Infinity", "0.37", "０.１", "0.10005", "1e-1"):
        r = client.post(url, data={"decision": "approve", "notes": "ok", "annual_rate": rate,
                                   "csrf": token})
        assert r.status_code == 422 and "between 0 and 0.36" in r.get_data(as_text=True), rate
    r = client.post(url, data={"decision": "approve", "notes": "ok", "annual_rate": "0.1",
                               "csrf": token})
    assert r.status_code == 302
    assert client.get(f"/applications/{big['id']}", headers=staff.h("r1")).json[
        "state"] == "approved"


def test_model_charts_are_served_by_listed_name_only(api, staff, world):
    client = api.test_client()
    login(client, "an", staff.tokens["an"])
    v = world["version"]
    page = client.get(f"/pages/models/{v}").get_data(as_text=True)
    for name in ("roc", "calibration", "score_distribution"):
        assert f'id="chart-{name}"' in page
    r = client.get(f"/pages/models/{v}/charts/roc.png")
    assert r.status_code == 200 and r.data[:4] == b"\x89PNG"
    for bad in (f"/pages/models/{v}/charts/..%2Fmodel.txt", f"/pages/models/{v}/charts/report.md",
                "/pages/models/..%2F..%2Fetc/charts/roc.png", f"/pages/models/{v}/charts/x.png"):
        assert client.get(bad).status_code == 404, bad
    models = client.get("/pages/models").get_data(as_text=True)
    assert 'id="champion">' + v in models


def test_rules_diff_against_an_archive_and_backtest_report(api, staff, settings):
    archive = Path(settings.var_dir) / "rules-archive" / "before"
    archive.mkdir(parents=True)
    for p in (ROOT / "rules").glob("*.yaml"):
        text = p.read_text(encoding="utf-8")
        (archive / p.name).write_text(text.replace("version:", "version: # old\nversion:", 1)
                                      if p.name == "underwriting.yaml" else text,
                                      encoding="utf-8")
    bt = Path(settings.var_dir) / "backtests" / "try1"
    bt.mkdir(parents=True)
    (bt / "report.md").write_text("# Rules backtest: underwriting\n\n![decision rates](chart.svg)"
                                  "\n\n| | baseline |\n|---|---:|\n| pass rate | 80% |\n",
                                  encoding="utf-8")
    (bt / "report.json").write_text("{}", encoding="utf-8")
    (bt / "chart.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>', encoding="utf-8")
    client = api.test_client()
    login(client, "an", staff.tokens["an"])
    page = client.get("/pages/rules?a=archive:before&b=current").get_data(as_text=True)
    assert "underwriting.yaml" in page and '<span class="del">-version: # old' in page
    assert "products.yaml</h3>" not in page  # unchanged files are left out
    assert "underwriting" in page and "pass rate" in page and "/pages/rules/backtest/chart.svg" \
        in page
    assert client.get("/pages/rules/backtest/chart.svg").mimetype == "image/svg+xml"
    for bad in ("archive:../x", "git:--output=/tmp/x", "nope", "archive:missing"):
        assert client.get(f"/pages/rules?a={bad}").status_code == 404, bad


def test_postloan_runs_and_roll_rates(api, staff, engine):
    from chedaitong.db.servicing import PostloanRun
    from decisioning.postloan.monitoring import roll_rates

    client = api.test_client()
    login(client, "co", staff.tokens["co"])
    assert 'id="no-runs"' in client.get("/pages/postloan").get_data(as_text=True)
    with Session(engine) as s:
        for day, m1 in ((1, 3), (2, 5)):
            s.add(PostloanRun(as_of=date(2026, 3, day), status="finished", engine="pandas",
                              counts={}, report={"loans": 10, "by_bucket": {"M0": 10 - m1,
                                                                            "M1": m1},
                                                 "by_action": {"sms_reminder": {"sent": m1}}}))
        s.commit()
    page = client.get("/pages/postloan").get_data(as_text=True)
    assert "2026-03-02" in page and "sms_reminder" in page
    for chart in ("buckets", "actions", "rollrate"):
        r = client.get(f"/pages/postloan/{chart}.png")
        assert r.status_code == 200 and r.data[:4] == b"\x89PNG", chart
    rates = roll_rates([(date(2026, 3, 2), Counter({("M0", "M0"): 6, ("M0", "M1"): 2,
                                                    ("M1", "M0"): 1, ("M1", "M2"): 1}))])
    assert rates["M0→worse"] == [0.25] and rates["M1→worse"] == [0.5]
    assert rates["M2→worse"] == [None]


def test_an_unknown_application_is_an_html_404_page(api, staff):
    client = api.test_client()
    assert login(client, "r1", staff.tokens["r1"]).status_code == 302
    r = client.get("/pages/reviews/999999")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "no application 999999" in r.get_data(as_text=True)


def test_a_page_session_ends_at_logout_even_for_a_copy_of_its_cookie(api, staff):
    """The session is a signed cookie: logout cleared the browser's copy, but a copy taken
    before (a shared back-office PC's profile, a proxy log) went on opening the review
    pages for the cookie's 8 hours — logout ended nothing the server could check."""
    client = api.test_client()
    login(client, "r1", staff.tokens["r1"])
    assert client.get("/pages/reviews").status_code == 200
    copy = client.get_cookie("cdt_session").value
    token = csrf(client, "/pages/reviews")
    assert client.post("/pages/logout", data={"csrf": token}).status_code == 302
    client.set_cookie("cdt_session", copy)
    r = client.get("/pages/reviews")
    assert r.status_code == 302 and "/pages/login" in r.location
    # signing in again opens a new session; a second browser's session is its own
    other = api.test_client()
    login(other, "r1", staff.tokens["r1"])
    login(client, "r1", staff.tokens["r1"])
    assert client.post("/pages/logout", data={"csrf": csrf(client, "/pages/reviews")}
                       ).status_code == 302
    assert other.get("/pages/reviews").status_code == 200
