"""Four eyes on staff accounts: an account an admin creates in the app is pending — inactive,
no token — until a second admin, not in the creator's hands, activates it and is handed its
first token; 403 for the same hands, 409 once decided, audited, a worklist."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from chedaitong.db import Role, User
from chedaitong.db.partners import AuditEvent
from tests.webapp.conftest import add_admin


def _request(client, staff, who="ad", username="new-rev", role="reviewer"):
    r = client.post("/admin/users", headers=staff.h(who),
                    json={"username": username, "display_name": username, "role": role})
    assert r.status_code == 201, r.json
    return r.json


def _decide(client, staff, who, user_id, decision="approve", **headers):
    return client.post(f"/admin/users/{user_id}/activation", headers=staff.h(who, **headers),
                       json={"decision": decision, "note": "checked"})


def test_a_created_staff_account_is_pending_until_another_admin_activates_it(api, staff,
                                                                             engine):
    client = api.test_client()
    created = _request(client, staff)
    assert created["activation"] == "pending" and created["active"] is False
    assert "token" not in created  # the creator is handed no token
    worklist = client.get("/admin/users/pending", headers=staff.h("ad")).json
    assert [w["user_id"] for w in worklist] == [created["user_id"]]
    assert worklist[0]["created_by_username"] == "ad"

    r = _decide(client, staff, "ad", created["user_id"])  # the creator: never both halves
    assert r.status_code == 403 and "four eyes" in r.json["message"], r.json
    # an admin the creator made (and someone else activated) is still the creator's hands
    puppet = _request(client, staff, username="puppet-admin", role="admin")
    second = add_admin(engine, staff)
    r = _decide(client, staff, second, puppet["user_id"])
    assert r.status_code == 200 and r.json["token"].startswith("cdt_"), r.json
    staff.tokens["puppet-admin"] = r.json["token"]
    r = _decide(client, staff, "puppet-admin", created["user_id"])
    assert r.status_code == 403, r.json

    r = _decide(client, staff, second, created["user_id"])
    assert r.status_code == 200, r.json
    assert r.json["activation"] == "activated" and r.json["active"] is True
    assert r.json["activated_by"] == staff.users[second]
    token = r.json["token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["role"] == "reviewer"
    r = _decide(client, staff, second, created["user_id"], "reject")
    assert r.status_code == 409, r.json
    assert client.get("/admin/users/pending", headers=staff.h("ad")).json == []
    with Session(engine) as s:
        actions = s.scalars(select(AuditEvent.action).where(
            AuditEvent.target_kind == "user", AuditEvent.target_id == created["user_id"])
            .order_by(AuditEvent.id)).all()
    assert actions == ["user.requested", "user.activated"]


def test_the_activating_admins_hands_count_in_four_eyes_checks(api, staff, engine):
    """The activator held the new user's first token: they and the user are the same hands,
    so an account an admin activated cannot activate (or approve) for them."""
    from decisioning.origination import accounts

    client = api.test_client()
    second = add_admin(engine, staff)
    admin3 = _request(client, staff, username="admin3", role="admin")
    _decide(client, staff, second, admin3["user_id"])
    with Session(engine) as s:
        a3 = s.get(User, admin3["user_id"])
        activator = s.get(User, staff.users[second])
        assert accounts.same_hands(a3, activator) and accounts.same_hands(activator, a3)


def test_a_rejected_account_never_signs_in_and_its_creator_may_withdraw_it(api, staff, engine):
    client = api.test_client()
    created = _request(client, staff, username="withdrawn", role="collector")
    r = _decide(client, staff, "ad", created["user_id"], "reject")
    assert r.status_code == 200 and r.json["activation"] == "rejected"
    assert r.json["token"] is None and r.json["active"] is False
    r = _decide(client, staff, add_admin(engine, staff), created["user_id"])
    assert r.status_code == 409 and "rejected" in r.json["message"], r.json


def test_only_an_admin_decides_and_unknown_ids_are_404_not_500(api, staff):
    client = api.test_client()
    created = _request(client, staff, username="asked", role="analyst")
    r = _decide(client, staff, "r1", created["user_id"])
    assert r.status_code == 403
    for user_id in (staff.users["r1"], 10**19, 999_999):  # an account that needs no activation
        r = _decide(client, staff, "ad", user_id)
        assert r.status_code == 404, (user_id, r.status_code)
    for bad in ("-1", "abc", "1e3"):
        r = client.post(f"/admin/users/{bad}/activation", headers=staff.h("ad"),
                        json={"decision": "approve"})
        assert r.status_code == 404
    r = client.post(f"/admin/users/{created['user_id']}/activation", headers=staff.h("ad"),
                    json={"decision": "maybe"})
    assert r.status_code == 422


def test_two_activations_at_once_give_one_token(api, staff, engine):
    """Double submit: of two concurrent activations one wins (one token), the other is 409."""
    client = api.test_client()
    created = _request(client, staff, username="raced", role="reviewer")
    second, third = add_admin(engine, staff), add_admin(engine, staff, "ad3")
    answers: list = []
    start = threading.Barrier(2)

    def activate(who):
        start.wait()
        answers.append(_decide(api.test_client(), staff, who, created["user_id"]))

    threads = [threading.Thread(target=activate, args=(w,)) for w in (second, third)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 409], [(r.status_code, r.json) for r in answers]
    with Session(engine) as s:
        from chedaitong.db.origination import ApiToken
        assert len(s.scalars(select(ApiToken).where(
            ApiToken.user_id == created["user_id"])).all()) == 1


def test_a_replayed_activation_does_not_show_or_store_the_token(api, staff, engine):
    client = api.test_client()
    created = _request(client, staff, username="replayed", role="reviewer")
    second = add_admin(engine, staff)
    first = _decide(client, staff, second, created["user_id"], **{"Idempotency-Key": "act-1"})
    replay = _decide(client, staff, second, created["user_id"], **{"Idempotency-Key": "act-1"})
    assert first.status_code == replay.status_code == 200
    assert first.json["token"].startswith("cdt_") and replay.json["token"] is None
    assert "not shown" in replay.json["secret_note"]


def test_command_line_and_seeded_accounts_need_no_activation(api, staff, engine):
    from decisioning.origination import accounts

    with Session(engine) as s:
        user, token = accounts.create_staff(session=s, username="ops", display_name="ops",
                                            role=Role.ADMIN, dealer_code=None)
        assert user.active and user.activation is None and token.startswith("cdt_")
    assert api.test_client().get("/me", headers={"Authorization": f"Bearer {token}"}
                                 ).status_code == 200


def test_the_staff_page_requests_and_a_second_admin_activates(api, staff, engine):
    """The back office's staff page: the creator sees no activate button and is refused
    anyway; another admin activates and is shown the token once (not in the cookie); forms
    need the CSRF field; a reviewer cannot open the page."""
    import re

    from tests.webapp.test_story_pages import csrf, signed_in

    ad = signed_in(api, staff, "ad")
    form = {"action": "request", "username": "page-rev", "display_name": "页面",
            "role": "reviewer"}
    assert ad.post("/pages/staff", data={**form, "csrf": "forged"}).status_code == 400
    assert ad.post("/pages/staff", data={**form, "csrf": csrf(ad, "/pages/staff")}
                   ).status_code == 302
    with Session(engine) as s:
        user_id = s.scalar(select(User.id).where(User.username == "page-rev"))
    page = ad.get("/pages/staff").get_data(as_text=True)
    assert "page-rev" in page and 'value="approve"' not in page
    r = ad.post("/pages/staff", data={"action": "approve", "user_id": str(user_id),
                                      "csrf": csrf(ad, "/pages/staff")})
    assert r.status_code == 302
    assert "four eyes" in ad.get(r.location).get_data(as_text=True)
    for bad in ("-1", "99999999999999999999", "x"):
        r = ad.post("/pages/staff", data={"action": "reject", "user_id": bad,
                                          "csrf": csrf(ad, "/pages/staff")})
        assert r.status_code == 302, bad

    checker = signed_in(api, staff, add_admin(engine, staff))
    page = checker.get("/pages/staff").get_data(as_text=True)
    assert 'value="approve"' in page
    r = checker.post("/pages/staff", data={"action": "approve", "user_id": str(user_id),
                                           "csrf": csrf(checker, "/pages/staff")})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="first-token"[^>]*>.*?(cdt_[\w-]+)', r.get_data(as_text=True),
                      re.S).group(1)
    kept = api.session_interface.get_signing_serializer(api).loads(
        checker.get_cookie("cdt_session").value)
    assert token not in str(kept)
    assert api.test_client().get("/me", headers={"Authorization": f"Bearer {token}"}
                                 ).status_code == 200
    assert signed_in(api, staff, "r1").get("/pages/staff").status_code == 403
