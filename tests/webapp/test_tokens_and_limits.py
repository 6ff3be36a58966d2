"""Tokens expire, rotate and are revoked through the API (last use recorded); guessing is
throttled — wrong bearer tokens, page sign-ins, voucher codes, liveness retries, anonymous
registrations — with 429 and Retry-After, counted in memory or in Redis."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from chedaitong.db.origination import ApiToken
from chedaitong_sim.testing import fast_vendors
from webapp.services import EXTENSION

from .conftest import JPEG, StubDecisions, register_customer
from .test_pages import login

REDIS_URL = "redis://127.0.0.1:6379/1"


def _redis_up() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_URL, socket_timeout=0.5).ping())
    except Exception:  # noqa: BLE001 - any failure means: no Redis here
        return False


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limited(request, settings, engine, sandbox):
    """The app with its limiter counting in memory, or in the machine's Redis."""
    from webapp import create_app

    if request.param == "redis" and not _redis_up():
        pytest.skip(f"no Redis at {REDIS_URL}")
    redis_url = REDIS_URL if request.param == "redis" else None
    app = create_app(dataclasses.replace(settings, redis_url=redis_url))
    svc = app.extensions[EXTENSION]
    svc.vendors = fast_vendors(sandbox.base_url)
    svc.decisions = StubDecisions()
    yield app
    svc.vendors.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_rotation_and_revocation(api, staff):
    client = api.test_client()
    old = staff.tokens["c1"]
    listed = client.get("/auth/tokens", headers=bearer(old)).json
    assert len(listed) == 1 and listed[0]["current"] and listed[0]["last_used_at"]
    assert listed[0]["expires_at"] and "token" not in listed[0]
    r = client.post("/auth/tokens", headers=bearer(old),
                    json={"label": "phone", "ttl_days": 7, "revoke_current": True})
    assert r.status_code == 201 and r.json["token"].startswith("cdt_")
    assert r.json["label"] == "phone"
    expires = datetime.fromisoformat(r.json["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)
    new = r.json["token"]
    assert client.get("/me", headers=bearer(old)).status_code == 401  # rotated out
    assert client.get("/me", headers=bearer(new)).status_code == 200
    # revoke the new one by id: it stops at once
    assert client.delete(f"/auth/tokens/{r.json['id']}", headers=bearer(new)).status_code == 204
    assert client.get("/me", headers=bearer(new)).status_code == 401


def test_only_the_owner_or_an_admin_revokes_a_token(api, staff):
    client = api.test_client()
    c2_token_id = client.get("/auth/tokens", headers=staff.h("c2")).json[0]["id"]
    assert client.delete(f"/auth/tokens/{c2_token_id}", headers=staff.h("c1")).status_code == 404
    assert client.get("/me", headers=staff.h("c2")).status_code == 200
    assert client.delete(f"/auth/tokens/{c2_token_id}", headers=staff.h("ad")).status_code == 204
    assert client.get("/me", headers=staff.h("c2")).status_code == 401
    assert client.delete("/auth/tokens/999999", headers=staff.h("ad")).status_code == 404


def test_expired_tokens_stop_working_for_the_api_and_the_pages(api, staff, engine):
    client = api.test_client()
    page = login(client, "r1", staff.tokens["r1"])
    assert page.status_code == 302
    assert client.get("/pages/reviews").status_code == 200
    with Session(engine) as s:
        s.execute(update(ApiToken).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        s.commit()
    r = client.get("/me", headers=staff.h("c1"))
    assert r.status_code == 401 and "expired" in r.json["message"]
    assert client.get("/pages/reviews").status_code == 302  # signed out: to the login page


def test_replayed_rotation_does_not_show_the_token_again(api, staff):
    client = api.test_client()
    h = staff.h("an", **{"Idempotency-Key": "rot-1"})
    first = client.post("/auth/tokens", headers=h, json={"label": "ci"})
    again = client.post("/auth/tokens", headers=h, json={"label": "ci"})
    assert first.status_code == again.status_code == 201
    assert first.json["token"] and again.json["token"] is None and again.json["secret_note"]


def _exhaust(call, limit: int):
    """Call until refused; the responses."""
    return [call() for _ in range(limit + 1)]


def _throttled(r, window_s: int = 3600) -> None:
    assert r.status_code == 429, (r.status_code, r.get_data()[:200])
    # the breached limit's reset (its window, rounded up to the next whole second)
    assert 0 < int(r.headers["Retry-After"]) <= window_s + 1


def _not_told_to_wait(r) -> None:
    """An answered request carries no Retry-After (nor the limiter's counters)."""
    assert r.status_code < 400, (r.status_code, r.get_data()[:200])
    assert "Retry-After" not in r.headers
    assert not any(k.lower().startswith("x-ratelimit") for k, _ in r.headers.items())


def test_wrong_bearer_tokens_are_throttled(limited, staff):
    client = limited.test_client()
    rs = _exhaust(lambda: client.get("/me", headers=bearer("cdt_guess")), 30)
    assert {r.status_code for r in rs[:30]} == {401}
    _throttled(rs[30], 60)
    assert rs[30].is_json and rs[30].json["code"] == 429
    # every endpoint is under the token-failure limit: its answers are not told to wait
    _not_told_to_wait(limited.test_client().get("/me", headers=staff.h("c1"),
                                                environ_base={"REMOTE_ADDR": "10.0.0.8"}))
    # requests without a token (no guess) are not what is counted
    other = limited.test_client()
    assert other.get("/me", environ_base={"REMOTE_ADDR": "10.0.0.9"}).status_code == 401


def test_voucher_guessing_is_throttled_and_then_even_the_right_code_waits(limited, staff,
                                                                          monkeypatch):
    from decisioning.origination import vouchers

    calls = []
    real = vouchers.verify

    def counting(**kw):
        calls.append(kw["code"])
        return real(**kw)

    monkeypatch.setattr(vouchers, "verify", counting)
    client = limited.test_client()
    body = {"number": "V0000001", "verification_code": "00000000"}
    rs = _exhaust(lambda: client.post("/vouchers/verify", headers=staff.h("c1"), json=body), 10)
    assert {r.status_code for r in rs[:10]} == {200}
    assert not any(r.json["valid"] for r in rs[:10])
    _throttled(rs[10])
    assert len(calls) == 10  # the 11th guess never reached the voucher check
    # a reviewer elsewhere is not throttled by c1's guesses
    assert client.post("/vouchers/verify", headers=staff.h("r1"), json=body).status_code == 200


def test_liveness_retries_are_throttled(limited, staff):
    client = limited.test_client()
    # not verified yet: the helper's own liveness check would be one of the 20 attempts
    token, _ = register_customer(client, "selfie", 60, verify=False)

    def attempt():
        return client.post("/customers/me/liveness", headers=bearer(token),
                           data={"selfie": (io.BytesIO(JPEG), "me.jpg")},
                           content_type="multipart/form-data")

    rs = _exhaust(attempt, 20)
    codes = [r.status_code for r in rs]
    assert all(c < 500 and c != 429 for c in codes[:20]), codes
    _throttled(rs[20])


def test_anonymous_registrations_are_throttled(limited):
    client = limited.test_client()
    rs = [client.post("/customers/register", json={"username": f"bulk{i}", "display_name": "b"})
          for i in range(11)]
    assert [r.status_code for r in rs[:10]] == [201] * 10
    for r in rs[:10]:  # throttled endpoint, within its limit
        _not_told_to_wait(r)
    _throttled(rs[10])
    # another address may still register
    r = client.post("/customers/register", json={"username": "other", "display_name": "o"},
                    environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert r.status_code == 201


def test_page_sign_in_guessing_is_throttled(limited, staff):
    client = limited.test_client()
    rs = _exhaust(lambda: login(client, "ad", "guess"), 10)
    assert {r.status_code for r in rs[:10]} == {401}
    _throttled(rs[10])
    late = login(client, "ad", staff.tokens["ad"])
    assert late.status_code == 429  # the right token waits too


def test_voucher_guessing_on_the_page_is_throttled_like_the_api(limited, staff, monkeypatch):
    """The back-office voucher page checks the same 8-digit codes as POST /vouchers/verify:
    ten wrong codes in 15 minutes, then 429 before the check (it had no limit at all)."""
    import re

    from decisioning.origination import vouchers

    calls = []
    real = vouchers.verify
    monkeypatch.setattr(vouchers, "verify",
                        lambda **kw: (calls.append(kw["code"]), real(**kw))[1])
    client = limited.test_client()
    assert login(client, "r1", staff.tokens["r1"]).status_code == 302
    page = client.get("/pages/vouchers?number=V0000001").get_data(as_text=True)
    token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    form = {"csrf": token, "number": "V0000001", "verification_code": "00000000"}
    rs = _exhaust(lambda: client.post("/pages/vouchers", data=form), 10)
    assert {r.status_code for r in rs[:10]} == {200}
    _throttled(rs[10], 15 * 60)
    assert len(calls) == 10  # the 11th guess never reached the voucher check
    # looking vouchers up is not guessing: GETs are not counted
    assert client.get("/pages/vouchers?number=V0000001").status_code == 200
