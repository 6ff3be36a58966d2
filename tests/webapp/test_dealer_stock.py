"""A dealer's stock over HTTP: an admin keeps it (audited, money exact, bad input named), the
dealer's consultants read it, another dealer's consultant cannot."""

from __future__ import annotations


def test_admin_keeps_the_stock_and_the_dealers_consultants_read_it(api, staff):
    client = api.test_client()
    did = staff.dealers["DA"]
    url = f"/admin/dealers/{did}/stock"
    for brand, model, price in (("比亚迪", "秦PLUS", "99800.00"), ("比亚迪", "汉", "209800.50")):
        r = client.put(url, headers=staff.h("ad"),
                       json={"vehicle_brand": brand, "vehicle_model": model, "price": price})
        assert r.status_code == 200, r.json
        assert r.json["price"] == price and r.json["active"] is True
    # a price change and taking a car off sale change the row, not add one
    r = client.put(url, headers=staff.h("ad"), json={"vehicle_brand": "比亚迪",
                                                   "vehicle_model": "秦PLUS",
                                                   "price": "95800.00", "active": False})
    assert r.status_code == 200 and r.json["active"] is False
    listed = client.get(url, headers=staff.h("c1")).json
    assert [(v["vehicle_model"], v["price"], v["active"]) for v in listed] == [
        ("汉", "209800.50", True), ("秦PLUS", "95800.00", False)]
    assert client.get(url, headers=staff.h("c3")).status_code == 404  # another dealer's
    audit = client.get(f"/admin/audit?target_kind=dealer&target_id={did}",
                       headers=staff.h("ad")).json
    assert sum(1 for e in audit if e["action"] == "dealer.stock") == 3


def test_bad_stock_input_is_named_never_a_500(api, staff):
    client = api.test_client()
    url = f"/admin/dealers/{staff.dealers['DA']}/stock"
    good = {"vehicle_brand": "吉利", "vehicle_model": "帝豪", "price": "79900.00"}
    for change, fieldname in (({"price": "0"}, "price"), ({"price": "-5"}, "price"),
                              ({"price": "abc"}, "price"),
                              # over the column's 14 digits: a 500 on PostgreSQL; over what
                              # an application may finance (5 000 000): never offered
                              ({"price": "1e13"}, "price"), ({"price": "5000000.01"}, "price"),
                              ({"vehicle_model": ""},
                                                            "vehicle_model"),
                              ({"colour": "red"}, "colour")):
        r = client.put(url, headers=staff.h("ad"), json={**good, **change})
        assert r.status_code == 422, (change, r.status_code)
        assert fieldname in str(r.json), r.json
    assert client.put("/admin/dealers/999999/stock", headers=staff.h("ad"),
                      json=good).status_code == 404
