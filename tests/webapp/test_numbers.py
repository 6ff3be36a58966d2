"""Numbers sent as text take ASCII digits only, in the form the OpenAPI document states, and
nothing is rounded on the way in (`webapp.numbers`)."""

from __future__ import annotations

import pytest

from .conftest import APPLICATION, register_customer


@pytest.mark.parametrize("query", ["page=１", "page=٣", "page_size=１０", "page=1_0",
                                   "page=%201", "page=+1"])
def test_list_paging_takes_ascii_digits_only(api, staff, query):
    """``?page=１`` (full-width) was page 1, ``?page=٣`` (Arabic-Indic) page 3: int() reads
    any Unicode digit. The ids in the URL already took ASCII digits only."""
    r = api.test_client().get(f"/applications?{query}", headers=staff.h("c1"))
    assert r.status_code == 422, r.json
    field = query.split("=")[0]
    assert r.json["errors"]["query"][field] == ["must be a whole number in ASCII digits (0-9)"]


def test_list_paging_in_ascii_digits_still_pages(api, staff):
    r = api.test_client().get("/applications?page=2&page_size=5", headers=staff.h("c1"))
    assert r.status_code == 200 and (r.json["page"], r.json["page_size"]) == (2, 5)


def test_wait_takes_ascii_digits_only(api, staff):
    r = api.test_client().post("/applications/1/submit?wait=１", headers=staff.h("c1"))
    assert r.status_code == 422 and "wait" in r.json["errors"]["query"]


@pytest.mark.parametrize(("field", "value", "why"), [
    ("vehicle_price", "４４９９００.００", "ASCII digits"),  # full-width: read as 449900
    ("loan_amount", "٣٨٨٧٠٠.00", "ASCII digits"),
    ("loan_amount", "150000.005", "at most 2 decimal places"),  # was rounded to .00
    ("vehicle_price", "2.5E+5", "ASCII digits"),
    ("vehicle_price", " 250000.00", "ASCII digits"),
    ("down_payment", 60000.5, "not a JSON float"),
])
def test_money_is_a_decimal_string_of_ascii_digits_never_rounded(api, staff, field, value,
                                                                  why):
    client = api.test_client()
    _, idn = register_customer(client, f"num-{abs(hash((field, str(value)))) % 10**6}", 71,
                               verify=False)
    r = client.post("/applications", headers=staff.h("c1"),
                    json={**APPLICATION, "id_number": idn, field: value})
    assert r.status_code == 422, r.json
    assert why in r.json["errors"]["json"][field][0]


def test_money_in_the_documented_form_is_taken_exactly(api, staff):
    client = api.test_client()
    _, idn = register_customer(client, "num-ok", 72, verify=False)
    r = client.post("/applications", headers=staff.h("c1"),
                    json={**APPLICATION, "id_number": idn, "loan_amount": "150000.5",
                          "down_payment": 60000})
    assert r.status_code == 201, r.json
    detail = client.get(f"/applications/{r.json['id']}", headers=staff.h("c1")).json
    assert (detail["loan_amount"], detail["down_payment"]) == ("150000.50", "60000.00")


def test_a_review_rate_with_a_fifth_decimal_is_refused_not_rounded(api, staff):
    r = api.test_client().post("/reviews/1", headers=staff.h("r1"),
                               json={"decision": "approve", "notes": "ok",
                                     "annual_rate": "0.08995"})
    assert r.status_code == 422
    assert "at most 4 decimal places" in r.json["errors"]["json"]["annual_rate"][0]


def test_a_long_page_number_is_out_of_range_not_called_non_ascii(api, staff):
    r = api.test_client().get("/applications?page=99999999999999999999",
                              headers=staff.h("c1"))
    assert r.status_code == 422
    assert "less than or equal to 100000" in r.json["errors"]["query"]["page"][0]
