"""What the audit got accepted is refused with 422 naming the field: an ID number failing
GB 11643, a birth date not the one inside the ID (or absurd), a device event at 0001-01-01, a
phone number no mainland network issues. The world generator's identities all pass."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from chedaitong import idnumber
from chedaitong_sim.testing import make_id_number

from .conftest import APPLICATION, WORLD, id_number, register_customer

GOOD = id_number(1)  # 11010119880615001 + check character
PROFILE = {"name": "王五", "id_number": GOOD, "phone": "13800138000",
           "birth_date": "1988-06-15", "home_lat": 39.9, "home_lon": 116.4}


def wrong_check(valid: str) -> str:
    return valid[:17] + next(c for c in "0123456789X" if c != valid[17])


def test_gb11643_check_character():
    assert idnumber.check_character("11010519491231002") == "X"  # the standard's example
    assert idnumber.id_number_problem("11010519491231002X") is None
    assert "check character" in idnumber.id_number_problem("110105194912310021")
    assert "region" in idnumber.id_number_problem("000000000000000000")
    assert "birth date" in idnumber.id_number_problem(make_id_number("11010119881301001"))


def test_the_world_generators_identities_are_valid():
    customers = pd.read_parquet(WORLD / "customers.parquet")
    for idn, born, phone in customers[["id_number", "birth_date", "mobile"]].itertuples(
            index=False):
        assert idnumber.id_number_problem(idn) is None, idn
        assert idnumber.birth_date(idn) == pd.Timestamp(born).date(), idn
        assert idnumber.MOBILE.match(phone), phone


@pytest.fixture
def new_user(api):
    client = api.test_client()
    token = client.post("/customers/register", json={"username": "val",
                                                      "display_name": "v"}).json["token"]
    return client, {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(("patch", "field", "reason"), [
    ({"id_number": wrong_check(GOOD)}, "id_number", "check character"),
    ({"id_number": "000000000000000000"}, "id_number", "region"),
    ({"birth_date": "2999-12-31"}, "birth_date", "does not match"),
    ({"birth_date": "1800-01-01"}, "birth_date", "does not match"),
    ({"birth_date": "1988-06-16"}, "birth_date", "1988-06-15"),
    ({"id_number": make_id_number("11010118000101001"), "birth_date": "1800-01-01"},
     "birth_date", "more than 100 years"),
    ({"id_number": make_id_number(f"110101{date.today().year - 10}0101001"),
      "birth_date": f"{date.today().year - 10}-01-01"}, "birth_date", "at least 18"),
    ({"phone": "12345678901"}, "phone", "mainland"),
    ({"phone": "1380013800"}, "phone", "mainland"),
])
def test_profile_refuses_inconsistent_identity(new_user, patch, field, reason):
    client, h = new_user
    r = client.put("/customers/me/profile", headers=h, json={**PROFILE, **patch})
    assert r.status_code == 422, r.json
    assert reason in " ".join(r.json["errors"]["json"][field])


def test_a_consistent_profile_is_accepted(new_user):
    client, h = new_user
    assert client.put("/customers/me/profile", headers=h, json=PROFILE).status_code == 201


def test_applications_check_the_id_number_too(api, staff):
    r = api.test_client().post("/applications", headers=staff.h("c1"),
                               json={**APPLICATION, "id_number": wrong_check(GOOD)})
    assert r.status_code == 422 and "check character" in r.json["errors"]["json"][
        "id_number"][0]


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+00:00", "1970-01-01T00:00:00+00:00"])
def test_device_events_from_an_unset_clock_are_refused(api, when):
    client = api.test_client()
    token, _ = register_customer(client, "clock", 70)
    r = client.post("/customers/me/device/gps", headers={"Authorization": f"Bearer {token}"},
                    json={"records": [{"event_time": when, "lat": 39.9, "lon": 116.4}]})
    assert r.status_code == 422
    assert "event_time" in str(r.json["errors"])


def other_digits(text: str, zero: int) -> str:
    """``text`` with its ASCII digits written in another script's digits (``zero``: the code
    point of that script's 0) — what `\\d` matches and `int()` reads, but no vendor or bank."""
    return "".join(chr(zero + int(c)) if c.isascii() and c.isdigit() else c for c in text)


FULLWIDTH, ARABIC_INDIC = 0xFF10, 0x0660


@pytest.mark.parametrize(("patch", "field"), [
    ({"id_number": other_digits(GOOD[:17], FULLWIDTH) + GOOD[17]}, "id_number"),
    ({"phone": "13" + other_digits("800138000", ARABIC_INDIC)}, "phone"),
])
def test_profile_refuses_digits_of_another_script(new_user, patch, field):
    """A full-width ID number passed GB 11643 and was stored as another person than the same
    number in ASCII (another blind index: a second claim on one identity)."""
    client, h = new_user
    r = client.put("/customers/me/profile", headers=h, json={**PROFILE, **patch})
    assert r.status_code == 422, r.json
    assert list(r.json["errors"]["json"]) == [field]


def test_bank_card_and_codes_refuse_digits_of_another_script(api, staff):
    client = api.test_client()
    token, _ = register_customer(client, "digits", 71, verify=False)
    h = {"Authorization": f"Bearer {token}"}
    r = client.post("/customers/me/four-element", headers=h, json={
        "card_number": other_digits("6222021234567890", ARABIC_INDIC), "phone": "13800138000"})
    assert r.status_code == 422 and "card_number" in r.json["errors"]["json"], r.json
    r = client.post("/vouchers/verify", headers=staff.h("c1"), json={
        "number": "V1", "verification_code": other_digits("12345678", FULLWIDTH)})
    assert r.status_code == 422 and "verification_code" in r.json["errors"]["json"], r.json


def test_dealer_payout_account_refuses_digits_of_another_script(api, staff):
    r = api.test_client().post("/admin/dealers", headers=staff.h("ad"), json={
        "code": "DIGITS", "name": "4S", "city": "北京", "province": "北京",
        "agreement_ref": "AG-1", "effective_from": "2026-01-01", "bank_name": "工行",
        "account_name": "x", "account_number": other_digits("6214830012345678", FULLWIDTH)})
    assert r.status_code == 422 and "account_number" in r.json["errors"]["json"], r.json
